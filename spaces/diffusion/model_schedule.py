"""The model-schedule space (OMS-DPM): which zoo model runs each model call.

``models`` is one zoo name per model call (ordered from the smallest to the largest model, so
mutation and budget repair move one size at a time). The cost ``latency_ms`` is the sum of the
measured per-call latencies of the chosen models; a ``budget_ms`` adds a budget constraint met by
repair (the space moves random calls to smaller models until the schedule fits). The switch-point
subspace (a large model for the first k calls, a smaller one after: CoDe, Hybrid SD) is given by
:meth:`ModelScheduleSpace.switch_point_configs` as a baseline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..constraints import BudgetConstraint
from ..space import Config, Space
from ..variables import ChoiceSequence, ConfigError

__all__ = ["ModelScheduleSpace", "model_schedule_space"]


class ModelScheduleSpace(Space):
    def __init__(self, zoo: Sequence[str], latency_ms: Mapping[str, float], nfe: int = 10,
                 budget_ms: float | None = None, name: str = "model_schedule",
                 latency_source: str = "given") -> None:
        zoo = list(zoo)
        if len(zoo) < 2:
            raise ConfigError(f"space '{name}': 'zoo' needs at least two models, got {zoo}")
        missing = [m for m in zoo if m not in latency_ms]
        if missing:
            raise ConfigError(f"space '{name}': no latency for zoo models {missing}; 'latency' has {sorted(latency_ms)}")
        if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
            raise ConfigError(f"space '{name}': 'nfe' must be a positive integer, got {nfe!r}")
        self.zoo = sorted(zoo, key=lambda m: latency_ms[m])
        self.latency_ms = {m: float(latency_ms[m]) for m in self.zoo}
        self.nfe, self.budget_ms, self.latency_source = nfe, budget_ms, latency_source
        cons = [BudgetConstraint("latency_ms", float(budget_ms), name="latency_budget")] if budget_ms is not None else []
        super().__init__([ChoiceSequence("models", nfe, self.zoo, ordered=True)], constraints=cons,
                         costs={"latency_ms": self.schedule_latency, "nfe": lambda c: float(self.nfe)}, name=name)

    def schedule_latency(self, config: Config) -> float:
        return float(sum(self.latency_ms[m] for m in config["models"]))

    def single_model_configs(self) -> dict[str, Config]:
        return {m: {"models": [m] * self.nfe} for m in self.zoo}

    def switch_point_configs(self) -> dict[str, Config]:
        """Every schedule "bigger model for the first k calls, a smaller one after" (k = 1..nfe-1),
        for every pair of zoo models, plus the single-model schedules."""
        out = {f"{m}": c for m, c in self.single_model_configs().items()}
        for i, small in enumerate(self.zoo):
            for big in self.zoo[i + 1:]:
                for k in range(1, self.nfe):
                    out[f"{big}x{k}+{small}x{self.nfe - k}"] = {"models": [big] * k + [small] * (self.nfe - k)}
        return out

    def initial_configs(self) -> list[Config]:
        """Single-model schedules (repaired into the budget), to seed a search."""
        return [self.repair(c) for c in self.single_model_configs().values()]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(zoo=self.zoo, latency_ms=self.latency_ms, nfe=self.nfe, budget_ms=self.budget_ms,
                 latency_source=self.latency_source)
        return d


def model_schedule_space(assets: str = "committed", nfe: int = 10, latency: Any = "table", batch: int = 500,
                         budget_ms: float | None = None, budget_fraction: float | None = None,
                         device: str = "auto") -> ModelScheduleSpace:
    """Registry factory. ``latency``: ``"table"`` (``latency.json`` measured on the GPU and stored
    with the assets), ``"measure"`` (median CUDA-event / wall-clock time per call at ``batch``
    on this machine), ``"params"`` (parameter count in millions: a deterministic proxy for CPU
    tests) or a mapping ``{model: ms}``."""
    from ...diffusion.testbed import get_testbed, resolve_assets

    path = resolve_assets(assets)
    manifest = json.loads((path / "manifest.json").read_text())
    zoo = list(manifest["zoo"])
    if isinstance(latency, Mapping):
        table, source = dict(latency), "given"
    elif latency == "table":
        f = Path(path) / "latency.json"
        if not f.is_file():
            raise ConfigError(f"space 'model_schedule': {f} is missing; use latency: measure or params, or run "
                              "benchmarks/diffusion_results.py on the GPU to write it")
        doc = json.loads(f.read_text())
        table, source = doc["latency_ms"], f"{f.name}: {doc.get('device')} batch {doc.get('batch')}"
    elif latency == "measure":
        tb = get_testbed(path, device)
        table, source = tb.latency_table(batch), f"measured on {tb.device} batch {batch}"
    elif latency == "params":
        table, source = {m: manifest["zoo"][m]["params"] / 1e6 for m in zoo}, "params (millions)"
    else:
        raise ConfigError(f"space 'model_schedule': key 'latency' is {latency!r}; allowed: table, measure, params "
                          "or a mapping {model: milliseconds}")
    if budget_fraction is not None:
        if budget_ms is not None:
            raise ConfigError("space 'model_schedule': give 'budget_ms' or 'budget_fraction', not both")
        if isinstance(budget_fraction, bool) or not isinstance(budget_fraction, (int, float)) \
                or not 0.0 < budget_fraction <= 1.0:
            raise ConfigError(f"space 'model_schedule': 'budget_fraction' must lie in (0, 1] (of the cost of the "
                              f"largest model at every step), got {budget_fraction!r}")
        budget_ms = float(budget_fraction) * nfe * max(float(table[m]) for m in zoo)
    if budget_ms is not None and (isinstance(budget_ms, bool) or not float(budget_ms) > 0.0):
        raise ConfigError(f"space 'model_schedule': 'budget_ms' must be a positive number, got {budget_ms!r}")
    cheapest = nfe * min(float(table[m]) for m in zoo)
    if budget_ms is not None and float(budget_ms) < cheapest:
        raise ConfigError(f"space 'model_schedule': the budget {float(budget_ms):g} is below the cheapest schedule "
                          f"({cheapest:g}: the smallest model at all {nfe} steps); raise 'budget_ms' or "
                          f"'budget_fraction'")
    return ModelScheduleSpace(zoo, table, nfe=nfe, budget_ms=budget_ms, latency_source=source)
