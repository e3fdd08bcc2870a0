"""Copy a study into an Optuna storage, so that optuna-dashboard can open it.

Each configuration is written as Optuna parameters through the space's flat view; metrics,
constraints, key and fidelity become user attributes; constraint values also become Optuna's own
feasibility record, and low-fidelity screens are written as pruned trials. Run ``optuna-dashboard <url>``
on the result.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..spaces.space import Space
from ..spaces.variables import variable_from_spec
from .optimizers.optuna_adapter import optuna_distribution
from .results import StudyResults
from .trial import TrialState

__all__ = ["export_to_optuna"]


def export_to_optuna(results: StudyResults, url: str, study_name: str | None = None) -> Any:
    """Create (or replace: an Optuna study of the same name at ``url`` is deleted) an Optuna study
    holding every finished trial of ``results`` (completed and failed ones; trials still running,
    or interrupted, are left out)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space_desc = results.spec.get("space")
    if not space_desc:
        raise ValueError(f"study '{results.name}' stores no space description; cannot map configurations")
    space = Space([variable_from_spec(v) for v in space_desc["variables"]], name=space_desc.get("name", "space"))
    dists = {p.name: optuna_distribution(p) for p in space.flat_params()}
    name = study_name or results.name
    # every trial is built (and so checked) before an earlier export of the same name is replaced
    frozen = []
    for t in results.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.FAILED):
            continue
        params = space.to_flat(t.config)
        attrs = {"paretoforge_trial": t.number, "key": t.key, "fidelity": t.fidelity, "metrics": t.metrics,
                 "constraints": t.constraints}
        values = [t.metrics.get(o.source, math.nan) for o in results.objectives]
        full = t.fidelity == results.fidelity
        if t.state == TrialState.COMPLETE and full and all(math.isfinite(v) for v in values):
            # Optuna's own feasibility record (values <= 0 are feasible), so its fronts match ours
            system = {"constraints": [float(v) for v in t.constraints.values()]} if t.constraints else {}
            frozen.append(optuna.trial.create_trial(params=params, distributions=dists, values=values,
                                                    user_attrs=attrs, system_attrs=system))
        elif t.state == TrialState.COMPLETE:  # a low-fidelity screen: stopped early, as Optuna's pruned trials
            frozen.append(optuna.trial.create_trial(params=params, distributions=dists, user_attrs=attrs,
                                                    state=optuna.trial.TrialState.PRUNED))
        else:
            attrs["error"] = (t.error or "")[:2000]
            frozen.append(optuna.trial.create_trial(params=params, distributions=dists, user_attrs=attrs,
                                                    state=optuna.trial.TrialState.FAIL))
    try:
        optuna.delete_study(study_name=name, storage=url)
    except KeyError:
        pass
    study = optuna.create_study(storage=url, study_name=name, directions=[o.direction for o in results.objectives])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in results.objectives])
    study.add_trials(frozen)
    return study
