"""A small, offline diffusion testbed on scikit-learn's handwritten digits (8x8).

* :mod:`.data` - the fixed train/test split of the bundled digits;
* :mod:`.schedule` - the continuous-time VP noise schedule every model of the zoo shares;
* :mod:`.models` - eps-prediction denoisers of clearly different sizes, fp16 safetensors I/O;
* :mod:`.classifier` - the digits classifier whose features define the Frechet distance;
* :mod:`.metrics` - Frechet distance, reference statistics and the real-vs-real noise floor;
* :mod:`.sampler` - the unified per-step sampler (DDIM, DPM-Solver++(2M), UniPC are fixed points);
* :mod:`.testbed` - loads the trained assets, fixed noise sets, measures FD and latency;
* :mod:`.train` - trains the zoo, the checkpoint run and the classifier (``python -m``).
"""

from .data import DigitsSplit, load_digits_split
from .sampler import SolverSchedule, StepDecision, baseline_schedule, sample, timestep_grid
from .schedule import VPSchedule

__all__ = [
    "DigitsSplit",
    "SolverSchedule",
    "StepDecision",
    "VPSchedule",
    "baseline_schedule",
    "load_digits_split",
    "sample",
    "timestep_grid",
]
