"""The optimizers the benchmarks compare side by side, by label: the predictor-guided search,
our NSGA-II, random search, Optuna's TPE and GP samplers and pymoo's NSGA-II."""

from __future__ import annotations

from typing import Any

__all__ = ["six_optimizers"]


def six_optimizers(population: int = 20) -> dict[str, tuple[str, dict[str, Any]]]:
    """label -> (optimizer registry name, settings); both NSGA-IIs with ``population``."""
    return {
        "guided": ("guided", {}),
        "nsga2": ("nsga2", {"population_size": population}),
        "random": ("random", {}),
        "optuna-tpe": ("optuna", {"sampler": "TPESampler"}),
        "optuna-gp": ("optuna", {"sampler": "GPSampler"}),
        "pymoo-nsga2": ("pymoo", {"algorithm": "NSGA2", "algorithm_kwargs": {"pop_size": population}}),
    }
