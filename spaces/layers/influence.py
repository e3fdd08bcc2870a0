"""ShortGPT's Block Influence: BI_i = 1 - mean cosine(h_in, h_out) of block i over real tokens.

Blocks that barely change their input (low BI) are the ones ShortGPT removes first; the baseline
keeps the ``k`` blocks of highest influence.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .selection import find_blocks

__all__ = ["block_influence", "shortgpt_keep"]


@torch.inference_mode()
def block_influence(encoder: nn.Module, batch: dict[str, torch.Tensor], blocks: str | None = None) -> list[float]:
    """Block Influence of every block of ``encoder`` on the tokenized ``batch`` (padding excluded)."""
    path = blocks or find_blocks(encoder)
    mods = encoder.get_submodule(path)
    mask = batch["attention_mask"].bool()
    scores: list[float] = [0.0] * len(mods)

    def hook(i: int):
        def fn(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
            h_in = args[0] if args else kwargs["hidden_states"]
            h_out = output[0] if isinstance(output, (tuple, list)) else output
            cos = nn.functional.cosine_similarity(h_in.float(), h_out.float(), dim=-1)
            scores[i] = float(1.0 - cos[mask].mean())
        return fn

    handles = [m.register_forward_hook(hook(i), with_kwargs=True) for i, m in enumerate(mods)]
    try:
        encoder(**batch)
    finally:
        for h in handles:
            h.remove()
    return scores


def shortgpt_keep(influence: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` blocks with the highest influence (ties: the earlier block), sorted."""
    order = sorted(range(len(influence)), key=lambda i: (-influence[i], i))
    return sorted(order[:k])
