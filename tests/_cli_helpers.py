"""Picklable evaluators for CLI tests, imported by ``evaluator.factory`` in YAML studies."""

from __future__ import annotations

import os
import time
from pathlib import Path

from paretoforge.evaluators import EvalResult, Evaluator


class GateEvaluator(Evaluator):
    """Two objectives of a real vector; after ``stop_after`` evaluations in this process it
    writes ``marker`` and waits for ``gate`` to appear (so a test can kill it mid-evaluation)."""

    def __init__(self, marker: str = "", gate: str = "", stop_after: int = 0, log: str = "") -> None:
        self.marker, self.gate, self.stop_after, self.log = marker, gate, stop_after, log
        self.count = 0

    def evaluate(self, configs, fidelity=1.0):
        out = []
        for c in configs:
            self.count += 1
            if self.log:
                with open(self.log, "a") as f:
                    f.write(f"{os.getpid()} {c['x']} {c['y']}\n")
            if self.stop_after and self.count > self.stop_after:
                Path(self.marker).write_text(str(os.getpid()))
                while not Path(self.gate).exists():  # blocks until killed
                    time.sleep(0.01)
            out.append(EvalResult({"f1": c["x"], "f2": (1 - c["x"]) ** 2 + c["y"]}))
        return out


def make_gate(**kwargs) -> GateEvaluator:
    return GateEvaluator(**kwargs)


class NoisyQuadratic(Evaluator):
    """One objective, ``f = (x - 0.3)^2 + 0.05 * e`` where ``e`` is a standard normal fixed by
    ``(x, noise_seed)`` (a list of seeds averages ``f`` over them), like a metric measured on
    one noise set. Configurations with ``x > fail_above`` fail; ``nan_above`` gives NaN instead."""

    def __init__(self, noise_seed=0, fail_above: float = 2.0, nan_above: float = 2.0) -> None:
        self.seeds = list(noise_seed) if isinstance(noise_seed, (list, tuple)) else [noise_seed]
        self.fail_above, self.nan_above = fail_above, nan_above

    def value(self, x: float) -> float:
        import numpy as np

        noise = [np.random.default_rng([int(s), int(round(x * 1e9))]).normal() for s in self.seeds]
        return float((x - 0.3) ** 2 + 0.05 * np.mean(noise))

    def evaluate(self, configs, fidelity=1.0):
        out = []
        for c in configs:
            if c["x"] > self.fail_above:
                out.append(EvalResult.failure(f"x = {c['x']} is above {self.fail_above}"))
            else:
                out.append(EvalResult({"f": float("nan") if c["x"] > self.nan_above else self.value(c["x"])}))
        return out


def make_noisy(**kwargs) -> NoisyQuadratic:
    return NoisyQuadratic(**kwargs)


class WhereEvaluator(Evaluator):
    """``f1 = x``, ``f2 = (1 - x)^2 + y``; each result's ``info`` names the process that computed
    it and that process's parent (a Ray actor's parent is its node's raylet)."""

    def evaluate(self, configs, fidelity=1.0):
        where = {"pid": os.getpid(), "parent": os.getppid()}
        return [EvalResult({"f1": c["x"], "f2": (1 - c["x"]) ** 2 + c["y"]}, info=dict(where)) for c in configs]


def make_where() -> WhereEvaluator:
    return WhereEvaluator()
