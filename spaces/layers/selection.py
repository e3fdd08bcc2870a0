"""Layer (block) selection: which blocks of a model's ``nn.ModuleList`` of blocks to keep.

Works with any model whose blocks sit in one ``nn.ModuleList`` (BERT ``encoder.layer``, GPT
``h``, Llama ``layers``...). The configuration is ``{"layers": [kept block indices]}``; costs are
``n_layers``, ``params`` (parameters of the model with only the kept blocks) and
``param_fraction``. Small block lists enumerate exactly (MiniLM: 2**6 - 1 = 63 non-empty subsets
with ``k_min=1``, 64 with ``k_min=0``), which gives the exact front to judge optimizers by.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..space import Config, Space
from ..variables import ConfigError, Subset

__all__ = ["LayerSelectionSpace", "find_blocks", "layer_selection_space"]


def find_blocks(model: nn.Module) -> str:
    """Dotted path of the model's block list: the ``nn.ModuleList`` holding the most parameters."""
    best, best_n = None, -1
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) >= 2 and name:
            n = sum(p.numel() for p in mod.parameters())
            if n > best_n:
                best, best_n = name, n
    if best is None:
        raise ConfigError(f"{type(model).__name__} has no nn.ModuleList of blocks; pass 'blocks' (dotted path)")
    return best


class LayerSelectionSpace(Space):
    """Subsets of the blocks of ``model`` with between ``k_min`` and ``k_max`` blocks kept."""

    def __init__(self, model: nn.Module, blocks: str | None = None, k_min: int = 1, k_max: int | None = None,
                 name: str = "layer_selection") -> None:
        self.model = model
        self.blocks_path = blocks or find_blocks(model)
        try:
            mods = model.get_submodule(self.blocks_path)
        except AttributeError:
            raise ConfigError(f"space '{name}': key 'blocks': no module {self.blocks_path!r} in the model") from None
        if not isinstance(mods, nn.ModuleList):
            raise ConfigError(f"space '{name}': key 'blocks': {self.blocks_path!r} is a {type(mods).__name__}, "
                              "not nn.ModuleList")
        self.n_blocks = len(mods)
        self.block_params = [sum(p.numel() for p in b.parameters()) for b in mods]
        self.other_params = sum(p.numel() for p in model.parameters()) - sum(self.block_params)
        self._total = float(self.other_params + sum(self.block_params))
        var = Subset("layers", self.n_blocks, k_min=k_min, k_max=self.n_blocks if k_max is None else k_max)
        costs = {"n_layers": lambda c: float(len(c["layers"])), "params": self.params,
                 "param_fraction": lambda c: self.params(c) / self._total}
        super().__init__([var], costs=costs, name=name)

    def params(self, config: Config) -> float:
        return float(self.other_params + sum(self.block_params[i] for i in config["layers"]))

    def apply(self, config: Config, target: nn.Module) -> nn.Module:
        """Replace ``target``'s block list by the kept blocks (in place; shares block modules).
        ``target`` must still hold all its blocks: a target already pruned is an error (its block
        indices no longer match the configuration's)."""
        keep = self.validate(config)["layers"]
        parent_name, _, attr = self.blocks_path.rpartition(".")
        parent = target.get_submodule(parent_name) if parent_name else target
        full = getattr(parent, attr)
        own = self.model.get_submodule(self.blocks_path)
        if target is self.model or full is own:
            raise ConfigError(f"space '{self.name}': apply() prunes its target in place, and the target is the space's "
                              "model, the reference its costs and every later configuration start from; apply to "
                              "copy.deepcopy(model)")
        if len(full) != self.n_blocks:
            raise ConfigError(f"space '{self.name}': the target's {self.blocks_path!r} holds {len(full)} blocks, not "
                              f"the model's {self.n_blocks} (a configuration was applied to it already?); apply each "
                              "configuration to a fresh copy of the model")
        setattr(parent, attr, nn.ModuleList([full[i] for i in keep]))
        return target

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(blocks=self.blocks_path, n_blocks=self.n_blocks)
        return d


def layer_selection_space(model: str = "minilm", blocks: str | None = None, k_min: int = 1, k_max: int | None = None,
                          model_options: dict[str, Any] | None = None) -> LayerSelectionSpace:
    """The registered ``layer_selection`` space over a zoo model."""
    from ...zoo import get_model

    return LayerSelectionSpace(get_model(model, **(model_options or {})), blocks=blocks, k_min=k_min, k_max=k_max)


