"""EEP-style expert pruning and merging spaces for sparse mixture-of-experts models.

Stage 1 (:class:`ExpertPruningSpace`): one keep set per MoE layer, ``keep_<l>`` (a subset of
the layer's experts; a fixed size ``keep`` or a range ``k_min..k_max`` for a front over kept
experts). Stage 2 (:class:`ExpertMergeSpace`): per layer a ``b x E`` expert-merge matrix
``merge_<l>`` (new expert j = sum_i M[j, i] * expert_i) and a router remap ``route_<l>`` (new
routing probabilities = softmax(router(h)) @ T^T), both flattened row-major, started from the
one-hot matrices of stage-1 results (``initial_configs``).

Costs: ``experts_kept`` (total over layers), ``expert_fraction`` and ``params`` (parameters of
the configured model). Baselines: :func:`random_keep` and :func:`least_routed_keep` (drop the
experts that receive the fewest tokens on calibration text).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..space import Config, Space
from ..variables import ConfigError, RealVector, Subset
from .blocks import find_moe_blocks, merge_experts, n_experts, prune_experts

__all__ = [
    "ExpertMergeSpace",
    "ExpertPruningSpace",
    "apply_expert_config",
    "expert_pruning_space",
    "least_routed_keep",
    "random_keep",
    "routing_counts",
]


def apply_expert_config(model: nn.Module, config: Config, blocks: Sequence[str] | None = None,
                        copy_model: bool = True) -> nn.Module:
    """``model`` (a deep copy by default) with the experts of ``config`` (``keep_<l>`` or
    ``merge_<l>`` + ``route_<l>`` keys; a layer without keys keeps all its experts)."""
    names = list(blocks) if blocks is not None else find_moe_blocks(model)
    allowed = {f"{p}_{li}" for li in range(len(names)) for p in ("keep", "merge", "route")}
    unknown = [k for k in config if k not in allowed]
    if unknown:
        raise ValueError(f"configuration keys {unknown} are not expert keys of this {len(names)}-layer MoE model; "
                         f"allowed: keep_<l>, merge_<l>, route_<l> for l < {len(names)}")
    both = [li for li in range(len(names)) if f"keep_{li}" in config and f"merge_{li}" in config]
    if both:
        raise ValueError(f"layer(s) {both}: give keep_<l> (pruning) or merge_<l> (merging) for a layer, not both")
    target = copy.deepcopy(model) if copy_model else model
    for li, name in enumerate(names):
        block = target.get_submodule(name)
        if f"keep_{li}" in config:
            prune_experts(block, config[f"keep_{li}"])
        elif f"merge_{li}" in config:
            E = n_experts(block)
            m = torch.tensor(config[f"merge_{li}"], dtype=torch.float32).reshape(-1, E)
            r = config.get(f"route_{li}")
            merge_experts(block, m, None if r is None else torch.tensor(r, dtype=torch.float32).reshape(-1, E))
    return target


def _refuse_own_model(space: Any, target: nn.Module) -> None:
    """``target`` is pruned in place: it must not be (or share an MoE block with) the space's model."""
    if target is space.model or any(target.get_submodule(b) is space.model.get_submodule(b) for b in space.block_names):
        raise ConfigError(f"space '{space.name}': apply() changes its target in place, and the target shares its MoE "
                          "blocks with the space's model, the reference its costs and every later configuration start "
                          "from; call apply(config) for a pruned copy, or apply to copy.deepcopy(model)")


def _params_per_expert(block: nn.Module) -> float:
    """Parameters one expert of ``block`` holds: its share of the experts, plus its router row on a
    Hugging Face block (which drops the rows of the experts it prunes or merges away; paretoforge's
    MoEBlock keeps its router and remaps)."""
    router_row = 0 if hasattr(block, "route_map") else block.gate.weight.shape[1]
    return _params(block.experts) / n_experts(block) + router_row


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class ExpertPruningSpace(Space):
    """Keep sets per MoE layer of ``model``."""

    def __init__(self, model: nn.Module, keep: int | None = None, k_min: int | None = None, k_max: int | None = None,
                 blocks: Sequence[str] | None = None, name: str = "expert_pruning") -> None:
        self.model = model
        self.block_names = list(blocks) if blocks is not None else find_moe_blocks(model)
        if not self.block_names:
            raise ConfigError(f"space '{name}': the model has no sparse MoE blocks (router/gate + experts)")
        self.n_experts = [n_experts(model.get_submodule(b)) for b in self.block_names]
        self.params_per_expert = [_params_per_expert(model.get_submodule(b)) for b in self.block_names]
        self.base_params = _params(model) - sum(p * e for p, e in zip(self.params_per_expert, self.n_experts))
        variables = []
        for li, E in enumerate(self.n_experts):
            if keep is not None:
                if not 1 <= keep <= E:
                    raise ConfigError(f"space '{name}': key 'keep' is {keep}; allowed: 1..{E}")
                variables.append(Subset(f"keep_{li}", E, k=keep))
            else:
                variables.append(Subset(f"keep_{li}", E, k_min=k_min or 1, k_max=min(k_max or E, E)))
        total_e = float(sum(self.n_experts))
        costs = {"experts_kept": self.experts_kept, "expert_fraction": lambda c: self.experts_kept(c) / total_e,
                 "params": self.params}
        super().__init__(variables, costs=costs, name=name)

    def experts_kept(self, config: Config) -> float:
        return float(sum(len(config[f"keep_{li}"]) for li in range(len(self.block_names))))

    def params(self, config: Config) -> float:
        return float(self.base_params + sum(p * len(config[f"keep_{li}"]) for li, p in enumerate(self.params_per_expert)))

    def full(self) -> Config:
        return {f"keep_{li}": list(range(E)) for li, E in enumerate(self.n_experts)}

    def apply(self, config: Config, target: nn.Module | None = None) -> nn.Module:
        """A pruned deep copy of the model (or ``target``, another copy of it, pruned in place)."""
        cfg = self.validate(config)
        if target is None:
            return apply_expert_config(self.model, cfg, self.block_names)
        _refuse_own_model(self, target)
        return apply_expert_config(target, cfg, self.block_names, copy_model=False)


class ExpertMergeSpace(Space):
    """EEP's second stage: real-valued merge and router-remap matrices (``keep`` x E per layer),
    seeded with the one-hot matrices of the stage-1 keep sets ``initial``."""

    def __init__(self, model: nn.Module, keep: int, initial: Sequence[Config] = (), blocks: Sequence[str] | None = None,
                 high: float = 1.0, name: str = "expert_merge") -> None:
        self.model = model
        self.block_names = list(blocks) if blocks is not None else find_moe_blocks(model)
        self.n_experts = [n_experts(model.get_submodule(b)) for b in self.block_names]
        self.keep = int(keep)
        # router remapping needs paretoforge's MoEBlock; a Hugging Face block drops the router rows of
        # the experts it merges away (one row each, as when pruning)
        self.remaps = [hasattr(model.get_submodule(b), "route_map") for b in self.block_names]
        variables = []
        for li, E in enumerate(self.n_experts):
            variables.append(RealVector(f"merge_{li}", self.keep * E, 0.0, high))
            if self.remaps[li]:
                variables.append(RealVector(f"route_{li}", self.keep * E, 0.0, high))
        per_expert = [_params_per_expert(model.get_submodule(b)) for b in self.block_names]
        base = _params(model) - sum(p * E for p, E in zip(per_expert, self.n_experts))
        fixed = float(base + sum(p * self.keep for p in per_expert))
        costs = {"experts_kept": lambda c: float(self.keep * len(self.block_names)), "params": lambda c: fixed}
        super().__init__(variables, costs=costs, name=name)
        self.initial_configs = [self.from_keep(c) for c in initial]

    def from_keep(self, keep_config: Config) -> Config:
        """The merge-space point equal to a stage-1 keep configuration (one-hot rows)."""
        out: Config = {}
        for li, E in enumerate(self.n_experts):
            ks = sorted(keep_config[f"keep_{li}"])
            if len(ks) != self.keep:
                raise ConfigError(f"space '{self.name}': keep_{li} has {len(ks)} experts, expected {self.keep}")
            m = np.zeros((self.keep, E))
            m[np.arange(self.keep), ks] = 1.0
            out[f"merge_{li}"] = m.reshape(-1).tolist()
            if self.remaps[li]:
                out[f"route_{li}"] = m.reshape(-1).tolist()
        return self.validate(out)

    def apply(self, config: Config, target: nn.Module | None = None) -> nn.Module:
        cfg = self.validate(config)
        if target is None:
            return apply_expert_config(self.model, cfg, self.block_names)
        _refuse_own_model(self, target)
        return apply_expert_config(target, cfg, self.block_names, copy_model=False)


@torch.inference_mode()
def routing_counts(model: nn.Module, batches: Sequence[torch.Tensor],
                   blocks: Sequence[str] | None = None) -> list[np.ndarray]:
    """Tokens routed to each expert (top-k choices) per MoE layer over ``batches`` of input ids."""
    names = list(blocks) if blocks is not None else find_moe_blocks(model)
    counts = [np.zeros(n_experts(model.get_submodule(b))) for b in names]
    hooks = []
    for li, name in enumerate(names):
        block = model.get_submodule(name)
        if hasattr(block, "routing"):  # paretoforge MoEBlock: counts its own top-k choices
            def block_hook(mod: nn.Module, args: tuple, out: Any, li: int = li) -> None:
                counts[li] += mod.last_counts.cpu().numpy()

            hooks.append(block.register_forward_hook(block_hook))
            continue

        def hook(mod: nn.Module, args: tuple, out: Any, li: int = li, block: nn.Module = block) -> None:
            if isinstance(out, tuple):  # transformers >= 5 router: (logits, scores, indices)
                idx = out[2]
            else:  # transformers 4.x: gate is a Linear giving logits
                k = getattr(block, "top_k", 2)
                idx = torch.topk(out.reshape(-1, out.shape[-1]), k, dim=-1).indices
            counts[li] += np.bincount(idx.reshape(-1).cpu().numpy(), minlength=len(counts[li]))

        router = block.gate
        hooks.append(router.register_forward_hook(hook))
    try:
        for ids in batches:
            model(ids)
    finally:
        for h in hooks:
            h.remove()
    return counts


def least_routed_keep(counts: Sequence[np.ndarray], k: int) -> Config:
    """Keep the ``k`` most-routed experts of each layer (drop the least-routed; ties: lower index)."""
    return {f"keep_{li}": sorted(np.argsort(-c, kind="stable")[:k].tolist()) for li, c in enumerate(counts)}


def random_keep(n_experts_per_layer: Sequence[int], k: int, rng: np.random.Generator) -> Config:
    return {f"keep_{li}": sorted(rng.choice(E, size=k, replace=False).tolist()) for li, E in enumerate(n_experts_per_layer)}


def expert_pruning_space(model: str = "tiny_moe", keep: int | None = None, k_min: int | None = None,
                         k_max: int | None = None, model_options: dict[str, Any] | None = None) -> ExpertPruningSpace:
    """The registered ``expert_pruning`` space over a zoo MoE model (default: the shipped tiny MoE LM)."""
    from ...zoo import get_model

    return ExpertPruningSpace(get_model(model, **(model_options or {})), keep=keep, k_min=k_min, k_max=k_max)
