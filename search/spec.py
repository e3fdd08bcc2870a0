"""Studies from YAML or Python, with one schema both ways.

.. code-block:: yaml

    name: zdt1-nsga2                 # study name (required)
    seed: 0
    problem: {name: zdt1, n_var: 6}  # a benchmark problem: space, evaluator, objectives, reference point
    # ...or a space and an evaluator of your own:
    # space: {variables: [{name: x, kind: real, low: 0, high: 1}, ...]}   or {name: <registered>, ...}
    # evaluator: {factory: "my_pkg.my_module:make_evaluator", ...}        or {name: <registered>, ...}
    # objectives: [{name: f1, direction: minimize}, ...]
    constraints: [{name: small, metric: latency, upper: 0.01}]
    optimizer: {name: nsga2, population_size: 20}
    budget: {evaluations: 200, seconds: 3600}
    batch_size: 1
    asynchronous: false              # true: keep batch_size evaluations in flight (uneven costs)
    fidelity: 1.0
    backend: {name: inprocess}       # or {name: pool, workers: 2, devices: auto}, or {name: ray, address: auto}
    storage: sqlite:///runs/zdt1.db  # default: <output dir>/<name>.db
    output: runs/zdt1                # where run writes the front, plots and export
    reference_point: [1.1, 1.1]

Errors name the file, the key, what was found and what is allowed.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..spaces.space import Space
from ..spaces.variables import ConfigError, variable_from_spec
from .backends import get_backend
from .objectives import MetricConstraint, Objective
from .optimizers import OPTIMIZERS, create_optimizer
from .plugins import EVALUATORS, PROBLEMS, SPACES
from .storage import get_storage

__all__ = ["SpecError", "StudySpec", "load_spec"]

_TOP = {
    "name": "study name (text)",
    "seed": "integer seed",
    "problem": "benchmark problem {name, ...}",
    "space": "{variables: [...]} or {name: <registered space>, ...}",
    "evaluator": "{name: <registered evaluator>, ...} or {factory: 'module:callable', ...}",
    "objectives": "list of {name, direction, metric, noisy}",
    "constraints": "list of {name, metric, upper, lower}",
    "optimizer": "{name, ...settings}",
    "budget": "{evaluations, seconds, max_failures}",
    "batch_size": "positive integer",
    "asynchronous": "true or false: keep batch_size evaluations in flight",
    "fidelity": "a positive number (1.0: the full evaluation)",
    "backend": "{name: inprocess|pool|ray, ...}",
    "storage": "database URL or file path",
    "output": "output folder",
    "reference_point": "list of numbers, one per objective",
    "description": "free text",
}


class SpecError(ConfigError):
    """A study specification that cannot be used; the message names the file and the key."""


#: what a study name may hold: it names the store file and the output folder
_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]*")


def _err(source: str, key: str, found: Any, allowed: str) -> SpecError:
    return SpecError(f"{source}: key '{key}': found {found!r}; allowed: {allowed}")


def _mapping(source: str, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str) and key in ("optimizer", "backend", "problem", "evaluator", "space"):
        return {"name": value}
    if not isinstance(value, Mapping):
        raise _err(source, key, value, "a mapping")
    return dict(value)


def _int(source: str, key: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _err(source, key, value, f"an integer >= {minimum}")
    return value


def _resolve(target: str, source: str, key: str) -> Any:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise _err(source, key, target, "'package.module:callable'")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise _err(source, key, target, f"an importable 'module:callable' ({exc})") from None


@dataclass
class StudySpec:
    """A validated study description. Build it with :meth:`from_dict` or :func:`load_spec`,
    then :meth:`build` the :class:`~paretoforge.search.study.Study`."""

    name: str
    source: str = "<dict>"
    seed: int = 0
    problem: dict[str, Any] | None = None
    space: dict[str, Any] | None = None
    evaluator: dict[str, Any] | None = None
    objectives: list[dict[str, Any]] = field(default_factory=list)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "nsga2"})
    budget: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    asynchronous: bool = False
    fidelity: float = 1.0
    backend: dict[str, Any] = field(default_factory=lambda: {"name": "inprocess"})
    storage: str | None = None
    output: str | None = None
    reference_point: list[float] | None = None
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    # -- parsing ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> StudySpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: the study must be a mapping of keys {sorted(_TOP)}, found {type(data).__name__}")
        unknown = [k for k in data if k not in _TOP]
        if unknown:
            raise SpecError(f"{source}: unknown key(s) {unknown}; allowed keys: {sorted(_TOP)}")
        if "name" not in data or not isinstance(data["name"], str) or not data["name"].strip():
            raise _err(source, "name", data.get("name"), _TOP["name"])
        if not _NAME.fullmatch(data["name"]):  # it names the store file and the output folder
            raise _err(source, "name", data["name"], "letters, digits, '.', '_' and '-' (no '/', no spaces), "
                       "not starting with '.'")
        spec = cls(name=data["name"], source=source, raw=dict(data))
        spec.seed = _int(source, "seed", data.get("seed", 0))
        if spec.seed >= 2**32:
            raise _err(source, "seed", spec.seed, "an integer in [0, 2**32 - 1] (numpy, Optuna and pymoo take no other)")
        spec.description = str(data.get("description", ""))
        if "problem" in data:
            if any(k in data for k in ("space", "evaluator")):
                raise SpecError(f"{source}: give either 'problem' or 'space' + 'evaluator', not both")
            spec.problem = _mapping(source, "problem", data["problem"])
            if spec.problem.get("name") not in PROBLEMS:
                raise _err(source, "problem.name", spec.problem.get("name"), str(PROBLEMS.names()))
        else:
            for key in ("space", "evaluator", "objectives"):
                if key not in data:
                    raise SpecError(f"{source}: missing key '{key}' (or give a benchmark 'problem' instead)")
            spec.space = _mapping(source, "space", data["space"])
            spec.evaluator = _mapping(source, "evaluator", data["evaluator"])
        objs = data.get("objectives", [])
        if not isinstance(objs, list) or ("objectives" in data and not objs):
            raise _err(source, "objectives", objs, _TOP["objectives"])
        for i, o in enumerate(objs):
            o = {"name": o} if isinstance(o, str) else o
            if not isinstance(o, Mapping) or "name" not in o:
                raise _err(source, f"objectives[{i}]", o, "{name, direction, metric, noisy}")
            bad = [k for k in o if k not in ("name", "direction", "metric", "noisy")]
            if bad:
                raise _err(source, f"objectives[{i}]", bad, "keys name, direction, metric, noisy")
            if o.get("direction", "minimize") not in ("minimize", "maximize"):
                raise _err(source, f"objectives[{i}].direction", o.get("direction"), "minimize, maximize")
            if not isinstance(o.get("noisy", False), bool):
                raise _err(source, f"objectives[{i}].noisy", o.get("noisy"), "true or false")
            spec.objectives.append(dict(o))
        cons = data.get("constraints", [])
        if not isinstance(cons, list):
            raise _err(source, "constraints", cons, _TOP["constraints"])
        for i, c in enumerate(cons):
            if not isinstance(c, Mapping) or "metric" not in c or not ({"upper", "lower"} & set(c)):
                raise _err(source, f"constraints[{i}]", c, "{name, metric, upper and/or lower}")
            bad = [k for k in c if k not in ("name", "metric", "upper", "lower")]
            if bad:
                raise _err(source, f"constraints[{i}]", bad, "keys name, metric, upper, lower")
            for bound in ("upper", "lower"):
                v = c.get(bound)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                    raise _err(source, f"constraints[{i}].{bound}", v, "a finite number")
            if not isinstance(c["metric"], str):
                raise _err(source, f"constraints[{i}].metric", c["metric"], "a metric name")
            spec.constraints.append(dict(c))
        spec.optimizer = _mapping(source, "optimizer", data.get("optimizer", {"name": "nsga2"}))
        if spec.optimizer.get("name") not in OPTIMIZERS:
            raise _err(source, "optimizer.name", spec.optimizer.get("name"), str(OPTIMIZERS.names()))
        spec.budget = _mapping(source, "budget", data.get("budget", {}))
        bad = [k for k in spec.budget if k not in ("evaluations", "seconds", "max_failures")]
        if bad or not ({"evaluations", "seconds"} & set(spec.budget)):
            raise _err(source, "budget", data.get("budget"),
                       "{evaluations: N and/or seconds: S, optionally max_failures: F}")
        if "max_failures" in spec.budget:
            _int(source, "budget.max_failures", spec.budget["max_failures"], 0)
        if "evaluations" in spec.budget:
            _int(source, "budget.evaluations", spec.budget["evaluations"], 1)
        if "seconds" in spec.budget and (
                isinstance(spec.budget["seconds"], bool) or not isinstance(spec.budget["seconds"], (int, float))
                or spec.budget["seconds"] <= 0):
            raise _err(source, "budget.seconds", spec.budget["seconds"], "a positive number")
        if "batch_size" in data:
            spec.batch_size = _int(source, "batch_size", data["batch_size"], 1)
        if "asynchronous" in data:
            if not isinstance(data["asynchronous"], bool):
                raise _err(source, "asynchronous", data["asynchronous"], "true, false")
            spec.asynchronous = data["asynchronous"]
        if "fidelity" in data:
            f = data["fidelity"]
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or f <= 0:
                raise _err(source, "fidelity", f, _TOP["fidelity"])
            spec.fidelity = float(data["fidelity"])
        spec.backend = _mapping(source, "backend", data.get("backend", {"name": "inprocess"}))
        backend_keys = {"inprocess": {"name"}, "pool": {"name", "workers", "devices", "chunk_size"}}
        backend_keys["process_pool"] = backend_keys["pool"]
        backend_keys["ray"] = {"name", "workers", "address", "gpus_per_worker", "cpus_per_worker", "chunk_size", "init"}
        bname = spec.backend.get("name", "inprocess")
        if "name" not in spec.backend and spec.backend:
            raise _err(source, "backend.name", None, f"one of {sorted(backend_keys)} next to the settings "
                       f"{sorted(spec.backend)}, e.g. {{name: ray, workers: 2}}")
        if bname not in backend_keys:
            raise _err(source, "backend.name", bname, "inprocess, pool, ray")
        bad = sorted(set(spec.backend) - backend_keys[bname])
        if bad:
            raise _err(source, "backend", bad, f"keys {sorted(backend_keys[bname])} for backend '{bname}'")
        for key in ("workers", "chunk_size"):
            if spec.backend.get(key) is not None:
                _int(source, f"backend.{key}", spec.backend[key], 1)
        for key in ("gpus_per_worker", "cpus_per_worker"):
            v = spec.backend.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
                raise _err(source, f"backend.{key}", v, "a number >= 0 (e.g. 1, or 0.5 to share a GPU)")
        if spec.backend.get("address") is not None and not isinstance(spec.backend["address"], str):
            raise _err(source, "backend.address", spec.backend["address"],
                       "a Ray address: 'auto', or 'ray://host:10001'; leave it out for a local cluster")
        if spec.backend.get("init") is not None and not isinstance(spec.backend["init"], dict):
            raise _err(source, "backend.init", spec.backend["init"], "a mapping of ray.init keyword arguments")
        for key in ("storage", "output"):
            if key in data and not isinstance(data[key], str):
                raise _err(source, key, data[key], _TOP[key])
        spec.storage, spec.output = data.get("storage"), data.get("output")
        if "reference_point" in data:
            rp = data["reference_point"]
            if not isinstance(rp, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                   and math.isfinite(x) for x in rp):
                raise _err(source, "reference_point", rp, _TOP["reference_point"])
            spec.reference_point = [float(x) for x in rp]
        return spec

    # -- building ---------------------------------------------------------------------------
    def output_dir(self, override: str | None = None) -> Path:
        if override:
            return Path(override)
        if self.output:
            return Path(self.output)
        return Path("runs") / self.name

    def storage_url(self, out_dir: Path) -> str:
        return self.storage or f"sqlite:///{(out_dir / (self.name + '.db')).resolve()}"

    def _space(self) -> Space:
        assert self.space is not None
        opts = dict(self.space)
        if "variables" in opts:
            bad = [k for k in opts if k not in ("variables", "name")]
            if bad:
                raise _err(self.source, "space", bad, "keys variables, name (or a registered space name)")
            if not isinstance(opts["variables"], list) or not opts["variables"]:
                raise _err(self.source, "space.variables", opts["variables"], "a non-empty list of variables")
            variables = []
            for i, v in enumerate(opts["variables"]):
                try:
                    variables.append(variable_from_spec(v))
                except ConfigError as exc:
                    raise SpecError(f"{self.source}: key 'space.variables[{i}]': {exc}") from None
            try:
                return Space(variables, name=opts.get("name", self.name))
            except ConfigError as exc:
                raise SpecError(f"{self.source}: key 'space.variables': {exc}") from None
        name = opts.pop("name", None)
        factory = SPACES.get(name) if name in SPACES else None
        if factory is None:
            raise _err(self.source, "space.name", name, f"{SPACES.names()} or give 'variables'")
        try:
            return factory(**opts)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{self.source}: key 'space': {exc}") from None

    def _evaluator(self) -> Any:
        assert self.evaluator is not None
        opts = dict(self.evaluator)
        if "factory" in opts:
            factory = _resolve(opts.pop("factory"), self.source, "evaluator.factory")
        else:
            name = opts.pop("name", None)
            if name not in EVALUATORS:
                raise _err(self.source, "evaluator.name", name, f"{EVALUATORS.names()} or 'factory: module:callable'")
            factory = EVALUATORS.get(name)
        try:
            return factory(**opts)
        except TypeError as exc:
            raise SpecError(f"{self.source}: key 'evaluator': {exc}") from None

    def build(self, *, resume: bool = False, output: str | None = None, storage: str | None = None) -> Any:
        """The :class:`~paretoforge.search.study.Study` this spec describes."""
        from .study import Study

        out_dir = self.output_dir(output)
        out_dir.mkdir(parents=True, exist_ok=True)
        reference_point = self.reference_point
        if self.problem is not None:
            opts = dict(self.problem)
            cls = PROBLEMS.get(opts.pop("name"))
            try:
                problem = cls(**opts)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"{self.source}: key 'problem': {exc}") from None
            space, evaluator = problem.space, problem.evaluator()
            objectives = [Objective(**o) for o in self.objectives] if self.objectives else problem.objectives
            known = [o.source for o in problem.objectives] + sorted(space.costs)
            for i, o in enumerate(objectives):
                if o.source not in known:
                    raise _err(self.source, f"objectives[{i}]", o.source,
                               f"a metric of problem '{self.problem['name']}': {known}")
            same = [(o.source, o.direction) for o in objectives] == [(o.source, o.direction) for o in problem.objectives]
            if reference_point is None and same:  # the problem's point is for its own objectives only
                reference_point = [float(x) for x in problem.reference_point]
        else:
            space, evaluator = self._space(), self._evaluator()
            objectives = [Objective(**o) for o in self.objectives]
        metrics = [c["metric"] for c in self.constraints]
        try:  # unnamed bounds on one metric get numbered names (one name each)
            constraints = [MetricConstraint(name=c.get("name", f"{c['metric']}_bound" if metrics.count(c["metric"]) == 1
                                                       else f"{c['metric']}_bound{i}"),
                                            metric=c["metric"], upper=c.get("upper"), lower=c.get("lower"))
                           for i, c in enumerate(self.constraints)]
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{self.source}: key 'constraints': {exc}") from None
        opt = dict(self.optimizer)
        name = opt.pop("name")
        cnames = [c.name for c in space.constraints] + [c.name for c in constraints]
        try:
            optimizer = create_optimizer(name, space, objectives, seed=self.seed, constraint_names=cnames, **opt)
            optimizer.use_fidelity(self.fidelity)  # checked here too, so that the error names the file
        except (TypeError, ValueError, ImportError) as exc:
            raise SpecError(f"{self.source}: key 'optimizer': {exc}") from None
        spec_record = {
            "source": self.source, "study": self.raw, "optimizer": self.optimizer, "budget": self.budget,
            "objectives": [o.describe() for o in objectives], "constraints": [c.describe() for c in constraints],
            "space": space.describe(), "seed": self.seed, "fidelity": self.fidelity,
        }
        if reference_point is not None:
            spec_record["reference_point"] = reference_point
        if self.problem is not None:
            spec_record["problem"] = self.problem
        if reference_point is not None and len(reference_point) != len(objectives):
            raise _err(self.source, "reference_point", reference_point,
                       f"a list of {len(objectives)} numbers, one per objective {[o.name for o in objectives]}")
        url = storage or self.storage_url(out_dir)
        try:
            store = get_storage(url)
        except Exception as exc:  # noqa: BLE001 - any driver error: name the key
            raise SpecError(f"{self.source}: key 'storage': cannot open {url}: {type(exc).__name__}: {exc}") from None
        try:
            backend = get_backend(self.backend)
        except (TypeError, ValueError, ImportError) as exc:
            raise SpecError(f"{self.source}: key 'backend': {exc}") from None
        try:
            return Study(
                self.name, space, evaluator, objectives, optimizer=optimizer, constraints=constraints,
                storage=store, backend=backend, seed=self.seed,
                batch_size=self.batch_size, fidelity=self.fidelity, reference_point=reference_point, resume=resume,
                spec=spec_record,
            )
        except SpecError:
            raise
        except ConfigError as exc:  # e.g. objective or constraint names given twice: the file is at fault
            msg = str(exc)
            raise SpecError(msg if msg.startswith(f"{self.source}:") else f"{self.source}: {msg}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (plain
    PyYAML keeps the last value without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden by own keys
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue  # unhashable keys are PyYAML's own error
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | Path, backend: str | None = None) -> StudySpec:
    """Read and validate a YAML study file; ``backend`` (YAML text: a backend's name or a mapping,
    e.g. from ``paretoforge run --backend``) replaces the file's ``backend`` key."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such study file")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file; a study file is YAML") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    source = str(path)
    if backend is not None:
        try:
            override = yaml.load(backend, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise SpecError(f"--backend: not valid YAML: {exc}") from None
        if isinstance(data, dict):
            data = {**data, "backend": override}
            source = f"{path} (its 'backend' given by --backend)"
    return StudySpec.from_dict(data, source=source)
