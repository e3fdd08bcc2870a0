"""Scratch driver kept for BENCHMARKS.md's local-calibration rows (NB-Graph @100, thirteenth session);
not part of the package and not adopted.

It patches guided with a local calibration of the predictive spread in predicted-objective space.
Each proposal's predicted result (warped mean, raw spread, unwarped predicted point) is kept; when its
result arrives, z = (warped result - mean) / spread. From ``min`` such z on, a candidate's spread of
objective j is multiplied by sqrt((sum_i w_i z_ij^2 + c) / (sum_i w_i + c)), where
w_i = exp(-|q - p_i|^2 / (2 h^2)) and q, p_i are the candidate's and proposal i's predicted points
divided by the results' range per objective; clipped to [lo, hi]; ``only``: calibrate that objective alone.

Usage: python benchmarks/results/guided_nbg_local_calibration.py VARIANTS FIRST END PROCESSES OUT
(VARIANTS: JSON name -> parameters, e.g. '{"lce": {"on": true, "min": 10, "h": 0.1, "c": 3, "lo": 1.0,
"hi": 3.0, "only": 0}}'; ``"on": false`` reproduces guided's defaults)."""
import json
import os
import sys
from typing import Any

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/

import numpy as np  # noqa: E402

P: dict[str, Any] = {}
_done: list[int] = []


def _patch() -> None:
    if _done:  # patch once per process; the parameters are read from P at each call
        return
    _done.append(1)
    from paretoforge.search.optimizers import guided as G

    cls = G.PredictorGuided
    o_sp, o_ps, o_g, o_tell = cls._scored_pool, cls._predict_sets, cls._guided, cls.tell

    def factors(self, sets):
        rec = getattr(self, "_zrec", [])
        if not P.get("on") or len(rec) < P["min"]:
            return None
        Q = self._inverse(self._mixture_mean(sets))
        Yr = np.stack([o.values for o in self._high.values()])
        R = np.maximum(Yr.max(0) - Yr.min(0), 1e-12)
        Pp = np.stack([r[0] for r in rec])
        Z2 = np.stack([r[1] for r in rec]) ** 2
        w = np.exp(-0.5 * (((Q[:, None, :] - Pp[None, :, :]) / (R * P["h"])) ** 2).sum(-1))
        f = np.sqrt((w @ Z2 + P["c"]) / (w.sum(1, keepdims=True) + P["c"]))
        if P.get("only") is not None:
            g = np.ones_like(f)
            g[:, P["only"]] = f[:, P["only"]]
            f = g
        return np.clip(f, P["lo"], P["hi"])

    def apply(self, sets):
        f = factors(self, sets)
        return sets if f is None else [(w, m, s * f) for w, m, s in sets]

    def scored_pool(self):
        c, X, sets = o_sp(self)
        return (c, X, sets) if not sets else (c, X, apply(self, sets))

    def predict_sets(self, X0):
        sets = o_ps(self, X0)
        return sets if getattr(self, "_rawmode", False) else apply(self, sets)

    def guided(self, k):
        out = o_g(self, k)
        self._rawmode = True
        try:
            sets = o_ps(self, self._x(out))
        finally:
            self._rawmode = False
        pend = getattr(self, "_zpend", {})
        Q = self._inverse(self._mixture_mean(sets))
        for i, c in enumerate(out):
            pend[self.space.key(c)] = (Q[i].copy(), sets[0][1][i].copy(), sets[0][2][i].copy(), list(self._shifts))
        self._zpend = pend
        return out

    def tell(self, observations):
        pend = getattr(self, "_zpend", {})
        rec = getattr(self, "_zrec", [])
        for o in observations:
            r = pend.pop(o.key, None)
            if r is None or not o.ok:
                continue
            q, m, s, shifts = r
            y = np.asarray(o.values, dtype=float)
            yw = np.array([y[j] if shifts[j] is None else np.log(max(y[j] - shifts[j], 1e-12)) for j in range(len(y))])
            rec.append((q, (yw - m) / np.maximum(s, 1e-12)))
        self._zrec = rec
        return o_tell(self, observations)

    cls._scored_pool, cls._predict_sets, cls._guided, cls.tell = scored_pool, predict_sets, guided, tell


def run(task: tuple[str, dict[str, Any], int, int]) -> dict[str, Any]:
    """One NB-Graph study of guided's defaults under the patch with ``params``, through
    :func:`guided_ablation.run_variant` (the same study as the ablation script's)."""
    name, params, seed, n = task
    P.clear()
    P.update(params)
    _patch()
    from guided_ablation import run_variant

    _, _, hv, seconds = run_variant((name, {}, "nasbench_graph", seed, [25, 50, n]))
    return {"variant": name, "seed": seed, "hv": hv, "seconds": seconds, "params": params}


if __name__ == "__main__":
    from multiprocessing import get_context

    variants = json.loads(sys.argv[1])
    a, b, procs, out = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    tasks = [(name, prm, s, 100) for s in range(a, b) for name, prm in variants.items()]
    with get_context("spawn").Pool(procs) as pool, open(out, "a") as f:
        for r in pool.imap_unordered(run, tasks):
            f.write(json.dumps(r) + "\n")
            f.flush()
