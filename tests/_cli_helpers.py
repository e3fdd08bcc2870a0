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
