"""Re-evaluate a study's chosen configurations under other evaluator settings.

A search scores every candidate on one setting of its evaluator (one noise set, one data split,
a few samples), and the best of many candidates is partly the luck of that setting: its value is
biased low. Before deploying, measure the finalists again on settings the search never saw,
for example ``noise_seed: [1, 2, 3]`` and ``n_samples: 10000`` for the digits FD, and pick on
those values. :func:`validate_study` does that for any study with an ``evaluator`` section (its
stored study description rebuilds the evaluator, with ``overrides`` applied to its settings);
``paretoforge validate`` is its command line. Nothing is written to the study's store: the
result is a document (see :func:`validate_study`), written by the command as YAML or JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import yaml

from ..evaluators.base import EvalResult, check_metrics
from ..spaces.variables import ConfigError
from .results import StudyResults
from .trial import Trial

__all__ = ["SELECTIONS", "choose_trials", "parse_overrides", "validate_study"]

#: what ``select`` may name
SELECTIONS = ("front", "knee", "top")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["noise_seed=[1, 2, 3]", "n_samples=10000"]`` -> evaluator settings (values read as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, an evaluator setting such as noise_seed=[1, 2, 3]")
        if key in ("name", "factory"):
            raise ConfigError(f"--set {item!r}: '{key}' chooses the evaluator itself; validation keeps the study's")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc})") from None
    return out


def choose_trials(results: StudyResults, select: str = "front", top: int = 5,
                  trials: Sequence[int] | None = None) -> list[Trial]:
    """The trials to validate: ``trials`` (numbers) if given, else ``select``: ``"front"`` (the
    feasible Pareto front; one objective: the best trial), ``"knee"``, or ``"top"``: the ``top``
    best feasible completed trials (one objective: by value; several: by non-dominated rank, then
    crowding)."""
    if trials:
        wanted = set(trials)
        chosen = [t for t in results.completed() if t.number in wanted]
        missing = sorted(wanted - {t.number for t in chosen})
        if missing:
            raise ConfigError(f"study '{results.name}' has no completed trials at its fidelity {results.fidelity:g} "
                              f"numbered {missing}")
        return sorted(chosen, key=lambda t: t.number)
    if select == "front":
        return results.pareto_trials()
    if select == "knee":
        knee = results.knee()
        return [knee] if knee is not None else []
    if select != "top":
        raise ConfigError(f"unknown selection {select!r}; allowed: {list(SELECTIONS)}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"'top' must be an integer >= 1, got {top!r}")
    done = [t for t in results.completed() if results.violation(t) <= 0]
    if not done:
        return []
    F = results.minimized(done)
    if F.shape[1] == 1:
        order = np.argsort(F[:, 0], kind="stable")
    else:
        from .optimizers.nsga2 import rank_and_crowding

        rank, crowd = rank_and_crowding(F, np.zeros(len(done)))
        order = np.lexsort((-crowd, rank))
    return [done[i] for i in order[:top]]


def _evaluator(results: StudyResults, overrides: Mapping[str, Any]) -> tuple[Any, dict[str, Any], Any]:
    """The study's evaluator with ``overrides`` applied, its settings, and its spec (which builds
    the space on demand, for the costs the evaluator does not measure)."""
    from .spec import StudySpec

    raw = dict(results.spec.get("study") or {})
    source = str(results.spec.get("source", f"study '{results.name}'"))
    if "evaluator" not in raw:
        what = "a benchmark 'problem'" if "problem" in raw else "no stored study description"
        raise ConfigError(f"{source}: study '{results.name}' has {what}; validation needs a study with an "
                          "'evaluator' section (its settings are what --set changes)")
    settings = {**raw["evaluator"], **overrides}
    spec = StudySpec.from_dict({**raw, "evaluator": settings}, source=f"{source} (validation settings)")
    return spec._evaluator(), settings, spec


def validate_study(results: StudyResults, overrides: Mapping[str, Any], select: str = "front", top: int = 5,
                   trials: Sequence[int] | None = None, evaluator: Any = None, space: Any = None) -> dict[str, Any]:
    """Evaluate the chosen trials' configurations again with the study's evaluator, its settings
    changed by ``overrides`` (or with ``evaluator`` itself), at the study's fidelity (as in the search), in one batch.

    Returns ``{"study", "selection", "evaluator_settings", "overrides", "configurations": [{"trial",
    "config", "search": {objective: value}, "validation": {objective: value} or None, "error"}],
    "best": trial numbers of the validated front (one objective: the best trial), "provenance"}``.
    A failed or non-finite re-evaluation is kept with its error and never counts as best. The
    study's metric constraints are not checked again: the chosen trials met them in the search.
    An objective that is a cost of the space (``avg_bits``, a size) rather than a measured metric
    is taken from the space as in the search (``space``, else the one the study description builds);
    measured metrics win, as in the search.
    """
    chosen = choose_trials(results, select, top, trials)
    if not chosen:
        raise ConfigError(f"study '{results.name}' has no feasible completed trial to validate")
    settings: dict[str, Any] | None = None
    spec: Any = None
    if evaluator is None:
        evaluator, settings, spec = _evaluator(results, overrides)
    t0 = time.perf_counter()
    try:
        res = evaluator.evaluate([dict(t.config) for t in chosen], fidelity=results.fidelity)  # as in the search
    except Exception as exc:  # noqa: BLE001 - a failing evaluator fails its configurations, not the command
        res = [EvalResult.failure(f"{type(exc).__name__}: {exc}") for _ in chosen]
    if len(res) != len(chosen):
        res = [EvalResult.failure(f"the evaluator returned {len(res)} results for {len(chosen)} configurations")
               for _ in chosen]
    seconds = time.perf_counter() - t0
    objs = results.objectives
    sources = [o.source for o in objs]
    if any(r.ok and isinstance(r.metrics, dict) and any(s not in r.metrics for s in sources) for r in res):
        if space is None and spec is not None and spec.space is not None:
            space = spec._space()
        if space is not None:  # only the objectives the evaluator lacks: other costs are not checked
            res = [replace(r, metrics={**{s: v for s, v in space.cost_values(dict(t.config)).items()
                                          if s in sources and s not in r.metrics}, **r.metrics}) if r.ok else r
                   for t, r in zip(chosen, res)]
    rows: list[dict[str, Any]] = []
    good: list[tuple[int, list[float]]] = []
    for t, r in zip(chosen, res):
        row: dict[str, Any] = {"trial": t.number, "config": t.config,
                               "search": {o.name: float(t.metrics[o.source]) for o in objs},
                               "validation": None, "error": None}
        err = r.error if not r.ok else check_metrics(r.metrics, sources)
        if err:
            row["error"] = err
        else:
            vals = [float(r.metrics[o.source]) for o in objs]  # type: ignore[index]
            row["validation"] = {o.name: v for o, v in zip(objs, vals)}
            good.append((t.number, [o.sign * v for o, v in zip(objs, vals)]))
        rows.append(row)
    best: list[int] = []
    if good:
        from .pareto import non_dominated

        mask = non_dominated(np.array([v for _, v in good]))
        by_trial = dict(good)
        best = sorted((n for (n, _), m in zip(good, mask) if m), key=by_trial.__getitem__)
    return {"study": results.name, "selection": "trials" if trials else select, "fidelity": results.fidelity,
            "evaluator_settings": settings, "overrides": dict(overrides), "configurations": rows, "best": best,
            "provenance": {"validated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "seconds": seconds}}
