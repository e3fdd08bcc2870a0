"""The ``paretoforge`` command end to end, including ``kill -9`` and ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from paretoforge.search.cli import main
from paretoforge.search.results import load_results
from paretoforge.search.trial import TrialState

TESTS = Path(__file__).resolve().parent


def _study(tmp_path: Path, n: int, evaluator: dict | None = None, optimizer: str = "nsga2") -> Path:
    spec = {
        "name": "cli-test",
        "seed": 7,
        "space": {"variables": [{"name": "x", "kind": "real", "low": 0, "high": 1},
                                {"name": "y", "kind": "ordinal", "choices": [0.0, 0.1, 0.2, 0.4]}]},
        "evaluator": {"factory": "_cli_helpers:make_gate", **(evaluator or {})},
        "objectives": [{"name": "f1"}, {"name": "f2"}],
        "optimizer": {"name": optimizer, "population_size": 6} if optimizer == "nsga2" else {"name": optimizer},
        "budget": {"evaluations": n},
        "output": str(tmp_path / "out"),
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_show_plot_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _study(tmp_path, 30)
    assert main(["run", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "30 completed" in out and "knee" in out
    for name in ("front.png", "export.yaml", "front.txt", "cli-test.db"):
        assert (tmp_path / "out" / name).is_file()
    assert (tmp_path / "out" / "front.png").read_bytes()[:4] == b"\x89PNG"
    exported = yaml.safe_load((tmp_path / "out" / "export.yaml").read_text())
    assert exported["study"] == "cli-test" and exported["configurations"]
    assert sum(c["knee"] for c in exported["configurations"]) == 1
    first = exported["configurations"][0]
    assert set(first) >= {"config", "metrics", "trial", "key", "provenance"}

    assert main(["show", str(path)]) == 0
    assert "trial" in capsys.readouterr().out
    png = tmp_path / "p.png"
    assert main(["plot", str(path), "-o", str(png)]) == 0 and png.is_file()
    js = tmp_path / "knee.json"
    assert main(["export", str(path), "--select", "knee", "-o", str(js)]) == 0
    assert len(json.loads(js.read_text())["configurations"]) == 1

    # a second run without --resume refuses to mix studies; --resume extends the budget
    assert main(["run", str(path), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    spec = yaml.safe_load(path.read_text())
    spec["budget"]["evaluations"] = 40
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress", "--resume"]) == 0
    res = load_results(f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}")
    assert res.counts()["complete"] == 40
    assert len({t.key for t in res.trials}) == 40


def test_optuna_export(tmp_path: Path) -> None:
    import optuna

    path = _study(tmp_path, 12, optimizer="random")
    assert main(["run", str(path), "--no-progress"]) == 0
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert main(["optuna-export", str(path), "--to", url]) == 0
    study = optuna.load_study(study_name="cli-test", storage=url)
    assert len(study.trials) == 12 and len(study.best_trials) >= 1
    assert all("key" in t.user_attrs for t in study.trials)


def test_bad_study_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: a\nproblem: {name: zdt1}\nbudget: {evaluations: 0}\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "budget.evaluations" in err


def test_kill_9_then_resume(tmp_path: Path) -> None:
    """``kill -9`` of a running ``paretoforge run`` loses no completed evaluation; ``--resume``
    ends with exactly the requested count, and only the in-flight evaluation runs again."""
    marker, gate, log = tmp_path / "marker", tmp_path / "gate", tmp_path / "evals.log"
    n, stop_after = 24, 13
    path = _study(tmp_path, n, {"marker": str(marker), "gate": str(gate), "stop_after": stop_after,
                                "log": str(log)})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-c", "import sys; from paretoforge.search.cli import main; sys.exit(main(sys.argv[1:]))"]
    proc = subprocess.Popen([*cli, "run", str(path), "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the study never reached the kill point"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db = f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}"
    before = load_results(db)
    done_before = {t.number: (t.key, t.metrics) for t in before.trials if t.state == TrialState.COMPLETE}
    assert len(done_before) == stop_after
    assert [t.state for t in before.trials].count(TrialState.RUNNING) == 1

    # resume without the gate: evaluations go through
    spec = yaml.safe_load(path.read_text())
    spec["evaluator"] = {"factory": "_cli_helpers:make_gate", "log": str(log)}
    path.write_text(yaml.safe_dump(spec))
    subprocess.run([*cli, "run", str(path), "--no-progress", "--resume"], env=env, check=True,
                   capture_output=True)
    after = load_results(db)
    complete = [t for t in after.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n
    assert len({t.key for t in complete}) == n
    for number, (key, metrics) in done_before.items():
        t = next(t for t in after.trials if t.number == number)
        assert t.state == TrialState.COMPLETE and (t.key, t.metrics) == (key, metrics)
    interrupted = [t for t in after.trials if t.state == TrialState.INTERRUPTED]
    assert len(interrupted) == 1 and interrupted[0].key in {t.key for t in complete}
    # evaluations actually run: n completed + the one killed in flight, nothing else twice
    lines = log.read_text().splitlines()
    assert len(lines) == n + 1
    assert Counter(lines_key.split(" ", 1)[1] for lines_key in lines).most_common(1)[0][1] == 2


def test_all_failed_run_exits_non_zero_and_names_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _study(tmp_path, 5)
    spec = yaml.safe_load(path.read_text())
    spec["objectives"] = [{"name": "f1"}, {"name": "f3"}]  # f3 is measured nowhere
    spec["budget"] = {"evaluations": 5, "max_failures": 1}  # stops before the missing-metric rule (3)
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "0 completed, 2 failed" in out and "most common error" in out and "'f3'" in out


def test_run_asynchronous_from_yaml(tmp_path: Path) -> None:
    path = _study(tmp_path, 12)
    spec = yaml.safe_load(path.read_text())
    spec.update({"asynchronous": True, "batch_size": 3})
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 0
    res = load_results(f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}")
    assert res.counts()["complete"] == 12 and len({t.key for t in res.trials}) == 12


def test_reading_a_missing_or_unreadable_store_is_a_clear_error_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _study(tmp_path, 4, optimizer="random")
    assert main(["show", str(path)]) == 2  # never run
    assert "no study store at" in capsys.readouterr().err and not (tmp_path / "out" / "cli-test.db").exists()
    missing = tmp_path / "missing.db"
    assert main(["show", "--storage", f"sqlite:///{missing}", "--study", "b"]) == 2
    assert f"no study store at {missing}" in capsys.readouterr().err and not missing.exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x89PNG not a database" * 10)
    assert main(["export", "--storage", f"sqlite:///{junk}"]) == 2
    assert "cannot read the study store" in capsys.readouterr().err
    assert main(["run", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["optuna-export", str(path), "--to", "notaurl"]) == 2
    assert "--to notaurl: cannot write an Optuna study there" in capsys.readouterr().err


def test_metric_name_typos_fail_before_or_right_after_the_first_evaluations(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelled metric is an error of the study file: named before any evaluation where the
    metrics are known (a benchmark problem's, a constraint's bound, a predictor setting), and
    otherwise the study stops after a few results that all lack it, instead of using up the budget."""
    cases = {
        "objectives[1]": {"name": "p", "problem": {"name": "zdt1"}, "objectives": ["f1", "f2x"],
                          "budget": {"evaluations": 50}},
        "constraints[0].upper": {"name": "c", "problem": {"name": "zdt1"},
                                 "constraints": [{"metric": "f1", "upper": "small"}], "budget": {"evaluations": 50}},
        "unknown predictor_settings ['ardd']": {
            "name": "g", "problem": {"name": "zdt1"}, "budget": {"evaluations": 50},
            "optimizer": {"name": "guided", "n_initial": 4, "predictor_settings": {"ardd": False}}},
    }
    for i, (expected, spec) in enumerate(cases.items()):
        spec["output"] = str(tmp_path / f"out{i}")
        path = tmp_path / f"s{i}.yaml"
        path.write_text(yaml.safe_dump(spec))
        assert main(["run", str(path), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and expected in err
        assert not (tmp_path / f"out{i}" / f"{spec['name']}.db").exists()  # nothing ran
    path = _study(tmp_path, 50, optimizer="random")
    spec = yaml.safe_load(path.read_text())
    spec["objectives"][1]["metric"] = "f2x"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 1
    counts = load_results(f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}").counts()
    assert counts["failed"] == 3 and counts["complete"] == 0
    assert "['f2x'] are neither in the evaluator's result" in capsys.readouterr().out
    assert main(["export", str(path), "-o", str(tmp_path / "none.yaml")]) == 1  # nothing to export: said so
    assert "no configuration selected" in capsys.readouterr().err


def test_interrupt_names_the_resume_command_with_the_runs_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from paretoforge.search.study import Study

    path = _study(tmp_path, 8, optimizer="random")
    original = Study.optimize

    def stopped(self, *args, **kwargs):
        kwargs["n_evaluations"] = 3
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Study, "optimize", stopped)
    out = tmp_path / "elsewhere"
    assert main(["run", str(path), "--no-progress", "--out", str(out)]) == 130
    assert f"'paretoforge run {path} --resume --out {out}'" in capsys.readouterr().err
    monkeypatch.setattr(Study, "optimize", original)
    assert main(["run", str(path), "--no-progress", "--resume", "--out", str(out)]) == 0
    assert "3 completed evaluations stored" in capsys.readouterr().out
    assert main(["run", str(path), "--no-progress", "--resume"]) == 0  # the default store: a fresh start, said so
    assert "held no trials" in capsys.readouterr().err


def test_summary_line_one_objective_best_and_inferred_reference_said(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """One objective: its best value (a hypervolume at a reference inferred as 1.1 x the best went
    down as the study improved); several without a reference point: the figure says it is inferred."""
    path = _study(tmp_path, 6, optimizer="random")
    spec = yaml.safe_load(path.read_text())
    spec["objectives"] = [{"name": "f1"}]
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    best = min(t.metrics["f1"] for t in load_results(f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}").completed())
    assert f"best f1: {best:.6g} (trial" in out and "hypervolume" not in out
    (tmp_path / "two").mkdir()
    path = _study(tmp_path / "two", 6, optimizer="random")
    assert main(["run", str(path), "--no-progress"]) == 0
    assert "inferred from this run's front: set 'reference_point' to compare runs" in capsys.readouterr().out
    assert main(["export", str(path), "--select", "knee"]) == 0  # by default next to the run's export.yaml
    assert (tmp_path / "two" / "out" / "cli-test_export.yaml").is_file()


def test_a_reference_point_no_result_beats_is_pointed_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"name": "r", "problem": {"name": "zdt1"}, "reference_point": [-1, -1], "budget": {"evaluations": 4},
            "output": str(tmp_path / "out")}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 0
    assert "no result is better than it in every objective: check 'reference_point'" in capsys.readouterr().out


def test_run_backend_option_replaces_the_files_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _study(tmp_path, 4, optimizer="random")
    spec = yaml.safe_load(path.read_text())
    spec["backend"] = {"name": "pool", "workers": 2}
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress", "--backend", "inprocess"]) == 0
    res = load_results(f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}")
    assert res.counts()["complete"] == 4 and all(t.worker.startswith("inprocess:") for t in res.trials)
    capsys.readouterr()
    assert main(["run", str(path), "--no-progress", "--backend", "{name: dask}"]) == 2
    err = capsys.readouterr().err
    assert "given by --backend" in err and "backend.name" in err and "inprocess, pool, ray" in err
    assert main(["run", str(path), "--no-progress", "--backend", "{name: [pool"]) == 2
    assert "--backend: not valid YAML" in capsys.readouterr().err


def test_resume_counts_the_screens_as_the_budget_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A multi-fidelity start's screens count against the budget; the resume line counted only the
    full-fidelity evaluations (6 stored, then '20 completed' in the summary)."""
    spec = {"name": "mf", "problem": {"name": "zdt1", "n_var": 3}, "seed": 0, "budget": {"evaluations": 8},
            "optimizer": {"name": "guided", "n_initial": 3, "low_fidelity": 0.5, "n_low": 4},
            "output": str(tmp_path / "out")}
    path = tmp_path / "mf.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 0
    spec["budget"]["evaluations"] = 10
    path.write_text(yaml.safe_dump(spec))
    capsys.readouterr()
    assert main(["run", str(path), "--no-progress", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "8 completed evaluations stored (4 of them at a lower fidelity)" in out and "10 completed" in out


def test_export_of_chosen_trials_takes_only_completed_ones_and_writes_strict_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Failed, running and low-fidelity trials were exported as results (empty metrics, no state);
    JSON held NaN and Infinity, which strict parsers refuse."""
    from paretoforge.search.export import write_export

    path = _study(tmp_path, 8, evaluator={"stop_after": 0}, optimizer="random")
    assert main(["run", str(path), "--no-progress"]) == 0
    url = f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}"
    from paretoforge.search.storage import get_storage

    store = get_storage(url)
    record = store.get_study("cli-test")
    trials = store.get_trials(record.id)
    trials[1].state = TrialState.FAILED
    trials[2].state = TrialState.RUNNING
    store.finish_trials(trials[1:3])
    capsys.readouterr()
    out = tmp_path / "chosen.json"
    assert main(["export", str(path), "--trials", "0,1,2", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "trials 1 (failed), 2 (running) are not completed evaluations" in err and not out.exists()
    assert main(["export", str(path), "--trials", "0,3", "-o", str(out)]) == 0
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert [(c["trial"], c["state"]) for c in doc["configurations"]] == [(0, "complete"), (3, "complete")]
    write_export({"metrics": {"a": float("nan"), "b": [float("inf"), 1.0]}}, out)
    assert json.loads(out.read_text()) == {"metrics": {"a": None, "b": [None, 1.0]}}


def test_reading_a_store_never_writes_one(tmp_path: Path) -> None:
    """An empty file or an Optuna database given as the store got paretoforge's tables written
    into it; a dialect URL created a new store; a URL with a query was called missing."""
    from paretoforge.search.results import MissingStoreError

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is not a paretoforge study store: it is an empty file"):
        load_results(str(empty))
    assert empty.stat().st_size == 0
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE studies (id INTEGER)")
    before = other.read_bytes()
    with pytest.raises(ValueError, match=r"a database of other tables \(\['studies'\]"):
        load_results(f"sqlite:///{other}")
    assert other.read_bytes() == before
    with pytest.raises(MissingStoreError):
        load_results(f"sqlite+pysqlite:///{tmp_path / 'typo.db'}")
    assert not (tmp_path / "typo.db").exists()
    path = _study(tmp_path, 4, optimizer="random")
    assert main(["run", str(path), "--no-progress"]) == 0
    res = load_results(f"sqlite:///{tmp_path / 'out' / 'cli-test.db'}?timeout=30")
    assert res.counts()["complete"] == 4


def test_validate_measures_at_the_studys_fidelity(tmp_path: Path) -> None:
    """validate re-evaluated at fidelity 1.0 whatever the study's fidelity, so search and
    validation values compared two fidelities."""
    from paretoforge.evaluators.base import EvalResult, Evaluator
    from paretoforge.search import Study
    from paretoforge.search.validate import validate_study
    from paretoforge.spaces import Real, Space

    class Scaled(Evaluator):
        def evaluate(self, configs, fidelity=1.0):
            return [EvalResult({"f1": c["x"] * fidelity, "f2": (1 - c["x"]) * fidelity}) for c in configs]

    space = Space([Real("x", 0.0, 1.0)])
    study = Study("half", space, Scaled(), ["f1", "f2"], optimizer="random", seed=0, fidelity=0.5,
                  storage=f"sqlite:///{tmp_path / 'half.db'}")
    study.optimize(n_evaluations=4)
    doc = validate_study(load_results(f"sqlite:///{tmp_path / 'half.db'}"), {}, evaluator=Scaled())
    assert doc["fidelity"] == 0.5
    assert all(r["validation"] == pytest.approx(r["search"]) for r in doc["configurations"])


def test_knee_of_two_points_does_not_depend_on_units() -> None:
    from paretoforge.search.pareto import knee_point

    assert knee_point([[0.0, 1000.0], [1.0, 0.0]]) == knee_point([[0.0, 1.0], [1000.0, 0.0]])
