"""A study ties a space, an evaluator, objectives, an optimizer, a backend and a store together.

The loop is batch-synchronous and deterministic for a given seed: ask a batch, store it as
running, evaluate what is new (each completion is committed as it arrives), tell the optimizer
everything. A configuration already evaluated at the same fidelity is answered from the store
and never evaluated again; this same rule makes resuming exact: a resumed study rebuilds its
optimizer by replaying the stored history, and only evaluations that were in flight when the
study died are run again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..evaluators.base import EvalResult, Evaluator, check_metrics
from ..spaces.space import Config, Space
from ..spaces.variables import ConfigError
from .backends import Backend, get_backend
from .objectives import MetricConstraint, Objective
from .optimizers import Optimizer, create_optimizer
from .results import StudyResults
from .storage import Storage, StudyExistsError, get_storage
from .trial import Observation, Suggestion, Trial, TrialState

__all__ = ["Study"]

log = logging.getLogger("paretoforge")

Callback = Callable[["Study", Sequence[Trial]], None]


def _json_default(x: Any) -> Any:
    if hasattr(x, "tolist"):  # numpy scalars and arrays, torch tensors
        return x.tolist()
    raise TypeError(f"{type(x).__name__} value {x!r}")


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` as plain JSON types (numpy and torch values converted), or TypeError."""
    return json.loads(json.dumps(info, default=_json_default))


def _objectives(study: str, objectives: Any) -> list[Objective]:
    """The study's objectives from names, :class:`Objective` objects or mappings of its fields;
    a single name or mapping, or a name used twice, is an error."""
    if isinstance(objectives, (str, Objective, dict)):
        raise ConfigError(f"study '{study}': 'objectives' must be a list, e.g. [{objectives!r}]")
    out = []
    for o in objectives:
        if isinstance(o, Objective):
            out.append(o)
        elif isinstance(o, str):
            out.append(Objective(o))
        elif isinstance(o, dict):
            try:
                out.append(Objective(**o))
            except TypeError as exc:
                raise ConfigError(f"study '{study}': objective {o!r}: {exc}; keys: name, direction, metric, noisy") from None
        else:
            raise ConfigError(f"study '{study}': objective {o!r} must be a name, an Objective or a mapping "
                              "{name: ..., direction: ...}")
    if not out:
        raise ConfigError(f"study '{study}': give at least one objective")
    names = [o.name for o in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"study '{study}': objective name(s) {repeated} are given more than once")
    return out


def _with_defaults(described: Any) -> Any:
    """An optimizer's description ``{name, **settings}`` with every setting it leaves out at its
    default, so that spelling a default out compares equal (as JSON; the description as it is
    when the optimizer is not a registered one)."""
    if not isinstance(described, dict) or not isinstance(described.get("name"), str):
        return described
    from .optimizers import OPTIMIZERS
    from .registry import keyword_defaults

    try:
        cls = OPTIMIZERS.get(described["name"])
    except (KeyError, ValueError):
        return described
    defaults = {k: v for k, v in keyword_defaults(cls).items() if k not in ("seed", "constraint_names")}
    return json.loads(json.dumps({**defaults, **described}, default=_json_default))


def _describe(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON for the stored study description: a value JSON cannot hold (a
    predictor object, a feature function) is described by its type, so that it is stable
    across runs (a resume compares these descriptions)."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        try:
            out[k] = json.loads(json.dumps(v, default=_json_default))
        except (TypeError, ValueError):
            out[k] = f"<{type(v).__module__}.{type(v).__qualname__}>"
    return out


class Study:
    """A multi-objective search whose every evaluation is stored.

    Parameters mirror the YAML schema (see :mod:`paretoforge.search.spec`). ``optimizer`` is a
    registered name (``"nsga2"``, ``"random"``, ``"optuna"``, ``"pymoo"``...) with
    ``optimizer_settings``, or a ready :class:`Optimizer`. ``resume=True`` continues a study of
    the same name found in ``storage``; without it, a non-empty study of that name is an error.
    """

    def __init__(
        self,
        name: str,
        space: Space,
        evaluator: Evaluator,
        objectives: Sequence[Objective | str],
        *,
        optimizer: str | Optimizer = "nsga2",
        optimizer_settings: dict[str, Any] | None = None,
        constraints: Sequence[MetricConstraint] = (),
        storage: str | Storage | None = None,
        backend: str | dict[str, Any] | Backend | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        fidelity: float = 1.0,
        reference_point: Sequence[float] | None = None,
        resume: bool = False,
        spec: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.space = space
        self.evaluator = evaluator
        self.objectives = _objectives(name, objectives)
        self.metric_constraints = list(constraints)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise ConfigError(f"study '{name}': 'seed' must be an integer in [0, 2**32 - 1] (seeds are explicit; "
                              f"numpy, Optuna and pymoo take no other), got {seed!r}")
        self.seed = int(seed)
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, float)) or not 0 < fidelity < math.inf:
            raise ConfigError(f"study '{name}': 'fidelity' must be a positive number, got {fidelity!r}")
        self.fidelity = float(fidelity)
        self.reference_point = None if reference_point is None else np.asarray(reference_point, dtype=float)
        if self.reference_point is not None and (self.reference_point.shape != (len(self.objectives),)
                                                 or not np.all(np.isfinite(self.reference_point))):
            raise ConfigError(
                f"study '{name}': 'reference_point' must be {len(self.objectives)} finite numbers, one per objective "
                f"{[o.name for o in self.objectives]}; got {reference_point!r}"
            )
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ConfigError(f"study '{name}': 'batch_size' must be an integer >= 1, got {batch_size!r}")
        self.storage = get_storage(storage)
        self.backend = get_backend(backend)
        try:
            self.batch_size = int(batch_size or self.backend.workers)
            self.constraint_names = [c.name for c in space.constraints] + [c.name for c in self.metric_constraints]
            repeated = sorted({n for n in self.constraint_names if self.constraint_names.count(n) > 1})
            if repeated:
                raise ConfigError(f"study '{name}': constraint name(s) {repeated} are given more than once (the "
                                  f"space's {[c.name for c in space.constraints]}, the study's "
                                  f"{[c.name for c in self.metric_constraints]}); give each constraint its own name")
            if isinstance(optimizer, Optimizer):
                self.optimizer = optimizer
            else:
                self.optimizer = create_optimizer(optimizer, space, self.objectives, seed=self.seed,
                                                  constraint_names=self.constraint_names, **(optimizer_settings or {}))
            self.optimizer.use_fidelity(self.fidelity)
            if self.reference_point is not None:  # the region of the objectives that counts, to the optimizer's units
                self.optimizer.use_reference_point(np.array([o.sign for o in self.objectives]) * self.reference_point)
            self.spec = dict(spec or {})
            self.spec.setdefault("objectives", [o.describe() for o in self.objectives])
            self.spec.setdefault("constraints", [c.describe() for c in self.metric_constraints])
            self.spec.setdefault("space", space.describe())
            self.spec.setdefault("seed", self.seed)
            self.spec.setdefault("fidelity", self.fidelity)
            self.spec.setdefault("batch_size", self.batch_size)
            if isinstance(optimizer, str):
                self.spec.setdefault("optimizer", {"name": optimizer, **_describe(optimizer_settings or {})})
            if self.reference_point is not None:
                self.spec.setdefault("reference_point", self.reference_point.tolist())

            record = self.storage.get_study(name)
            n_existing = 0 if record is None else len(self.storage.get_trials(record.id))
            if record is not None and n_existing:  # checked before the backend starts workers and anything is written
                stored = [o["name"] for o in record.spec.get("objectives", [])]
                if stored and stored != [o.name for o in self.objectives]:
                    raise ConfigError(
                        f"study '{name}' in the store has objectives {stored}, not {[o.name for o in self.objectives]}; "
                        "use another study name, or delete the store "
                        f"({getattr(self.storage, 'url', 'the storage')}) to start over"
                    )
                if not resume:
                    raise StudyExistsError(
                        f"study '{name}' already has {n_existing} trials in the store; resume it "
                        "(resume=True, CLI: --resume) or choose another study name"
                    )
                self._check_same_search(record.spec)
            check = getattr(evaluator, "check_space", None)  # settings the space's costs assume, before a worker copies it
            if check is not None:
                check(space)
            self.backend.check_evaluator(evaluator)  # e.g. a pool or Ray actors refuse what they cannot send or build
            if record is None:
                record = self.storage.create_study(name, self.spec)
            elif not n_existing:
                # a study that stopped before its first evaluation (e.g. a setting refused at the first
                # proposal): nothing was made under its old description, so this run's replaces it
                self.storage.replace_spec(record.id, self.spec)
                record = self.storage.get_study(name) or record
            else:
                interrupted = self.storage.mark_interrupted(record.id)
                if interrupted:
                    log.info("study %s: %d evaluations were in flight when it stopped; they will run again",
                             name, interrupted)
            self.record = record
            self._trials: list[Trial] = self.storage.get_trials(record.id)
            self._results: dict[tuple[str, float], Trial] = {
                (t.key, t.fidelity): t for t in self._trials if t.state in (TrialState.COMPLETE, TrialState.FAILED)
            }
            self._reached: set[tuple[str, float]] = set()
            self._failed: set[tuple[str, float]] = set()
            self._points = self._feasible_points(space)
            self._space_size = space.cardinality if self._points is None else len(self._points)
            self._n_full_fidelity = sum(self._counts(key, f) for key, f in self._results)
            self._next_number = max((t.number for t in self._trials), default=-1) + 1
            self._next_batch = max((t.batch for t in self._trials), default=-1) + 1
            self.n_replayed = 0
            # results that lack a metric the objectives or constraints name: a spec error (a typo in a
            # metric name) when no evaluation has ever completed, so the study stops after a few
            self._metric_misses = 0
            self._said: set[str] = set()  # stop reasons already logged by this optimize() call
            self._any_complete = any(t.state == TrialState.COMPLETE for t in self._trials)
        except BaseException:
            if not isinstance(backend, Backend):  # built here (from a name or settings): its workers go too
                self.backend.close()
            raise

    #: what fixes the sequence of trials: a resumed study must keep them, or its replay of the
    #: stored history diverges (stored results would no longer count towards the budget)
    RESUME_KEYS = ("seed", "optimizer", "space", "objectives", "constraints", "fidelity", "batch_size",
                   "reference_point")

    def _check_same_search(self, stored: dict[str, Any]) -> None:
        """Refuse to resume a stored study under a different search (seed, optimizer, space,
        objectives and their directions, constraints, fidelity, batch size, reference point): the
        budget, the timeout, the backend and the output may change. Keys a store written by an
        older version lacks are not compared."""
        now = json.loads(json.dumps(self.spec, default=_json_default))
        changed = [k for k in self.RESUME_KEYS if k in stored and k in now and stored[k] != now[k]
                   and not (k == "optimizer" and _with_defaults(stored[k]) == _with_defaults(now[k]))]
        if changed:
            detail = "; ".join(f"'{k}' stored {stored[k]!r}, now {now[k]!r}" for k in changed)
            where = f"{self.spec['source']}: " if self.spec.get("source") else ""
            raise ConfigError(
                f"{where}study '{self.name}' cannot resume under a different search ({detail}): its stored trials would "
                "not be replayed. Restore these keys (only the budget, timeout, backend and output may change "
                "when resuming), or start the changed study under another name or store"
                + ("; a batch size that came from the backend's workers can be pinned with 'batch_size'"
                   if "batch_size" in changed else ""))

    #: failed results lacking a named metric, with none complete, after which a study stops
    METRIC_MISS_LIMIT = 3

    # -- the loop ---------------------------------------------------------------------------
    def optimize(self, n_evaluations: int | None = None, timeout: float | None = None,
                 callbacks: Sequence[Callback] = (), max_failures: int | None = None,
                 max_repeats: int = 500, asynchronous: bool = False) -> Study:
        """Run until the study holds ``n_evaluations`` completed evaluations (a total: stored
        ones count as the optimizer reaches them on replay, and a second call with a larger
        number continues) or for ``timeout`` seconds, whichever comes first.

        Stops early after ``max_failures`` failed evaluations, when every configuration of a
        finite space has been evaluated, or when the optimizer proposes only configurations
        already evaluated for ``max_repeats`` batches in a row (beyond a replay).

        ``asynchronous=True`` keeps ``batch_size`` evaluations in flight and asks the optimizer
        for a new configuration as soon as one finishes, so that workers of uneven speed never
        wait for each other. Results then reach the optimizer in completion order, so a seeded
        asynchronous study is not reproducible trial for trial (the default loop is); resuming
        still evaluates nothing twice.

        With ``batch_size`` > 1, a total that ends inside a batch asks for a smaller last batch, and
        a later call in the same process goes on from there: it repeats an uninterrupted run's
        trials when the first total is a multiple of ``batch_size`` (a study resumed from its
        store replays whole batches and repeats them either way)."""
        if n_evaluations is None and timeout is None:
            raise ConfigError(f"study '{self.name}': give a budget: 'n_evaluations' and/or 'timeout'")
        if n_evaluations is not None and (isinstance(n_evaluations, bool) or not isinstance(n_evaluations, (int, np.integer))
                                          or n_evaluations < 0):
            raise ConfigError(f"study '{self.name}': 'n_evaluations' must be an integer >= 0 (a total), "
                              f"got {n_evaluations!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
            raise ConfigError(f"study '{self.name}': 'timeout' must be a positive number of seconds, got {timeout!r}")
        max_failures = max_failures if max_failures is not None else max(n_evaluations or 0, 10)
        self._said = set()
        if asynchronous:
            return self._optimize_async(n_evaluations, timeout, callbacks, max_failures, max_repeats)
        # budgets count what this optimizer has been told (self._reached / self._failed), replays
        # of stored trials included, so that they are totals
        deadline = None if timeout is None else time.monotonic() + timeout
        stale, stale_limit = 0, len(self._results) + max_repeats
        while self._stop_reason(n_evaluations, deadline, max_failures) is None:
            n = self.batch_size if n_evaluations is None else min(self.batch_size, n_evaluations - len(self._reached))
            proposals = self._normalize(self.optimizer.ask(n))
            if not proposals:
                log.warning("study %s: the optimizer proposed nothing; stopping", self.name)
                break
            new_trials = self._run_batch(proposals)
            stale = 0 if new_trials else stale + 1
            if stale > stale_limit:
                log.warning("study %s: the optimizer keeps proposing evaluated configurations; stopping", self.name)
                break
            for cb in callbacks:
                cb(self, new_trials)
        return self

    def _stop_reason(self, n_evaluations: int | None, deadline: float | None, max_failures: int,
                     in_flight: int = 0) -> str | None:
        if n_evaluations is not None and len(self._reached) + in_flight >= n_evaluations:
            return "budget"
        if deadline is not None and time.monotonic() >= deadline:
            return "timeout"
        if self._metric_misses >= self.METRIC_MISS_LIMIT and not self._any_complete:
            self._say_once("metrics", logging.ERROR, "study %s: stopping: the first %d results all lack a metric that an "
                           "objective or constraint names (see the failed trials' error); check the metric names in the "
                           "study", self.name, self._metric_misses)
            return "metrics"
        if len(self._failed) > max_failures:
            self._say_once("failures", logging.WARNING, "study %s: stopping after %d failed evaluations", self.name,
                           len(self._failed))
            return "failures"
        if self._space_size is not None and self._n_full_fidelity >= self._space_size:
            self._say_once("exhausted", logging.WARNING, "study %s: every configuration of the space has been evaluated",
                           self.name)
            return "exhausted"
        return None

    @staticmethod
    def _feasible_points(space: Space, limit: int = 100_000) -> set[str] | None:
        """For the "exhausted" stop, where constraints exclude configurations or a key joins several
        into one point (and the space has at most ``limit`` configurations): the distinct keys of
        its feasible configurations. None otherwise (the cardinality counts the points)."""
        n = space.cardinality
        if n is not None and n <= limit and (space.constraints or type(space).key is not Space.key):
            return {space.key(c) for c in space.enumerate()}
        return None

    def _counts(self, key: str, fidelity: float) -> bool:
        """Whether a result counts towards the space's exhaustion: at the study's fidelity, and a
        feasible point (an infeasible configuration that was evaluated does not use one up)."""
        return fidelity == self.fidelity and (self._points is None or key in self._points)

    def _say_once(self, reason: str, level: int, msg: str, *args: Any) -> None:
        """Log why the study stops, once per :meth:`optimize` call (the asynchronous loop asks
        again while the evaluations in flight finish)."""
        if reason not in self._said:
            self._said.add(reason)
            log.log(level, msg, *args)

    def _optimize_async(self, n_evaluations: int | None, timeout: float | None, callbacks: Sequence[Callback],
                        max_failures: int, max_repeats: int) -> Study:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._results and not (self._reached or self._failed):
            # resuming: completion order made the history unrepeatable, so the optimizer is
            # warm-started with every stored result instead of replaying its proposals
            self._tell(sorted(self._results.values(), key=lambda t: t.number))
        slots = self.batch_size
        pending: dict[tuple[str, float], Trial] = {}  # in flight, by (key, fidelity)
        by_ticket: dict[int, Trial] = {}
        waiters: dict[tuple[str, float], int] = {}  # repeated proposals of an in-flight configuration
        stale, stale_limit = 0, len(self._results) + max_repeats
        while True:
            stop = self._stop_reason(n_evaluations, deadline, max_failures, len(pending)) or (
                "repeats" if stale > stale_limit else None)
            while stop is None and len(pending) < slots:
                room = slots - len(pending)
                if n_evaluations is not None:
                    room = min(room, n_evaluations - len(self._reached) - len(pending))
                proposals = self._normalize(self.optimizer.ask(room))
                if not proposals:
                    stop = "idle" if not pending else None
                    break
                fresh: dict[tuple[str, float], Trial] = {}
                answered = []
                for cfg, key, fid in proposals:
                    k = (key, fid)
                    if k in self._results:
                        answered.append(self._results[k])
                    elif k in pending or k in fresh:
                        waiters[k] = waiters.get(k, 0) + 1
                    else:
                        fresh[k] = Trial(number=self._next_number, key=key, config=cfg, fidelity=fid,
                                         batch=self._next_batch, seed=self.seed, created_at=time.time())
                        self._next_number += 1
                self._next_batch += 1
                if fresh:
                    stale = 0
                    new = list(fresh.values())
                    self.storage.add_trials(self.record.id, new)
                    self._trials.extend(new)
                    pending.update(fresh)
                    for fid in sorted({t.fidelity for t in new}):
                        group = [t for t in new if t.fidelity == fid]
                        now = time.time()
                        for t, ticket in zip(group, self.backend.submit(self.evaluator, [t.config for t in group], fid)):
                            t.started_at, by_ticket[ticket] = now, t
                else:
                    stale += 1
                if answered:
                    self.n_replayed += len(answered)
                    self._tell(answered)
                stop = self._stop_reason(n_evaluations, deadline, max_failures, len(pending)) or (
                    "repeats" if stale > stale_limit else None)
            if not pending:
                if stop == "repeats":
                    log.warning("study %s: the optimizer keeps proposing evaluated configurations; stopping",
                                self.name)
                if stop is not None:
                    break
                continue
            for ticket, res in self.backend.wait():  # evaluations in flight always finish and are stored
                t = by_ticket.pop(ticket, None)
                if t is None:  # sent by an earlier call that was interrupted: its trial runs again on resume
                    continue
                stale = 0  # the optimizer learns something new: repeated proposals may end
                self._finish(t, res)
                self.storage.finish_trials([t])
                k = (t.key, t.fidelity)
                self._n_full_fidelity += k not in self._results and self._counts(*k)
                self._results[k] = t
                del pending[k]
                self._tell([t] * (1 + waiters.pop(k, 0)))
                for cb in callbacks:
                    cb(self, [t])
        return self

    def _tell(self, trials: Sequence[Trial]) -> None:
        self.optimizer.tell([self._observation(t) for t in trials])
        self._reached.update((t.key, t.fidelity) for t in trials if t.state == TrialState.COMPLETE)
        self._failed.update((t.key, t.fidelity) for t in trials if t.state == TrialState.FAILED)

    def _normalize(self, proposals: Sequence[Config | Suggestion]) -> list[tuple[Config, str, float]]:
        out = []
        for p in proposals:
            cfg, fid = (p.config, p.fidelity) if isinstance(p, Suggestion) else (p, None)
            cfg = self.space.validate(cfg)
            out.append((cfg, self.space.key(cfg), self.fidelity if fid is None else float(fid)))
        return out

    def _run_batch(self, proposals: list[tuple[Config, str, float]]) -> list[Trial]:
        batch_id = self._next_batch
        self._next_batch += 1
        now = time.time()
        fresh: dict[tuple[str, float], Trial] = {}
        for cfg, key, fid in proposals:
            if (key, fid) in self._results or (key, fid) in fresh:
                continue
            fresh[(key, fid)] = Trial(number=self._next_number, key=key, config=cfg, fidelity=fid, batch=batch_id,
                                      seed=self.seed, created_at=now)
            self._next_number += 1
        new_trials = list(fresh.values())
        if new_trials:
            self.storage.add_trials(self.record.id, new_trials)
            self._trials.extend(new_trials)
            by_fid: dict[float, list[Trial]] = {}
            for t in new_trials:
                by_fid.setdefault(t.fidelity, []).append(t)
            for fid, group in by_fid.items():
                started = time.time()
                for i, res in self.backend.run(self.evaluator, [t.config for t in group], fid):
                    t = group[i]
                    t.started_at = started
                    self._finish(t, res)
                    self.storage.finish_trials([t])
                    self._n_full_fidelity += (t.key, t.fidelity) not in self._results and self._counts(t.key, t.fidelity)
                    self._results[(t.key, t.fidelity)] = t
        else:
            self.n_replayed += len(proposals)
        self._tell([self._results[(key, fid)] for _, key, fid in proposals])
        return new_trials

    def _finish(self, trial: Trial, res: EvalResult) -> None:
        trial.finished_at = time.time()
        trial.worker = res.worker
        if res.duration is not None:
            trial.started_at = trial.finished_at - res.duration
        error = res.error
        try:
            trial.info = _jsonable(dict(res.info or {}))
        except (TypeError, ValueError) as exc:
            trial.info = {}
            error = error or f"the evaluator's info is not JSON-able: {exc}"
        metrics: dict[str, float] = {}
        cons: dict[str, float] = {}
        if error is None:
            error = check_metrics(res.metrics)
        if error is None:
            # costs of the space (size, bits...) are known without evaluation; measured metrics win
            metrics = {**self.space.cost_values(trial.config), **{k: float(v) for k, v in res.metrics.items()}}
            missing = [o.source for o in self.objectives if o.source not in metrics]
            if missing:
                error = (f"objective metric(s) {missing} are neither in the evaluator's result "
                         f"{sorted(res.metrics)} nor among the space's costs {sorted(self.space.costs)}")
                self._metric_misses += 1
            else:  # the space's costs were not checked with the evaluator's metrics
                bad = [o.source for o in self.objectives if not math.isfinite(metrics[o.source])]
                if bad:
                    error = f"objective metric(s) {bad} are not finite: {[metrics[b] for b in bad]}"
        if error is None:
            lacking = [c.metric for c in self.metric_constraints if c.metric not in metrics]
            try:
                cons = self.space.constraint_values(trial.config)
                cons.update({c.name: c.value(metrics) for c in self.metric_constraints})
                if any(not math.isfinite(v) for v in cons.values()):
                    raise ValueError(f"constraint values are not finite: {cons}")
            except Exception as exc:  # noqa: BLE001
                error = f"constraint evaluation failed: {exc}"
                self._metric_misses += bool(lacking)
        if error is not None:
            # keep what was measured for diagnosis, but the trial is failed and never told as good
            raw = res.metrics if isinstance(res.metrics, dict) else {}
            trial.state, trial.error = TrialState.FAILED, error
            trial.metrics = {k: float(v) for k, v in raw.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool)}
            return
        trial.state, trial.metrics, trial.constraints = TrialState.COMPLETE, metrics, cons
        self._any_complete = True

    def _observation(self, t: Trial) -> Observation:
        if t.state != TrialState.COMPLETE:
            return Observation(t.config, t.key, t.fidelity, None, 0.0, t.number)
        values = np.array([o.sign * t.metrics[o.source] for o in self.objectives])
        violation = float(sum(max(0.0, v) for v in t.constraints.values()))
        return Observation(t.config, t.key, t.fidelity, values, violation, t.number, dict(t.constraints))

    # -- results ----------------------------------------------------------------------------
    @property
    def trials(self) -> list[Trial]:
        return list(self._trials)

    def results(self) -> StudyResults:
        """A read-side view of the trials so far (front, hypervolume, history)."""
        return StudyResults(self.name, self.objectives, self._trials, self.fidelity,
                            None if self.reference_point is None else self.reference_point.tolist(), self.spec)

    def completed_trials(self, fidelity: float | None = None) -> list[Trial]:
        return self.results().completed(fidelity)

    def pareto_trials(self, fidelity: float | None = None) -> list[Trial]:
        """Feasible non-dominated completed trials (at the study's fidelity by default)."""
        return self.results().pareto_trials(fidelity)

    def hypervolume(self, reference_point: Sequence[float] | None = None) -> float:
        return self.results().hypervolume(reference_point)

    def hypervolume_history(self, reference_point: Sequence[float] | None = None) -> np.ndarray:
        """Hypervolume after each completed evaluation, in trial order."""
        return self.results().hypervolume_history(reference_point)

    def close(self, now: bool = False) -> None:
        """Close the backend (``now``: without waiting for running evaluations, as after an
        interrupt), the optimizer and the store."""
        if now:
            try:
                self.backend.close(now=True)
            except TypeError:  # a backend whose close() takes no 'now'
                self.backend.close()
        else:
            self.backend.close()
        record = getattr(self, "record", None)
        if record is not None and not getattr(self, "_closed", False):
            self.storage.mark_interrupted(record.id)  # evaluations still in flight (an interrupted run) run again
        self._closed = True
        self.optimizer.close()
        self.storage.close()
