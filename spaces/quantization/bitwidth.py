"""Bit-width allocation: one weight bit-width per linear layer of a real model.

The configuration is ``{"bits": [b_0, ..., b_{L-1}]}`` over the model's quantizable linear layers
(in module order). Costs are exact: ``avg_bits`` (parameter-weighted bits per weight of the
quantized layers), ``weight_bytes`` (their packed size in the export) and ``size_bytes`` (the
whole exported model). An optional ``max_avg_bits`` budget is met by repair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..constraints import BudgetConstraint
from ..space import Config, Space
from ..variables import ChoiceSequence, ConfigError
from .quantize import fake_quantize, packed_bytes

__all__ = ["BitWidthSpace", "bitwidth_space", "quantizable_linears"]


def quantizable_linears(model: nn.Module, within: str | None = None, min_features: int = 1) -> list[str]:
    """Names of the ``nn.Linear`` modules of ``model`` (under the submodule ``within`` if given),
    in module order, whose in-features are at least ``min_features``."""
    root = model.get_submodule(within) if within else model
    prefix = f"{within}." if within else ""
    return [prefix + n for n, m in root.named_modules() if isinstance(m, nn.Linear) and m.in_features >= min_features]


def _default_within(model: nn.Module) -> str | None:
    names = {n for n, _ in model.named_modules()}
    for cand in ("model.encoder", "encoder", "blocks", "layers"):
        if cand in names:
            return cand
    return None


class BitWidthSpace(Space):
    """Per-layer weight bit-widths for ``model``. ``apply(config, target)`` writes the
    quantize-dequantized weights into ``target`` (a copy of ``model`` with the same layer names)."""

    def __init__(self, model: nn.Module, layers: Sequence[str] | None = None, bits: Sequence[int] = (2, 3, 4, 8),
                 group_size: int = 64, max_avg_bits: float | None = None, name: str = "bitwidth") -> None:
        self.model = model
        self.layer_names = list(layers) if layers is not None else quantizable_linears(model, _default_within(model))
        if not self.layer_names:
            raise ConfigError(f"space '{name}': the model has no nn.Linear layers to quantize")
        self.bit_choices = sorted(int(b) for b in bits)
        if not self.bit_choices or any(not (1 <= b <= 8 or b == 16) for b in self.bit_choices):
            raise ConfigError(f"space '{name}': key 'bits': {list(bits)}; allowed: integers 1..8 (16 = fp16)")
        self.group_size = int(group_size)
        self.shapes: list[tuple[int, int]] = []
        for ln in self.layer_names:
            try:
                mod = model.get_submodule(ln)
            except AttributeError:
                raise ConfigError(f"space '{name}': key 'layers': no module named {ln!r} in the model") from None
            if not isinstance(mod, nn.Linear):
                raise ConfigError(f"space '{name}': key 'layers': {ln!r} is a {type(mod).__name__}, not nn.Linear")
            shape = tuple(mod.weight.shape)
            if self.group_size > 0 and shape[1] % self.group_size:
                raise ConfigError(f"space '{name}': key 'group_size': {self.group_size} does not divide the "
                                  f"{shape[1]} input features of {ln!r}; use a divisor or 0 (per channel)")
            self.shapes.append(shape)  # type: ignore[arg-type]
        self.numels = [a * b for a, b in self.shapes]
        self._total = float(sum(self.numels))
        qnames = {f"{ln}.weight" for ln in self.layer_names}
        self.other_bytes = sum(t.numel() * t.element_size() for k, t in model.state_dict().items() if k not in qnames)
        # bytes of each layer at each bit-width: exact and cheap to sum
        self._bytes = [{b: packed_bytes(s, b, self.group_size) for b in self.bit_choices} for s in self.shapes]
        var = ChoiceSequence("bits", len(self.layer_names), self.bit_choices, ordered=True)
        costs = {"avg_bits": self.avg_bits, "weight_bytes": self.weight_bytes, "size_bytes": self.size_bytes}
        cons = [BudgetConstraint("avg_bits", max_avg_bits)] if max_avg_bits is not None else []
        super().__init__([var], constraints=cons, costs=costs, name=name)

    # -- costs ------------------------------------------------------------------------------
    def avg_bits(self, config: Config) -> float:
        return sum(n * b for n, b in zip(self.numels, config["bits"])) / self._total

    def weight_bytes(self, config: Config) -> float:
        return float(sum(d[b] for d, b in zip(self._bytes, config["bits"])))

    def size_bytes(self, config: Config) -> float:
        return self.weight_bytes(config) + self.other_bytes

    def uniform(self, bits: int) -> Config:
        return {"bits": [int(bits)] * len(self.layer_names)}

    # -- application ------------------------------------------------------------------------
    @torch.no_grad()
    def apply(self, config: Config, target: nn.Module,
              cache: dict[tuple[int, int], torch.Tensor] | None = None) -> nn.Module:
        """Write the quantize-dequantized weights of ``config`` into ``target`` (in place) and return
        it. ``cache`` (optional) keeps fake-quantized weights per (layer index, bits) across calls.
        ``target`` must not share weights with the space's ``model``: those are the full-precision
        weights every configuration is quantized from."""
        bits = self.validate(config)["bits"]
        for i, (ln, b) in enumerate(zip(self.layer_names, bits)):
            orig = self.model.get_submodule(ln).weight
            if target.get_submodule(ln).weight is orig:
                raise ConfigError(f"space '{self.name}': apply() writes quantized weights into its target in place, and "
                                  f"the target shares layer {ln!r} with the space's model, the full-precision reference; "
                                  "pass a copy (copy.deepcopy(space.model))")
            key = (i, b)
            if cache is not None and key in cache:
                w = cache[key]
            else:
                w = fake_quantize(orig, b, self.group_size)
                if cache is not None:
                    cache[key] = w
            target.get_submodule(ln).weight.copy_(w.to(orig.device))
        return target

    def export_model(self, config: Config, path: Any) -> Any:
        """Write the model quantized with ``config`` as safetensors (see :mod:`.export`)."""
        from .export import export_quantized

        return export_quantized(self, config, path)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(layers=self.layer_names, bits=self.bit_choices, group_size=self.group_size)
        return d


def bitwidth_space(model: str = "minilm", bits: Sequence[int] = (2, 3, 4, 8), group_size: int = 64,
                   max_avg_bits: float | None = None, layers: Sequence[str] | None = None,
                   model_options: dict[str, Any] | None = None, seed_milp: bool = False,
                   milp_budgets: Sequence[float] | None = None, milp_sentences: int = 16,
                   milp_max_length: int = 32) -> BitWidthSpace:
    """The registered ``bitwidth`` space over a zoo model (YAML: ``space: {name: bitwidth, ...}``).
    ``seed_milp: true`` computes MixDQ-style sensitivities and attaches the MILP-optimal family
    over ``milp_budgets`` (average bits; default: every half bit from the lowest to the highest
    choice) as ``initial_configs``, which NSGA-II evaluates first. Sensitivities use
    ``milp_sentences`` sentences of the corpus's search split, cut to ``milp_max_length`` tokens."""
    from ...zoo import get_model

    space = BitWidthSpace(get_model(model, **(model_options or {})), layers=layers, bits=bits,
                          group_size=group_size, max_avg_bits=max_avg_bits)
    if seed_milp:
        from .mixdq import layer_sensitivity, milp_family

        sens = layer_sensitivity(space, split="search", n_sentences=milp_sentences, max_length=milp_max_length)
        lo, hi = space.bit_choices[0], space.bit_choices[-1]
        budgets = milp_budgets or [lo + 0.5 * i for i in range(int(2 * (hi - lo)) + 1)]
        space.initial_configs = [c for c in milp_family(space, sens, budgets) if space.is_feasible(c)]
    return space
