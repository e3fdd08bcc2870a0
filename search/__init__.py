"""The search engine: studies, optimizers, storage, backends, Pareto tools and the CLI."""

from .objectives import MetricConstraint, Objective
from .optimizers import OPTIMIZERS, Optimizer, create_optimizer
from .pareto import hypervolume, hypervolume_history, infer_reference_point, knee_point, non_dominated
from .registry import Registry, UnknownNameError
from .storage import InMemoryStorage, SQLStorage, Storage, StudyExistsError, get_storage
from .study import Study
from .trial import Observation, Suggestion, Trial, TrialState
from .validate import validate_study

__all__ = [
    "InMemoryStorage",
    "MetricConstraint",
    "OPTIMIZERS",
    "Objective",
    "Observation",
    "Optimizer",
    "Registry",
    "SQLStorage",
    "Storage",
    "Study",
    "StudyExistsError",
    "Suggestion",
    "Trial",
    "TrialState",
    "UnknownNameError",
    "create_optimizer",
    "get_storage",
    "hypervolume",
    "hypervolume_history",
    "infer_reference_point",
    "knee_point",
    "non_dominated",
    "validate_study",
]
