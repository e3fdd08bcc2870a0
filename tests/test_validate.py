"""``paretoforge validate``: a study's chosen configurations evaluated again under other settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _cli_helpers import NoisyQuadratic

from paretoforge.search.cli import main
from paretoforge.search.results import load_results
from paretoforge.search.spec import SpecError
from paretoforge.search.validate import choose_trials, parse_overrides, validate_study
from paretoforge.spaces.variables import ConfigError


def _run(tmp_path: Path, n: int = 24, **evaluator) -> tuple[Path, object]:
    spec = {"name": "noisy", "seed": 3,
            "space": {"variables": [{"name": "x", "kind": "real", "low": 0, "high": 1}]},
            "evaluator": {"factory": "_cli_helpers:make_noisy", **evaluator},
            "objectives": [{"name": "f"}], "optimizer": {"name": "random"},
            "budget": {"evaluations": n}, "output": str(tmp_path / "out")}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 0
    return path, load_results(f"sqlite:///{tmp_path / 'out' / 'noisy.db'}", "noisy")


def test_top_trials_are_measured_again_with_the_overrides_and_the_best_is_picked_on_them(tmp_path):
    _, results = _run(tmp_path)
    doc = validate_study(results, {"noise_seed": [1, 2, 3]}, select="top", top=5)
    done = sorted(results.completed(), key=lambda t: t.metrics["f"])
    assert [c["trial"] for c in doc["configurations"]] == [t.number for t in done[:5]]
    held = NoisyQuadratic(noise_seed=[1, 2, 3])
    for c, t in zip(doc["configurations"], done):
        assert c["search"] == {"f": t.metrics["f"]}
        assert c["validation"]["f"] == pytest.approx(held.value(t.config["x"]))
        assert c["error"] is None
    vals = {c["trial"]: c["validation"]["f"] for c in doc["configurations"]}
    assert doc["best"] == [min(vals, key=vals.get)]
    assert doc["evaluator_settings"]["noise_seed"] == [1, 2, 3] and doc["overrides"] == {"noise_seed": [1, 2, 3]}
    # without overrides the search values come back exactly (the evaluator is deterministic)
    same = validate_study(results, {}, select="top", top=3)
    assert all(c["validation"] == c["search"] for c in same["configurations"])
    # the front of one objective is the best trial; explicit trial numbers are kept in order
    assert [t.number for t in choose_trials(results, "front")] == [done[0].number]
    nums = sorted(t.number for t in done[:2])
    assert [c["trial"] for c in validate_study(results, {}, trials=nums)["configurations"]] == nums


def test_failed_and_nan_revaluations_are_kept_and_never_best(tmp_path):
    _, results = _run(tmp_path)
    done = sorted(results.completed(), key=lambda t: t.metrics["f"])[:6]
    xs = sorted(t.config["x"] for t in done)
    doc = validate_study(results, {"fail_above": xs[3], "nan_above": xs[1]}, select="top", top=6)
    by_x = {c["config"]["x"]: c for c in doc["configurations"]}
    assert by_x[xs[0]]["validation"] is not None
    assert "NaN" in by_x[xs[2]]["error"] and by_x[xs[2]]["validation"] is None
    assert "is above" in by_x[xs[5]]["error"]
    ok = {c["trial"] for c in doc["configurations"] if c["validation"]}
    assert doc["best"] and set(doc["best"]) <= ok
    # an evaluator that answers the wrong number of configurations fails them all
    class Short(NoisyQuadratic):
        def evaluate(self, configs, fidelity=1.0):
            return super().evaluate(configs[1:], fidelity)

    short = validate_study(results, {}, select="top", top=3, evaluator=Short())
    assert short["best"] == [] and all("2 results for 3" in c["error"] for c in short["configurations"])
    # every selected configuration failing: nothing is best
    none = validate_study(results, {"fail_above": -1.0}, select="top", top=2)
    assert none["best"] == [] and all(c["error"] for c in none["configurations"])


def test_cli_writes_the_document_and_prints_the_table(tmp_path, capsys):
    path, results = _run(tmp_path)
    out = tmp_path / "v.yaml"
    assert main(["validate", str(path), "--set", "noise_seed=[1, 2]", "--select", "top", "--top", "3",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    doc = yaml.safe_load(out.read_text())
    assert len(doc["configurations"]) == 3 and doc["overrides"] == {"noise_seed": [1, 2]}
    assert "search -> validation" in text and "*" in text
    assert main(["validate", str(path), "--set", "fail_above=-1", "-o", str(out)]) == 1  # nothing validated


def test_bad_input_names_the_key_and_the_fix(tmp_path, capsys):
    path, results = _run(tmp_path, n=4)
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["noise_seed"])
    with pytest.raises(ConfigError, match="chooses the evaluator itself"):
        parse_overrides(["factory=x:y"])
    with pytest.raises(SpecError, match=r"study\.yaml \(validation settings\): key 'evaluator'.*typo"):
        validate_study(results, {"typo": 1})
    with pytest.raises(ConfigError, match="no completed trials at its fidelity 1 numbered"):
        validate_study(results, {}, trials=[999])
    with pytest.raises(ConfigError, match="'top' must be an integer >= 1"):
        validate_study(results, {}, select="top", top=0)
    assert main(["validate", str(path), "--set", "noise_seed"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    # a benchmark problem's study has no evaluator settings to change
    spec = {"name": "zdt", "problem": {"name": "zdt1"}, "optimizer": {"name": "random"}, "budget": {"evaluations": 4},
            "output": str(tmp_path / "z")}
    (tmp_path / "z.yaml").write_text(yaml.safe_dump(spec))
    assert main(["run", str(tmp_path / "z.yaml"), "--no-progress"]) == 0
    assert main(["validate", str(tmp_path / "z.yaml")]) == 2
    assert "validation needs a study with an 'evaluator' section" in capsys.readouterr().err


def test_an_objective_that_is_a_cost_of_the_space_comes_from_the_space(tmp_path):
    """The expert-pruning study's ``experts_kept`` is a cost of its space, not a metric of the
    perplexity evaluator: validation takes it from the space, as the search did."""
    spec = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny_moe_experts.yaml").read_text())
    spec.update(budget={"evaluations": 4}, output=str(tmp_path / "out"), evaluator={**spec["evaluator"], "n_rows": 4})
    path = tmp_path / "moe.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--no-progress"]) == 0
    results = load_results(f"sqlite:///{tmp_path / 'out' / 'tiny-moe-experts.db'}", "tiny-moe-experts")
    doc = validate_study(results, {"n_rows": 2}, select="top", top=2)
    rows = doc["configurations"]
    assert len(rows) == 2 and all(r["error"] is None for r in rows)
    for r in rows:
        assert r["validation"]["experts_kept"] == r["search"]["experts_kept"]
        assert r["validation"]["perplexity"] != r["search"]["perplexity"]  # measured again, on other rows
    assert doc["best"]
