"""Search spaces over diffusion sampling: solver schedules (S^3/USF), model schedules (OMS-DPM,
with the switch-point subspace of CoDe / Hybrid SD as a baseline) and checkpoint combinations
(LCSC). Each space converts its configurations to what the digits evaluator runs."""

from .checkpoint_combination import CheckpointCombinationSpace, checkpoint_combination_space
from .model_schedule import ModelScheduleSpace, model_schedule_space
from .solver_schedule import SolverScheduleSpace, config_to_schedule, solver_schedule_space

__all__ = [
    "CheckpointCombinationSpace",
    "ModelScheduleSpace",
    "SolverScheduleSpace",
    "checkpoint_combination_space",
    "config_to_schedule",
    "model_schedule_space",
    "solver_schedule_space",
]
