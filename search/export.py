"""Export chosen configurations with their metrics and provenance (YAML or JSON)."""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .results import StudyResults
from .trial import Trial

__all__ = ["export_records", "write_export"]


def _trial_record(t: Trial, knee: Trial | None) -> dict[str, Any]:
    return {
        "trial": t.number,
        "state": t.state.value,
        "key": t.key,
        "config": t.config,
        "metrics": t.metrics,
        "constraints": t.constraints,
        "fidelity": t.fidelity,
        "knee": knee is not None and t.number == knee.number,
        "provenance": {"worker": t.worker, "seed": t.seed, "batch": t.batch, "started_at": t.started_at,
                       "finished_at": t.finished_at},
    }


def export_records(results: StudyResults, which: str = "front", storage_url: str | None = None,
                   trials: Sequence[int] | None = None) -> dict[str, Any]:
    """The document to export. ``which`` is ``"front"`` (all Pareto trials), ``"knee"`` (the knee
    point of the front) or ``"trials"`` (the trial numbers in ``trials``)."""
    from .. import __version__

    knee = results.knee()
    if which == "front":
        chosen = results.pareto_trials()
    elif which == "knee":
        chosen = [knee] if knee is not None else []
    elif which == "trials":
        wanted = {int(n) for n in (trials if trials is not None else [])}
        if not wanted:
            raise ValueError(f"study '{results.name}': selection 'trials' needs trial numbers")
        stored = {t.number: t for t in results.trials if t.number in wanted}
        missing = sorted(wanted - set(stored))
        if missing:
            raise ValueError(f"study '{results.name}' has no trials numbered {missing}")
        done = {t.number for t in results.completed()}
        other = [f"{n} ({stored[n].state.value})" if stored[n].state.value != "complete"
                 else f"{n} (at fidelity {stored[n].fidelity:g})" for n in sorted(wanted - done)]
        if other:
            raise ValueError(f"study '{results.name}': trials {', '.join(other)} are not completed evaluations at the "
                             f"study's fidelity {results.fidelity:g}; only those are exported (their results are the "
                             f"configurations' measured metrics)")
        chosen = sorted((stored[n] for n in wanted), key=lambda t: t.number)
    else:
        raise ValueError(f"unknown selection {which!r}; allowed: front, knee, trials")
    return {
        "study": results.name,
        "objectives": [o.describe() for o in results.objectives],
        "selection": which,
        "configurations": [_trial_record(t, knee) for t in chosen],
        "provenance": {
            "storage": storage_url,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "paretoforge": __version__,
            "python": platform.python_version(),
            "study_spec": results.spec,
            "counts": results.counts(),
        },
    }


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_export(doc: dict[str, Any], path: str | Path) -> Path:
    """Write ``doc`` as JSON when ``path`` ends in .json, else YAML (non-finite numbers as null:
    strict JSON parsers refuse NaN and Infinity)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = _finite(json.loads(json.dumps(doc, default=str)))
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(plain, indent=2, allow_nan=False))
    else:
        path.write_text(yaml.safe_dump(plain, sort_keys=False))
    return path
