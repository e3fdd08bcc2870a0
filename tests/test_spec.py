"""YAML studies: the schema, and errors that name the file, the key, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from paretoforge.search.spec import SpecError, StudySpec, load_spec

GOOD = """
name: t
seed: 3
space:
  variables:
    - {name: x, kind: real, low: 0, high: 1}
    - {name: k, kind: sequence, length: 3, choices: [2, 4, 8], ordered: true}
evaluator: {factory: "_cli_helpers:make_gate"}
objectives: [{name: f1}, {name: f2, direction: minimize}]
optimizer: {name: random}
budget: {evaluations: 5}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text)
    return p


def test_good_spec_parses(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.name == "t" and spec.seed == 3 and spec.budget == {"evaluations": 5}
    assert spec.optimizer == {"name": "random"}


def test_a_noisy_objective_reaches_the_study(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD.replace("direction: minimize", "direction: minimize, noisy: true")))
    assert spec.objectives[1] == {"name": "f2", "direction": "minimize", "noisy": True}
    study = spec.build(output=str(tmp_path / "out"))
    assert [o.noisy for o in study.objectives] == [False, True]
    assert study.spec["objectives"][1]["noisy"] is True and "noisy" not in study.spec["objectives"][0]


def test_same_schema_from_python() -> None:
    import yaml

    a = StudySpec.from_dict(yaml.safe_load(GOOD))
    assert a.space == yaml.safe_load(GOOD)["space"] and a.source == "<dict>"


@pytest.mark.parametrize(
    "edit, key, allowed",
    [
        (lambda t: t + "colour: red\n", "colour", "allowed keys"),
        (lambda t: t.replace("name: random", "name: nsgaa"), "optimizer.name", "nsga2"),
        (lambda t: t.replace("budget: {evaluations: 5}", "budget: {evaluations: -1}"), "budget.evaluations",
         "integer >= 1"),
        (lambda t: t.replace("budget: {evaluations: 5}", "budget: {trials: 5}"), "budget", "evaluations"),
        (lambda t: t.replace("seed: 3", "seed: three"), "seed", "integer"),
        (lambda t: t.replace("direction: minimize", "direction: down"), "objectives[1].direction", "maximize"),
        (lambda t: t.replace("direction: minimize", "noisy: sometimes"), "objectives[1].noisy", "true or false"),
        (lambda t: t.replace("name: t\n", ""), "name", "study name"),
        (lambda t: t.replace("name: t\n", "name: ../../escape\n"), "name", "no '/'"),
        (lambda t: t + "fidelity: .nan\n", "fidelity", "a positive number"),
        (lambda t: t + "fidelity: -1\n", "fidelity", "a positive number"),
        (lambda t: t + "reference_point: [.nan, 1.1]\n", "reference_point", "list of numbers"),
        (lambda t: t + "backend: {name: pool, workers: 0}\n", "backend.workers", "integer >= 1"),
        (lambda t: t + "backend: {name: ray, gpus_per_worker: -1}\n", "backend.gpus_per_worker", "a number >= 0"),
        (lambda t: t + "backend: {name: ray, address: 10001}\n", "backend.address", "ray://host:10001"),
        (lambda t: t + "backend: {name: ray, devices: auto}\n", "backend", "cpus_per_worker"),
        (lambda t: t + "backend: {name: dask}\n", "backend.name", "inprocess, pool, ray"),
        (lambda t: t + "backend: {workers: 2}\n", "backend.name", "{name: ray, workers: 2}"),
        (lambda t: t + "constraints: [{metric: f1, upper: small}]\n", "constraints[0].upper", "a finite number"),
    ],
)
def test_schema_errors_name_file_key_and_allowed(tmp_path: Path, edit, key: str, allowed: str) -> None:
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    msg = str(info.value)
    assert str(path) in msg and key in msg and allowed in msg


def test_bad_variable_is_reported_at_build(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("kind: real", "kind: reel"))
    with pytest.raises(SpecError) as info:
        load_spec(path).build(output=str(tmp_path / "out"))
    msg = str(info.value)
    assert str(path) in msg and "space.variables[0]" in msg and "reel" in msg and "real" in msg


def test_bad_optimizer_setting_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: random}", "name: nsga2, populaton_size: 4}"))
    with pytest.raises(SpecError) as info:
        load_spec(path).build(output=str(tmp_path / "out"))
    assert "optimizer" in str(info.value) and "populaton_size" in str(info.value)


def test_unreadable_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(SpecError, match="no such study file"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="missing key 'evaluator'"):
        load_spec(write(tmp_path, "name: a\nspace: {variables: []}\nobjectives: [a]\nbudget: {evaluations: 1}\n"))


def test_a_key_given_twice_and_a_binary_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"study\.yaml: not valid YAML: key 'budget' is given twice"):
        load_spec(write(tmp_path, GOOD + "budget: {evaluations: 9}\n"))
    anchors = GOOD.replace("optimizer: {name: random}", "base: &b {name: random}\noptimizer: {<<: *b, name: nsga2}")
    with pytest.raises(SpecError, match="unknown key"):  # merges and overrides still load ('base' is not a key)
        load_spec(write(tmp_path, anchors))
    path = tmp_path / "study.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(SpecError, match=r"study\.yaml: not a text file"):
        load_spec(path)


def test_optimizer_settings_are_checked_before_anything_runs(tmp_path: Path) -> None:
    """Unknown settings list the allowed ones; values of the wrong type and initial configurations
    with missing variables name the setting."""
    cases = [("name: nsga2, pop: 4}", "unknown setting(s) ['pop']; allowed: ['crossover_prob'"),
             ("name: nsga2, population_size: ten}", "'population_size' must be an integer >= 2, got 'ten'"),
             ("name: nsga2, initial: [{x: 0.5}]}", "missing ['k']")]
    for setting, expected in cases:
        path = write(tmp_path, GOOD.replace("name: random}", setting))
        with pytest.raises(SpecError) as info:
            load_spec(path).build(output=str(tmp_path / "out"))
        assert str(path) in str(info.value) and "optimizer" in str(info.value) and expected in str(info.value)


def test_unknown_problem_lists_allowed(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, "name: a\nproblem: {name: zdt9}\nbudget: {evaluations: 3}\n"))
    assert "problem.name" in str(info.value) and "zdt1" in str(info.value)


def test_backend_storage_and_reference_point_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, GOOD + "backend: {name: pool, worker: 2}\n"))
    assert "backend" in str(info.value) and "workers" in str(info.value)
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, GOOD + "reference_point: [1.0]\n")).build(output=str(tmp_path / "o"))
    assert "reference_point" in str(info.value) and "2 numbers" in str(info.value) and "study.yaml" in str(info.value)
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, GOOD + "storage: nosuchdriver://x\n")).build(output=str(tmp_path / "o"))
    assert "key 'storage'" in str(info.value) and "study.yaml" in str(info.value)
    spec = load_spec(write(tmp_path, GOOD.replace("budget: {evaluations: 5}", "budget: {evaluations: 5, max_failures: 2}")))
    assert spec.budget["max_failures"] == 2


def test_repeated_variable_names_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{name: k, kind: sequence", "{name: x, kind: sequence"))
    with pytest.raises(SpecError) as info:
        load_spec(path).build(output=str(tmp_path / "o"))
    assert str(path) in str(info.value) and "space.variables" in str(info.value) and "repeat" in str(info.value)


def test_a_problems_reference_point_is_used_only_for_its_own_objectives(tmp_path: Path) -> None:
    """zdt1 with one objective, or with f1 maximised, inherited zdt1's point (1.1, 1.1): an error for
    one objective, a zero hypervolume for the other."""
    one = write(tmp_path, "name: a\nproblem: {name: zdt1, n_var: 3}\nobjectives: [f1]\nbudget: {evaluations: 3}\n")
    assert load_spec(str(one)).build(output=str(tmp_path / "a")).reference_point is None
    flipped = write(tmp_path, "name: b\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 3}\n"
                              "objectives: [{name: f1, direction: maximize}, f2]\n")
    assert load_spec(str(flipped)).build(output=str(tmp_path / "b")).reference_point is None
    same = write(tmp_path, "name: c\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 3}\n")
    assert list(load_spec(str(same)).build(output=str(tmp_path / "c")).reference_point) == [1.1, 1.1]


def test_yaml_flags_typos_in_urls_and_repeated_names_are_named(tmp_path: Path) -> None:
    """A quoted "false" made a variable log-scale; a URL without its slashes became a file of that
    name; two unnamed bounds on one metric clashed; a study's own ConfigErrors lacked the file."""
    flag = write(tmp_path, "name: f\nspace: {variables: [{name: x, kind: real, low: 0.1, high: 1, log: 'false'}]}\n"
                           "evaluator: {name: zdt1}\nobjectives: [f1]\nbudget: {evaluations: 2}\n")
    with pytest.raises(SpecError, match="'log' must be true or false, got 'false'"):
        load_spec(str(flag)).build(output=str(tmp_path / "f"))
    from paretoforge.search.storage import normalize_url

    with pytest.raises(ValueError, match="did you mean 'sqlite:///zdt.db'"):
        normalize_url("sqlite:zdt.db")
    with pytest.raises(ValueError, match="did you mean 'sqlite:///:memory:'"):
        normalize_url(":memory")
    assert normalize_url("my:weird.db").endswith("/my:weird.db")  # a file name with a colon is still a file
    from paretoforge.search.objectives import MetricConstraint  # noqa: F401 - the names the spec gives

    two = write(tmp_path, "name: t\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 2}\n"
                          "constraints: [{metric: f1, upper: 0.9}, {metric: f1, lower: 0.0}]\n")
    study = load_spec(str(two)).build(output=str(tmp_path / "t"))
    assert [c.name for c in study.metric_constraints] == ["f1_bound0", "f1_bound1"]
    dup = write(tmp_path, "name: d\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 2}\n"
                          "objectives: [f1, {name: f1, metric: f2}]\n")
    with pytest.raises(SpecError, match=r"study.yaml: .*objective name\(s\) \['f1'\] are given more than once"):
        load_spec(str(dup)).build(output=str(tmp_path / "d"))
