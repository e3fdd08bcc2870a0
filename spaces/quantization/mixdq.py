"""MixDQ-style mixed precision: per-layer sensitivity, then an exact integer program per budget.

Sensitivity ``s[i, b]`` is the loss of the model with only layer ``i`` quantized to ``b`` bits
(all others at full precision). Assuming the losses add up, the allocation minimising
``sum_i s[i, b_i]`` under ``sum_i n_i b_i <= budget * sum_i n_i`` (average bits per weight) is a
0/1 linear program (one binary per layer and bit-width, one choice per layer), solved exactly
with ``scipy.optimize.milp`` (HiGHS). Sweeping the budget gives a Pareto family of allocations,
which can seed an evolutionary search (``NSGA2(initial=...)`` or ``bitwidth_space(seed_milp=True)``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .bitwidth import BitWidthSpace

__all__ = ["encoder_loss", "layer_sensitivity", "milp_allocation", "milp_family", "sensitivity_table"]


def sensitivity_table(space: BitWidthSpace, loss: Callable[[dict[str, Any]], float],
                      full_bits: int = 16) -> np.ndarray:
    """``s[i, j]``: ``loss`` with layer ``i`` at ``space.bit_choices[j]`` and every other layer at
    ``full_bits`` (16 = unquantized), minus the loss of the unquantized model."""
    L, B = len(space.layer_names), len(space.bit_choices)
    base = loss({"bits": [full_bits] * L})
    s = np.zeros((L, B))
    for i in range(L):
        for j, b in enumerate(space.bit_choices):
            bits = [full_bits] * L
            bits[i] = b
            s[i, j] = loss({"bits": bits}) - base
    return s


def encoder_loss(space: BitWidthSpace, sentences: Sequence[str], max_length: int = 64) -> Callable[[dict], float]:
    """``1 - mean cosine`` between the embeddings of a bit-width configuration of the space's
    encoder and the full-precision ones, on ``sentences`` (the calibration text)."""
    from ...evaluators.lm.configure import ModelConfigurator
    from ...evaluators.lm.embedding import embedding_metrics

    enc = space.model
    work = copy.deepcopy(enc).eval()
    conf = ModelConfigurator(enc, work, group_size=space.group_size, quant_layers=space.layer_names, cache_weights=False)
    with torch.inference_mode():
        batch = enc.tokenize(list(sentences), max_length)
        ref = enc(**batch)

    def loss(config: dict[str, Any]) -> float:
        with torch.inference_mode():
            emb = conf.configure(config)(**batch)
        return embedding_metrics(emb, ref)["cosine_error"]

    return loss


@torch.no_grad()
def layer_sensitivity(space: BitWidthSpace, split: str = "search", n_sentences: int = 32, seed: int = 0,
                      max_length: int = 64) -> np.ndarray:
    """Sensitivities ``s[i, j]`` (``1 - mean cosine`` to full precision, layer ``i`` alone at
    ``space.bit_choices[j]``) of a sentence-encoder bit-width space, on ``n_sentences`` of a corpus
    split. Swaps one layer's weight at a time in a working copy: one forward pass per entry."""
    from ...evaluators.lm.embedding import embedding_metrics
    from ...zoo import corpus_split
    from .quantize import fake_quantize

    enc = space.model
    work = copy.deepcopy(enc).eval()
    sents = list(corpus_split(seed)[split][:n_sentences])
    s = np.zeros((len(space.layer_names), len(space.bit_choices)))
    with torch.inference_mode():
        batch = enc.tokenize(sents, max_length)
        ref = enc(**batch)
    for i, ln in enumerate(space.layer_names):
        w = work.get_submodule(ln).weight
        orig = w.detach().clone()
        for j, b in enumerate(space.bit_choices):
            with torch.inference_mode():
                w.copy_(fake_quantize(orig, b, space.group_size))
                s[i, j] = embedding_metrics(work(**batch), ref)["cosine_error"]
        with torch.inference_mode():
            w.copy_(orig)
    return s


def milp_allocation(space: BitWidthSpace, sensitivity: np.ndarray, max_avg_bits: float) -> dict[str, Any] | None:
    """The bit-width configuration minimising the summed sensitivity with average bits per weight
    at most ``max_avg_bits``; ``None`` when no allocation fits."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    L, B = sensitivity.shape
    bits = np.asarray(space.bit_choices, dtype=float)
    n = np.asarray(space.numels, dtype=float)
    c = sensitivity.reshape(-1)
    one_hot = np.zeros((L, L * B))
    for i in range(L):
        one_hot[i, i * B:(i + 1) * B] = 1.0
    weight = (n[:, None] * bits[None, :]).reshape(1, -1) / n.sum()
    cons = [LinearConstraint(one_hot, 1.0, 1.0), LinearConstraint(weight, -np.inf, max_avg_bits + 1e-9)]
    res = milp(c, constraints=cons, integrality=np.ones(L * B), bounds=Bounds(0, 1))
    if res.x is None:
        return None
    choice = np.round(res.x).reshape(L, B).argmax(1)
    return {"bits": [int(bits[j]) for j in choice]}


def milp_family(space: BitWidthSpace, sensitivity: np.ndarray, budgets: Sequence[float]) -> list[dict[str, Any]]:
    """MILP allocations over a sweep of average-bit budgets (duplicates and infeasible ones dropped)."""
    out, seen = [], set()
    for b in budgets:
        cfg = milp_allocation(space, sensitivity, float(b))
        if cfg is not None and tuple(cfg["bits"]) not in seen:
            seen.add(tuple(cfg["bits"]))
            out.append(cfg)
    return out
