"""Copy a study into an Optuna storage, so that optuna-dashboard can open it.

Each configuration is written as Optuna parameters through the space's flat view; metrics,
constraints, key and fidelity become user attributes. Run ``optuna-dashboard <url>`` on the result.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..spaces.space import Space
from ..spaces.variables import variable_from_spec
from .optimizers.optuna_adapter import optuna_distribution
from .results import StudyResults
from .trial import TrialState

__all__ = ["export_to_optuna"]


def export_to_optuna(results: StudyResults, url: str, study_name: str | None = None) -> Any:
    """Create (or replace) an Optuna study at ``url`` holding every trial of ``results``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space_desc = results.spec.get("space")
    if not space_desc:
        raise ValueError(f"study '{results.name}' stores no space description; cannot map configurations")
    space = Space([variable_from_spec(v) for v in space_desc["variables"]], name=space_desc.get("name", "space"))
    dists = {p.name: optuna_distribution(p) for p in space.flat_params()}
    name = study_name or results.name
    try:
        optuna.delete_study(study_name=name, storage=url)
    except KeyError:
        pass
    study = optuna.create_study(storage=url, study_name=name, directions=[o.direction for o in results.objectives])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in results.objectives])
    frozen = []
    for t in results.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.FAILED):
            continue
        params = space.to_flat(t.config)
        attrs = {"paretoforge_trial": t.number, "key": t.key, "fidelity": t.fidelity, "metrics": t.metrics,
                 "constraints": t.constraints}
        if t.state == TrialState.COMPLETE:
            values = [t.metrics[o.source] for o in results.objectives]
            frozen.append(optuna.trial.create_trial(params=params, distributions=dists, values=values,
                                                    user_attrs=attrs))
        else:
            attrs["error"] = (t.error or "")[:2000]
            frozen.append(optuna.trial.create_trial(params=params, distributions=dists, user_attrs=attrs,
                                                    state=optuna.trial.TrialState.FAIL))
    study.add_trials(frozen)
    return study
