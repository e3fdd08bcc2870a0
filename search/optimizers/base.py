"""The optimizer protocol: ``ask(n)`` proposals, ``tell(observations)`` outcomes.

Optimizers always minimise: observations carry objective values multiplied by each objective's
sign, and the total constraint violation. Failed evaluations arrive with ``values=None`` and must
never be treated as good results.

Restoring after a crash needs no pickled state: the study builds a fresh optimizer with the same
seed and replays the stored history through ``ask``/``tell`` (answering from the store instead of
evaluating), which rebuilds the exact state of a deterministic optimizer.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ...spaces.space import Config, Space
from ..objectives import Objective
from ..trial import Observation, Suggestion

__all__ = ["Optimizer", "checked_initial", "resolve_initial"]

log = logging.getLogger("paretoforge")


def resolve_initial(space: Space, initial: Any, who: str) -> list[Config]:
    """An optimizer's ``initial`` setting as checked configurations (:func:`checked_initial`):
    a list of configurations, ``"space"`` for the space's ``initial_configs`` (known good points
    such as baselines), or ``None`` for none."""
    if isinstance(initial, str):
        if initial != "space":
            raise ValueError(f"{who}: 'initial' is {initial!r}; allowed: 'space' (the space's initial_configs) "
                             "or a list of configurations")
        provided = getattr(space, "initial_configs", None)
        if provided is None:
            raise ValueError(f"{who}: 'initial: space' needs a space with initial_configs (known good points), and "
                             f"space '{space.name}' has none; give a list of configurations")
        initial = provided() if callable(provided) else provided
    return checked_initial(space, initial or [], who)


def checked_initial(space: Space, configs: Sequence[Any], who: str) -> list[Config]:
    """Configurations a user gives to be evaluated first (``initial``), in canonical form: one
    outside the space (a missing variable, a value out of its bounds) is an error naming it; one
    that breaks a constraint is repaired, with a warning (it is not the configuration given)."""
    out = []
    for i, c in enumerate(configs):
        try:
            valid = space.validate(c)
        except ValueError as exc:
            raise ValueError(f"{who}: 'initial' configuration {i}: {exc}") from None
        if space.constraints and not space.is_feasible(valid):
            fixed = space.validate(space.repair(valid))
            if space.key(fixed) == space.key(valid):  # a constraint without repair: evaluated as given, infeasible
                log.warning("%s: 'initial' configuration %d breaks a constraint of space '%s' %s that has no repair; "
                            "it is evaluated as given and counts as infeasible", who, i, space.name,
                            space.constraint_values(valid))
            else:
                log.warning("%s: 'initial' configuration %d breaks a constraint of space '%s' %s; it is evaluated "
                            "as repaired: %s", who, i, space.name, space.constraint_values(valid), fixed)
            valid = fixed
        out.append(valid)
    return out


class Optimizer(ABC):
    """Base class of optimizers. Subclasses take their settings as keyword arguments."""

    name: ClassVar[str] = "optimizer"

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0,
                 constraint_names: Sequence[str] = ()) -> None:
        self.space = space
        self.objectives = list(objectives)
        self.n_objectives = len(self.objectives)
        self.constraint_names = list(constraint_names)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    @abstractmethod
    def ask(self, n: int) -> list[Config | Suggestion]:
        """Up to ``n`` configurations to evaluate (fewer when waiting for results)."""

    @abstractmethod
    def tell(self, observations: Sequence[Observation]) -> None:
        """Outcomes of earlier proposals (in any order, failed ones with ``values=None``)."""

    def use_fidelity(self, fidelity: float) -> None:  # noqa: B027 - optional hook
        """The study's full fidelity, given before the first ``ask``; the default ignores it."""

    def use_reference_point(self, reference_point: np.ndarray) -> None:  # noqa: B027 - optional hook
        """The study's hypervolume reference point in minimised units (``sign * value`` per
        objective), given before the first ``ask`` when the study has one. An optimizer whose
        acquisition measures hypervolume may aim at it; the default ignores it."""

    def state(self) -> dict[str, Any]:
        """A small JSON-able summary (generation, predictor quality...) shown next to the progress
        bar of ``paretoforge run``."""
        return {"name": self.name}

    def close(self) -> None:
        """Release resources."""
