"""benchmarks/guided_diffusion.py: a multi-fidelity run is scored on the axis of cost, with its
full-fidelity results only."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from guided_diffusion import _curves, full_points  # noqa: E402


def test_low_fidelity_results_cost_their_fidelity_and_do_not_score():
    # five screens at a fifth (cost 1 in all; their values, on another scale, would be the best),
    # then three full evaluations, one failed
    run = {"points": [[1.0]] * 5 + [[9.0], None, [7.0]], "fidelities": [0.2] * 5 + [1.0] * 3}
    assert full_points(run) == [None] * 5 + [[9.0], None, [7.0]]
    (h,) = _curves([run], np.array([np.inf]), None)
    # after cost 1: only screens (no score); 2: the first full result; 3: the failed one adds nothing
    assert h.tolist() == [np.inf, 9.0, 9.0, 7.0]
    plain = {"points": [[9.0], None, [7.0]]}  # a run without fidelities is read per evaluation
    assert _curves([plain], np.array([np.inf]), None)[0].tolist() == [9.0, 9.0, 7.0]


def test_two_objective_curve_on_the_cost_axis():
    ref = np.array([10.0, 10.0])
    run = {"points": [[0.0, 0.0], [5.0, 5.0], [4.0, 6.0]], "fidelities": [0.5, 1.0, 1.0]}
    (h,) = _curves([run], ref, 100.0)
    # after cost 1: the screen only (0); the first full result is spent by 1.5, so read at 2; the
    # second is spent by 2.5, past the last whole unit of cost
    assert np.allclose(h, [0.0, 0.25])


def test_a_validation_pick_never_takes_a_low_fidelity_result():
    import pytest
    from guided_diffusion_heldout import pick_rows

    run = {"optimizer": "guided-mf", "seed": 0, "points": [[1.0], [2.0], [5.0], [4.0]],
           "configs": [{"c": 0}, {"c": 1}, {"c": 2}, {"c": 3}], "fidelities": [0.2, 0.2, 1.0, 1.0]}
    (row,) = pick_rows([run], 2, lambda c: str(c["c"]), lambda c: 10.0 - c["c"], lambda c: float(c["c"]))
    assert row["search"] == [4.0, 5.0]  # the full-fidelity results only, best first
    assert row["test"] == [3.0, 2.0] and row["picked"] == 0  # configuration 3 validates best (7 < 8)
    with pytest.raises(SystemExit, match="low-fidelity"):
        pick_rows([run], 2, lambda c: str(c["c"]), float, float, sent_max=3)
