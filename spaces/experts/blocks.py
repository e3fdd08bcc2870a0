"""Adapters that prune or merge the experts of sparse MoE blocks in place.

Three block layouts are handled:

- :class:`~paretoforge.zoo.tiny_moe.MoEBlock` (``router`` + ``experts`` ModuleList, optional
  ``route_map``): pruning, merging and router remapping (EEP's full space);
- Hugging Face Mixtral-style blocks with fused experts (transformers >= 5: ``gate.weight``
  ``(E, d)``, ``experts.gate_up_proj`` ``(E, 2h, d)``, ``experts.down_proj`` ``(E, d, h)``);
- Hugging Face Mixtral-style blocks with an expert ModuleList (transformers 4.x: ``gate``
  ``nn.Linear(d, E)``, ``experts[i].w1/w2/w3``).

For the Hugging Face layouts, pruning keeps the router rows of the kept experts: Mixtral's
softmax -> top-k -> renormalise over the kept experts equals the full router with the dropped
experts' logits at minus infinity. Merging mixes the kept experts' weights (rows of ``M``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["find_moe_blocks", "merge_experts", "n_experts", "prune_experts"]


def _kind(block: nn.Module) -> str | None:
    if hasattr(block, "router") and isinstance(getattr(block, "experts", None), nn.ModuleList):
        return "tiny"
    gate, experts = getattr(block, "gate", None), getattr(block, "experts", None)
    if gate is None or experts is None:
        return None
    if hasattr(experts, "gate_up_proj") and hasattr(experts, "down_proj"):
        return "hf_fused"
    if isinstance(experts, nn.ModuleList) and isinstance(gate, nn.Linear):
        return "hf_list"
    return None


def find_moe_blocks(model: nn.Module) -> list[str]:
    """Dotted names of the sparse MoE blocks of ``model``, in module order."""
    return [n for n, m in model.named_modules() if n and _kind(m) is not None]


def n_experts(block: nn.Module) -> int:
    kind = _kind(block)
    if kind == "hf_fused":
        return int(block.experts.gate_up_proj.shape[0])
    if kind in ("tiny", "hf_list"):
        return len(block.experts)
    raise TypeError(f"{type(block).__name__} is not a supported sparse MoE block")


@torch.no_grad()
def merge_experts(block: nn.Module, merge: torch.Tensor, route: torch.Tensor | None = None) -> nn.Module:
    """Replace the experts by ``b = merge.shape[0]`` new ones, expert j = sum_i merge[j, i] *
    expert_i (``merge`` is ``b x E``). ``route`` (``b x E``, tiny blocks only) remaps the router's
    probabilities; by default ``route = merge`` (with one-hot rows this is plain pruning). On
    Hugging Face blocks merged expert j is routed by the router row of ``merge[j].argmax()``."""
    kind = _kind(block)
    E = n_experts(block)
    merge = torch.as_tensor(merge, dtype=torch.float32)
    if merge.dim() != 2 or merge.shape[1] != E:
        raise ValueError(f"merge matrix must be (b, {E}), got {tuple(merge.shape)}")
    b = merge.shape[0]
    if kind == "tiny":
        import copy

        new = nn.ModuleList()
        for j in range(b):
            ex = copy.deepcopy(block.experts[0])
            for name, p in ex.named_parameters():
                stack = torch.stack([dict(block.experts[i].named_parameters())[name] for i in range(E)])
                p.copy_(torch.einsum("e,e...->...", merge[j].to(stack), stack))
            new.append(ex)
        prev = block.route_map
        r = torch.as_tensor(route if route is not None else merge, dtype=torch.float32)
        block.route_map = r if prev is None else r.to(prev) @ prev  # compose with an earlier remap
        block.experts = new
        return block
    if route is not None:
        raise ValueError("router remapping ('route') is supported on paretoforge's MoEBlock only; Hugging Face "
                         "blocks route each merged expert with the router row of its row's largest entry")
    if kind == "hf_fused":
        ex = block.experts
        w = merge.to(ex.gate_up_proj)
        ex.gate_up_proj = nn.Parameter(torch.einsum("je,e...->j...", w, ex.gate_up_proj))
        ex.down_proj = nn.Parameter(torch.einsum("je,e...->j...", w, ex.down_proj))
        ex.num_experts = b
    else:  # hf_list
        import copy

        new = nn.ModuleList()
        for j in range(b):
            e = copy.deepcopy(block.experts[0])
            for name, p in e.named_parameters():
                stack = torch.stack([dict(block.experts[i].named_parameters())[name] for i in range(E)])
                p.copy_(torch.einsum("e,e...->...", merge[j].to(stack), stack))
            new.append(e)
        block.experts = new
    rows = [int(r.argmax()) for r in merge]
    _set_router_rows(block, rows)
    for attr in ("num_experts", "num_local_experts"):
        for obj in (block, block.gate):
            if hasattr(obj, attr):
                setattr(obj, attr, b)
    for obj in (block, block.gate):
        if hasattr(obj, "top_k"):
            obj.top_k = min(obj.top_k, b)
    return block


def _set_router_rows(block: nn.Module, rows: Sequence[int]) -> None:
    gate = block.gate
    weight = gate.weight
    new_w = nn.Parameter(weight.detach()[list(rows)].clone())
    if isinstance(gate, nn.Linear):
        lin = nn.Linear(gate.in_features, len(rows), bias=gate.bias is not None, dtype=weight.dtype,
                        device=weight.device)
        lin.weight = new_w
        if gate.bias is not None:
            lin.bias = nn.Parameter(gate.bias.detach()[list(rows)].clone())
        block.gate = lin
    else:
        gate.weight = new_w


def prune_experts(block: nn.Module, keep: Sequence[int]) -> nn.Module:
    """Keep only the experts ``keep`` of ``block`` (in place), routing among them."""
    E = n_experts(block)
    if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in keep):
        raise ValueError(f"keep must be whole expert indices in [0, {E}), got {list(keep)}")
    keep = sorted(int(i) for i in keep)
    if not keep or len(set(keep)) != len(keep) or not all(0 <= i < E for i in keep):
        raise ValueError(f"keep must be distinct expert indices in [0, {E}), got {list(keep)}")
    m = torch.zeros(len(keep), E)
    m[torch.arange(len(keep)), torch.tensor(keep)] = 1.0
    return merge_experts(block, m)
