"""The ``paretoforge`` command: run, show, plot, export, validate and optuna-export studies."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spaces.variables import ConfigError
from .results import MissingStoreError, StudyResults, load_results
from .storage import StudyExistsError
from .trial import TrialState

__all__ = ["main"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list) and len(v) > 12:
        return "[" + ", ".join(map(str, v[:12])) + ", ...]"
    return str(v)


def front_table(results: StudyResults, max_config_chars: int = 60) -> str:
    """The Pareto front as a text table (trial, objectives, knee mark, configuration)."""
    front = results.pareto_trials()
    if not front:
        return f"study '{results.name}': no feasible completed trial yet"
    knee = results.knee()
    names = [o.name for o in results.objectives]
    header = ["trial", *names, "knee", "config"]
    rows = []
    for t in front:
        cfg = ", ".join(f"{k}={_fmt(v)}" for k, v in t.config.items())
        if len(cfg) > max_config_chars:
            cfg = cfg[: max_config_chars - 3] + "..."
        rows.append([str(t.number), *(_fmt(t.metrics[o.source]) for o in results.objectives),
                     "*" if knee is not None and t.number == knee.number else "", cfg])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


class _Progress:
    """tqdm bar: completed evaluations with ETA, and the current hypervolume."""

    def __init__(self, total: int | None, already: int, enabled: bool) -> None:
        self.bar = None
        self.failed = 0
        self._next_hv = 0.0
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=min(already, total or already), unit="eval", dynamic_ncols=True)

    def __call__(self, study: Any, new_trials: Sequence[Any]) -> None:
        if self.bar is None:
            return
        n = sum(t.state.value == "complete" for t in new_trials)
        self.failed += sum(t.state.value == "failed" for t in new_trials)
        now = time.monotonic()
        if now >= self._next_hv or (self.bar.total and self.bar.n + n >= self.bar.total):
            try:
                hv = study.hypervolume()
                post = {"hv": f"{hv:.6g}"}
                post.update({k: str(v) for k, v in study.optimizer.state().items() if k != "name"})
                if self.failed:
                    post["failed"] = str(self.failed)
                self.bar.set_postfix(post, refresh=False)
            except ValueError:
                pass
            # keep the hypervolume's share of the run small however large the study grows
            spent = time.monotonic() - now
            self._next_hv = time.monotonic() + max(0.5, 20 * spent)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _open_results(args: argparse.Namespace) -> tuple[StudyResults, str, Path]:
    """Results from a study file (its storage and name) or from --storage/--study, with the
    folder that default output files go to: the study's output folder, else the current one."""
    from .spec import load_spec

    if args.file:
        spec = load_spec(args.file)
        folder = spec.output_dir(args.out)
        url = args.storage or spec.storage_url(folder)
        return _read_store(url, args.study or spec.name, f"'paretoforge run {args.file}'"), url, folder
    if not args.storage:
        raise ConfigError("give a study FILE or --storage URL (and --study NAME)")
    return _read_store(args.storage, args.study, "'paretoforge run FILE'"), args.storage, Path(".")


def _first_line(exc: Exception) -> str:
    """``Type: first line of the message`` (database drivers append pages of SQL and links)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _trial_numbers(text: str | None) -> list[int] | None:
    """``--trials 3,5,8`` as numbers; anything else is a clear error."""
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--trials {text!r}: expected comma-separated trial numbers, e.g. --trials 3,5,8") from None


def _read_store(url: str, name: str | None, how: str) -> StudyResults:
    """A stored study for reading; a missing SQLite file or an unreadable store is a clear error
    (and nothing is created: reading never writes an empty store)."""
    try:
        return load_results(url, name)
    except MissingStoreError as exc:
        raise ConfigError(f"no study store at {exc.path}: run the study first ({how}), or give the --out or "
                          "--storage it was run with") from None
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver error: name the store
        raise ConfigError(f"cannot read the study store {url}: {_first_line(exc)}") from None


def _write_outputs(results: StudyResults, out: Path, url: str) -> list[Path]:
    from .export import export_records, write_export
    from .plotting import plot_study

    paths = [plot_study(results, out / "front.png")]
    paths.append(write_export(export_records(results, "front", url), out / "export.yaml"))
    (out / "front.txt").write_text(front_table(results, 200) + "\n")
    paths.append(out / "front.txt")
    return paths


def cmd_run(args: argparse.Namespace) -> int:
    from .spec import load_spec

    spec = load_spec(args.file, backend=args.backend)
    out = spec.output_dir(args.out)
    study = spec.build(resume=args.resume, output=str(out), storage=args.storage)
    url = getattr(study.storage, "url", ":memory:")
    n = spec.budget.get("evaluations")
    # the budget counts evaluations at every fidelity (a multi-fidelity start's screens too)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    already = len(done)
    if args.resume:
        low = sum(t.fidelity != study.fidelity for t in done)
        print(f"resuming study '{study.name}' from {url}: {already} completed evaluations stored"
              + (f" ({low} of them at a lower fidelity)" if low else ""), flush=True)
        if not study.trials:
            print(f"note: {url} held no trials of study '{study.name}': it starts from scratch "
                  "(give the --out or --storage of the run to resume, if it had one)", file=sys.stderr)
    progress = _Progress(n, already, not args.no_progress)
    code = 0
    try:
        study.optimize(n_evaluations=n, timeout=spec.budget.get("seconds"), callbacks=[progress],
                       max_failures=spec.budget.get("max_failures"), asynchronous=spec.asynchronous)
    except KeyboardInterrupt:
        code = 130
        try:  # the workers stop at once, without their running evaluations (no second Ctrl-C needed)
            study.backend.close(now=True)
        except TypeError:  # a backend whose close() takes no 'now'
            study.backend.close()
        again = " ".join(shlex.quote(a) for a in ["paretoforge", "run", args.file, "--resume"]
                         + (["--out", args.out] if args.out else []) + (["--storage", args.storage] if args.storage else [])
                         + (["--backend", args.backend] if args.backend else []))
        print(f"\ninterrupted: every completed evaluation is stored; continue with '{again}'", file=sys.stderr)
    finally:
        progress.close()
    results = study.results()
    counts = results.counts()
    stopped = counts["interrupted"] + counts["running"]  # running: in flight when the run was stopped
    print(f"\nstudy '{study.name}': {counts['complete']} completed, {counts['failed']} failed, "
          f"{stopped} interrupted evaluations in {url}")
    if counts["failed"]:
        errors = Counter((t.error or "").strip().splitlines()[0] if t.error else "" for t in results.trials
                         if t.state.value == "failed")
        text, k = errors.most_common(1)[0]
        print(f"most common error ({k} of {counts['failed']} failed evaluations): {text}")
    if results.pareto_trials():
        line = _summary_line(results)
        if len(results.objectives) > 1 and spec.problem is not None and not spec.objectives \
                and spec.reference_point is None:
            from .plugins import PROBLEMS

            opts = dict(spec.problem)
            problem = PROBLEMS.get(opts.pop("name"))(**opts)
            line += f"; {results.hypervolume() / problem.best_hypervolume:.4f} of the best front's"
        print(line)
    print(front_table(results))
    for p in _write_outputs(results, out, url):
        print(f"wrote {p}")
    knee = results.knee()
    if knee is not None and hasattr(study.space, "export_model"):  # spaces over real models: the knee's weights
        print(f"wrote {study.space.export_model(knee.config, out / 'knee.safetensors')} (trial {knee.number})")
    study.close()
    if code == 0 and not results.pareto_trials():
        code = 1  # nothing usable came out (no feasible completed evaluation): say so to scripts and CI
    return code


def cmd_show(args: argparse.Namespace) -> int:
    results, url, _ = _open_results(args)
    counts = results.counts()
    print(f"study '{results.name}' in {url}: {counts}")
    if results.pareto_trials():
        print(_summary_line(results))
    print(front_table(results, 200))
    return 0


def _summary_line(results: StudyResults) -> str:
    """One objective: its best value; several: the hypervolume, its reference point, and whether
    that point is the study's own or inferred from this run's front (then it moves as the front
    does, so the figure is not comparable between runs)."""
    if len(results.objectives) == 1:
        best = results.pareto_trials()[0]
        o = results.objectives[0]
        return f"best {o.name}: {best.metrics[o.source]:.6g} (trial {best.number})"
    ref = (results.get_reference_point() * results.signs).tolist()
    hv = results.hypervolume()
    line = f"hypervolume: {hv:.6g} (reference point {[float(f'{x:.6g}') for x in ref]}"
    if results.reference_point is None:
        line += ", inferred from this run's front: set 'reference_point' to compare runs"
    elif hv == 0:
        line += "; no result is better than it in every objective: check 'reference_point'"
    return line + ")"


def cmd_plot(args: argparse.Namespace) -> int:
    from .plotting import plot_study

    results, _, _ = _open_results(args)
    path = plot_study(results, args.output or f"{results.name}_front.png")
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_records, write_export

    results, url, folder = _open_results(args)
    trials = _trial_numbers(args.trials)
    which = "trials" if trials else args.select
    records = export_records(results, which, url, trials)
    path = write_export(records, args.output or folder / f"{results.name}_export.yaml")
    print(f"wrote {path}")
    if not records.get("configurations"):
        print(f"note: no configuration selected: study '{results.name}' has no feasible completed trial "
              f"({results.counts()})", file=sys.stderr)
        return 1
    return 0


def validation_table(doc: dict[str, Any]) -> str:
    """A validation document (:func:`~paretoforge.search.validate.validate_study`) as a text table:
    per trial, each objective's search and validation value, and a mark on the validated best."""
    names = list(doc["configurations"][0]["search"])
    header = ["trial", *(f"{n} (search -> validation)" for n in names), "best"]
    rows = []
    for c in doc["configurations"]:
        val = c["validation"]
        cells = [f"{_fmt(c['search'][n])} -> {_fmt(val[n]) if val else 'failed'}" for n in names]
        rows.append([str(c["trial"]), *cells, "*" if c["trial"] in doc["best"] else ""])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows]
    failed = [c for c in doc["configurations"] if c["error"]]
    lines += [f"trial {c['trial']} failed: {c['error'].splitlines()[0] if c['error'] else ''}" for c in failed]
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    from .export import write_export
    from .validate import parse_overrides, validate_study

    results, _, folder = _open_results(args)
    trials = _trial_numbers(args.trials)
    doc = validate_study(results, parse_overrides(args.set or []), args.select, args.top, trials)
    print(validation_table(doc))
    path = write_export(doc, args.output or folder / f"{results.name}_validation.yaml")
    print(f"wrote {path}")
    return 0 if doc["best"] else 1


def cmd_optuna(args: argparse.Namespace) -> int:
    from .optuna_export import export_to_optuna

    results, _, _ = _open_results(args)
    try:
        export_to_optuna(results, args.to)
    except (ConfigError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable database: name it
        raise ConfigError(f"--to {args.to}: cannot write an Optuna study there ({_first_line(exc)}); "
                          "give a database URL such as sqlite:///optuna.db") from None
    print(f"wrote study '{results.name}' to {args.to}; open it with: optuna-dashboard {args.to}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paretoforge", description="Search the Pareto front of model configurations.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, file_required: bool) -> None:
        if file_required:
            sp.add_argument("file", help="study YAML file")
        else:
            sp.add_argument("file", nargs="?", help="study YAML file (or use --storage and --study)")
        sp.add_argument("--storage", help="study store URL (default: from the study file)")
        sp.add_argument("--out", help="output folder (default: the study's 'output', or runs/<name>)")
        if not file_required:
            sp.add_argument("--study", help="study name inside the store")

    r = sub.add_parser("run", help="run (or --resume) a study from a YAML file")
    common(r, True)
    r.add_argument("--resume", action="store_true", help="continue a stored study of the same name")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--backend", help="the study file's 'backend' for this run, as YAML: a name (inprocess, pool, ray) or "
                   "a mapping such as '{name: ray, address: auto}' (a resumed study may change its backend)")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("show", help="print the Pareto front as a table")
    common(s, False)
    s.set_defaults(fn=cmd_show)

    pl = sub.add_parser("plot", help="PNG of the front and of hypervolume over evaluations")
    common(pl, False)
    pl.add_argument("-o", "--output", help="PNG path")
    pl.set_defaults(fn=cmd_plot)

    e = sub.add_parser("export", help="chosen configurations with metrics and provenance (YAML/JSON)")
    common(e, False)
    e.add_argument("-o", "--output", help="output path (.yaml or .json; default NAME_export.yaml in the study's "
                                          "output folder, or here with --storage)")
    e.add_argument("--select", choices=["front", "knee"], default="front", help="which configurations")
    e.add_argument("--trials", help="comma-separated trial numbers to export instead")
    e.set_defaults(fn=cmd_export)

    v = sub.add_parser("validate", help="evaluate chosen configurations again under other evaluator settings "
                                         "(held-out noise or data, more samples)")
    common(v, False)
    v.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="an evaluator setting for the validation (value read as YAML), e.g. --set 'noise_seed=[1, 2, 3]'; "
                        "repeatable")
    v.add_argument("--select", choices=["front", "knee", "top"], default="front",
                   help="which configurations (front: the Pareto front, one objective: the best trial)")
    v.add_argument("--top", type=int, default=5, help="with --select top: how many of the best trials")
    v.add_argument("--trials", help="comma-separated trial numbers to validate instead")
    v.add_argument("-o", "--output", help="output path (.yaml or .json; default NAME_validation.yaml in the "
                                          "study's output folder, or here with --storage)")
    v.set_defaults(fn=cmd_validate)

    o = sub.add_parser("optuna-export", help="copy the study into an Optuna storage for optuna-dashboard")
    common(o, False)
    o.add_argument("--to", required=True, help="Optuna storage URL, e.g. sqlite:///optuna.db (an Optuna study of the "
                   "same name there is replaced)")
    o.set_defaults(fn=cmd_optuna)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (ConfigError, StudyExistsError, ValueError, KeyError, ImportError) as exc:
        print(f"paretoforge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output went to a pipe that closed early (`paretoforge show ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
