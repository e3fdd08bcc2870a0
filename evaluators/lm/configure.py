"""Turn a configuration into a configured working copy of a model, and back.

Keys understood: ``bits`` (per-layer weight bit-widths over the quantizable linear layers, as in
:class:`~paretoforge.spaces.quantization.BitWidthSpace`) and ``layers`` (indices of the blocks
of the model's block list to keep, as in :class:`~paretoforge.spaces.layers.LayerSelectionSpace`).
Both may be combined. :meth:`ModelConfigurator.restore` undoes the block selection; weights are
rewritten by the next configuration (or restored to full precision when it has no ``bits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ModelConfigurator"]

_KEYS = ("bits", "layers")


class ModelConfigurator:
    """Applies configurations to ``work`` (a deep copy of ``reference`` with the same names)."""

    def __init__(self, reference: nn.Module, work: nn.Module, *, group_size: int = 64,
                 quant_layers: Sequence[str] | None = None, cache_weights: bool = True,
                 blocks: str | None = None) -> None:
        self.reference, self.work = reference, work
        self.group_size, self.quant_layers = group_size, quant_layers
        self._bitspace: Any = None
        self._cache: dict[tuple[int, int], torch.Tensor] | None = {} if cache_weights else None
        self._quantized = False
        self._blocks_path = blocks
        self._saved_blocks: nn.ModuleList | None = None

    # -- quantization -----------------------------------------------------------------------
    @property
    def bitspace(self) -> Any:
        if self._bitspace is None:
            from ...spaces.quantization import BitWidthSpace

            self._bitspace = BitWidthSpace(self.reference, layers=self.quant_layers, bits=(*range(1, 9), 16),
                                           group_size=self.group_size)
        return self._bitspace

    def reset(self) -> None:
        """Forget what depends on ``group_size`` and ``quant_layers`` (after they changed): the
        full-precision weights come back and the quantization space is built again."""
        if self._quantized:
            self._restore_weights()
        self._bitspace = None
        if self._cache is not None:
            self._cache = {}

    @torch.no_grad()
    def _restore_weights(self) -> None:
        sp = self.bitspace
        for ln in sp.layer_names:
            self.work.get_submodule(ln).weight.copy_(self.reference.get_submodule(ln).weight)
        self._quantized = False

    # -- blocks -----------------------------------------------------------------------------
    def blocks_path(self) -> str:
        if self._blocks_path is None:
            from ...spaces.layers import find_blocks

            self._blocks_path = find_blocks(self.work)
        return self._blocks_path

    def _set_blocks(self, keep: Sequence[int]) -> None:
        path = self.blocks_path()
        parent_name, _, attr = path.rpartition(".")
        parent = self.work.get_submodule(parent_name) if parent_name else self.work
        full: nn.ModuleList = getattr(parent, attr)
        if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in keep):
            raise ValueError(f"'layers' must be whole block indices, got {list(keep)}")
        idx = [int(i) for i in keep]
        if len(set(idx)) != len(idx) or not all(0 <= i < len(full) for i in idx):
            raise ValueError(f"'layers' must be distinct block indices in [0, {len(full)}), got {list(keep)}")
        self._saved_blocks = full
        setattr(parent, attr, nn.ModuleList([full[i] for i in sorted(idx)]))

    # -- public -----------------------------------------------------------------------------
    def configure(self, config: dict[str, Any]) -> nn.Module:
        unknown = [k for k in config if k not in _KEYS]
        if unknown:
            raise ValueError(f"configuration keys {unknown} are not understood here; allowed: {list(_KEYS)}")
        self.restore()  # a configuration applied before and not restored: start from the whole model again
        if "bits" in config:
            self.bitspace.apply({"bits": config["bits"]}, self.work, cache=self._cache)
            self._quantized = True
        elif self._quantized:
            self._restore_weights()
        if "layers" in config:
            self._set_blocks(config["layers"])
        return self.work

    def restore(self) -> None:
        if self._saved_blocks is not None:
            path = self.blocks_path()
            parent_name, _, attr = path.rpartition(".")
            parent = self.work.get_submodule(parent_name) if parent_name else self.work
            setattr(parent, attr, self._saved_blocks)
            self._saved_blocks = None

    def counts(self, config: dict[str, Any]) -> dict[str, float]:
        """Parameters of the configured model, and its weight bits when quantized."""
        out = {"params": float(sum(p.numel() for p in self.work.parameters()))}
        if "bits" in config:
            sp = self.bitspace
            keep = None
            if "layers" in config:
                path = self.blocks_path()
                keep = {f"{path}.{int(i)}." for i in config["layers"]}
            out["quant_weight_bits"] = float(sum(
                n * b for ln, n, b in zip(sp.layer_names, sp.numels, config["bits"])
                if keep is None or any(ln.startswith(p) for p in keep) or not ln.startswith(path + ".")))
        return out
