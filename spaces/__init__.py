"""Search spaces: the configuration model (variables, constraints, costs) and, as the space
issues land, spaces that apply configurations to real ``torch.nn.Module`` objects."""

from .constraints import BudgetConstraint, Constraint, FunctionConstraint
from .space import Config, Space, config_key
from .variables import (
    Categorical,
    ChoiceSequence,
    ConfigError,
    FlatParam,
    Integer,
    Ordinal,
    Real,
    RealVector,
    Subset,
    Variable,
    variable_from_spec,
)

__all__ = [
    "BudgetConstraint",
    "Categorical",
    "ChoiceSequence",
    "Config",
    "ConfigError",
    "Constraint",
    "FlatParam",
    "FunctionConstraint",
    "Integer",
    "Ordinal",
    "Real",
    "RealVector",
    "Space",
    "Subset",
    "Variable",
    "config_key",
    "variable_from_spec",
]
