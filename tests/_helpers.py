"""Picklable helpers for the search tests: a small mixed space, cheap evaluators (module level,
so that process pools and subprocesses can import them) and a blocking study runner used by
``test_resume_kill.py`` (``python _helpers.py blocking-study DB MARKER N K``)."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paretoforge.evaluators.base import EvalResult, Evaluator
from paretoforge.search import Study
from paretoforge.spaces import Categorical, ChoiceSequence, Integer, Real, Space

ACT_PENALTY = {"relu": 0.02, "gelu": 0.0, "silu": 0.01}


def local_ray_backend(workers: int = 2, **settings: Any) -> Any:
    """A ``RayBackend`` of ``workers`` actors on a local Ray cluster of two CPUs that it starts (and
    shuts down on ``close``); its actors import these helpers. Skips the test without Ray."""
    import pytest

    pytest.importorskip("ray")
    from paretoforge.search.backends import RayBackend

    here = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    init = {"num_cpus": 2, "runtime_env": {"env_vars": {"PYTHONPATH": path}}, "log_to_driver": False}
    return RayBackend(workers=workers, init=init, **settings)


def mixed_space() -> Space:
    """Categorical + integer + real (log) + ordered sequence: 3 * 8 * inf * 3^4 points."""
    return Space(
        [
            Categorical("act", ["relu", "gelu", "silu"]),
            Integer("depth", 1, 8),
            Real("lr", 1e-4, 1e-1, log=True),
            ChoiceSequence("bits", 4, [2, 4, 8], ordered=True),
        ],
        name="mixed",
    )


def mixed_metrics(c: dict[str, Any]) -> dict[str, float]:
    """Two conflicting objectives: model size (minimise) and error (minimise)."""
    size = c["depth"] * sum(c["bits"])
    err = 1.0 / (1.0 + size) + 0.1 * abs(math.log10(c["lr"]) + 2.5) + ACT_PENALTY[c["act"]]
    return {"size": float(size), "err": float(err)}


class MixedEvaluator(Evaluator):
    """Batch evaluator of :func:`mixed_metrics`; picklable (module level, plain attributes)."""

    metrics = ("size", "err")

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        return [EvalResult(mixed_metrics(c), info={"pid": os.getpid()}) for c in configs]


class EchoEvaluator(Evaluator):
    """Returns the configuration's ``x`` as a metric (to check result order); a configuration with
    ``x < 0`` makes the *whole batch* raise, so the backend must fall back to one by one."""

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        for c in configs:
            if c["x"] < 0:
                raise ValueError(f"negative x {c['x']} poisons the batch")
        return [EvalResult({"x": float(c["x"]), "fid": float(fidelity)}, info={"pid": os.getpid()})
                for c in configs]


class WrongCountEvaluator(Evaluator):
    """Returns one result too few for batches larger than one (a broken evaluator)."""

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        out = [EvalResult({"x": float(c["x"])}) for c in configs]
        return out[:-1] if len(out) > 1 else out


class DyingEvaluator(Evaluator):
    """Kills its own (worker) process when it meets ``x == die_at``."""

    def __init__(self, die_at: float = 13.0) -> None:
        self.die_at = die_at

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        if any(c["x"] == self.die_at for c in configs):
            os._exit(3)
        return [EvalResult({"x": float(c["x"])}) for c in configs]


class EnvEvaluator(Evaluator):
    """Reports the worker's ``CUDA_VISIBLE_DEVICES`` and process id in ``info``."""

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        env = {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}
        return [EvalResult({"x": float(c["x"])}, info=dict(env)) for c in configs]


class BlockingEvaluator(Evaluator):
    """Evaluates :func:`mixed_metrics`, appending each configuration to ``log``; when asked for
    evaluation number ``block_at + 1`` it writes ``marker`` and waits for ``gate`` (which never
    appears), so that a test can kill the process while that evaluation is in flight."""

    def __init__(self, log: str, marker: str = "", gate: str = "", block_at: int = 0) -> None:
        self.log, self.marker, self.gate, self.block_at = log, marker, gate, block_at
        self.count = 0

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        out = []
        for c in configs:
            self.count += 1
            with open(self.log, "a") as f:
                f.write(repr(sorted(c.items())) + "\n")
            if self.block_at and self.count > self.block_at:
                Path(self.marker).write_text(str(os.getpid()))
                while not Path(self.gate).exists():  # until killed
                    time.sleep(0.01)
            out.append(EvalResult(mixed_metrics(c)))
        return out


def make_study(storage: Any, evaluator: Evaluator, resume: bool = False, seed: int = 3,
               name: str = "kill-me", optimizer: str = "nsga2") -> Study:
    settings = {"population_size": 6} if optimizer == "nsga2" else {}
    return Study(name, mixed_space(), evaluator, ["size", "err"], optimizer=optimizer,
                 optimizer_settings=settings, storage=storage, seed=seed, resume=resume)


def _blocking_study(db: str, marker: str, log: str, n: int, block_at: int) -> None:
    gate = marker + ".never"
    study = make_study(db, BlockingEvaluator(log, marker, gate, block_at))
    study.optimize(n)
    raise SystemExit("the blocking evaluator did not block")  # pragma: no cover


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "blocking-study":
        _blocking_study(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:  # pragma: no cover
        raise SystemExit(f"usage: {sys.argv[0]} blocking-study DB MARKER LOG N BLOCK_AT")
