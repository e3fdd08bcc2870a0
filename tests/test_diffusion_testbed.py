"""The digits testbed: split, FD, tiny training, evaluator, export/reproduce, committed assets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _diffusion_helpers import tiny_assets

from paretoforge.diffusion.data import load_digits_split
from paretoforge.diffusion.export import export_config, reproduce
from paretoforge.diffusion.metrics import frechet_distance, gaussian_stats
from paretoforge.diffusion.testbed import DigitsTestbed, resolve_assets
from paretoforge.evaluators.diffusion import DigitsFD
from paretoforge.spaces.diffusion import CheckpointCombinationSpace, SolverScheduleSpace

COMMITTED = Path(__file__).resolve().parents[1] / "studies" / "assets" / "digits"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny CPU models run fastest on one thread; restored after the module
    yield tiny_assets(tmp_path_factory.mktemp("pfcache"))
    torch.set_num_threads(threads)


def test_split_is_fixed_and_stratified():
    a, b = load_digits_split(), load_digits_split()
    assert len(a.x_train) + len(a.x_test) == 1797 and torch.equal(a.x_test, b.x_test)
    assert a.x_train.shape[1:] == (1, 8, 8) and a.x_train.min() >= -1 and a.x_train.max() <= 1
    counts = np.bincount(a.y_test.numpy(), minlength=10)
    assert counts.min() >= 50


def test_frechet_distance():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(400, 5))
    assert frechet_distance(gaussian_stats(f), gaussian_stats(f)) == pytest.approx(0, abs=1e-8)
    g = f + np.array([1.0, 0, 0, 0, 0])
    assert frechet_distance(gaussian_stats(g), gaussian_stats(f)) == pytest.approx(1.0, abs=1e-8)
    assert np.isnan(frechet_distance(gaussian_stats(np.full((3, 5), np.nan)), gaussian_stats(f)))


def test_tiny_testbed_trains_and_measures(tiny):
    tb = DigitsTestbed(tiny)
    assert tb.zoo_names == ["small", "medium", "large"]
    assert len(tb.checkpoints()) == 20
    assert tb.manifest["classifier"]["test_accuracy"] > 0.5
    assert torch.equal(tb.noise(16, 0), tb.noise(16, 0)) and not torch.equal(tb.noise(16, 0), tb.noise(16, 1))
    real = tb.fd(load_digits_split().x_test)
    assert real < tb.fd(tb.noise(200, 0))
    # one-hot coefficients give the last checkpoint, uniform ones the mean
    last = tb.combined_state([0.0, 1.0])
    assert all(torch.equal(last[k], tb.checkpoints()[-1][k]) for k in last)
    mean = tb.combined_state([1.0, 1.0])
    k = next(iter(mean))
    assert torch.allclose(mean[k], (tb.checkpoints()[-1][k] + tb.checkpoints()[-2][k]) / 2)
    with pytest.raises(FileNotFoundError, match="manifest"):
        resolve_assets(tiny.parent / "nowhere")


def test_evaluator_records_failures_and_is_deterministic(tiny):
    ev = DigitsFD("checkpoint_combination", assets=str(tiny), device="cpu", n_samples=32, nfe=3)
    sp = CheckpointCombinationSpace(4)
    good, bad = sp.last(), {"coef": [0.5, -0.5, 0.0, 0.0]}
    r = ev.evaluate([good, bad, good])
    assert r[0].ok and not r[1].ok and "sum" in r[1].error
    assert r[0].metrics["fd"] == r[2].metrics["fd"] and r[0].metrics["nfe"] == 3
    with pytest.raises(ValueError, match="task"):
        DigitsFD("nonsense", assets=str(tiny))


def test_export_reproduces_the_metric(tiny, tmp_path):
    sv = DigitsFD("solver_schedule", assets=str(tiny), device="cpu", n_samples=32, model="medium")
    cfg = SolverScheduleSpace(nfe=3).baselines()["unipc2-bh1/logsnr"]
    m = sv.measure(cfg)
    p = export_config(tmp_path / "s.yaml", sv, cfg, m)
    rep = reproduce(p, device="cpu")  # the testbed the file records (the committed one was the default)
    assert rep["fd"] == pytest.approx(m["fd"], rel=1e-9) and rep["same_testbed"]
    meta = yaml.safe_load(p.read_text())["evaluator"]
    assert meta["nfe"] == 3 and meta["assets"] == str(tiny)  # the schedule's calls, not the evaluator's default 10
    other = tmp_path / "other"  # the same files under another manifest: flagged as another testbed
    shutil.copytree(tiny, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "created": "elsewhere"}))
    assert not reproduce(p, str(other), "cpu")["same_testbed"]
    # a held-out measurement (other noise seeds, another sample count) is recorded and repeated
    held = [sv.measure(cfg, 24, s)["fd"] for s in (1, 2)]
    p = export_config(tmp_path / "h.yaml", sv, cfg, {"fd": sum(held) / 2},
                      {"measured": {"noise_seeds": [1, 2], "n_samples": 24}})
    rep = reproduce(p, str(tiny), "cpu")
    assert rep["noise_seeds"] == [1, 2] and rep["n_samples"] == 24
    assert rep["values"] == pytest.approx(held, rel=1e-9) and rep["fd"] == pytest.approx(sum(held) / 2, rel=1e-9)
    assert reproduce(p, str(tiny), "cpu", noise_seed=0, n_samples=32)["fd"] == pytest.approx(m["fd"], rel=1e-9)
    cv = DigitsFD("checkpoint_combination", assets=str(tiny), device="cpu", n_samples=32, nfe=3)
    cfg = {"coef": [0.2, -0.1, 0.5, 1.0]}
    m = cv.measure(cfg)
    p = export_config(tmp_path / "c.safetensors", cv, cfg, m)
    rep = reproduce(p, str(tiny), "cpu")
    assert rep["fd"] == pytest.approx(m["fd"], rel=1e-5)


def test_committed_assets():
    """The GPU-trained testbed in the repository: sizes, checkpoints, classifier, latency table."""
    man = json.loads((COMMITTED / "manifest.json").read_text())
    params = [man["zoo"][n]["params"] for n in ("small", "medium", "large")]
    assert params[0] * 3 < params[1] and params[1] * 5 < params[2]
    assert len(man["checkpoint_run"]["checkpoint_steps"]) >= 20
    assert man["classifier"]["test_accuracy"] > 0.97
    lat = json.loads((COMMITTED / "latency.json").read_text())["latency_ms"]
    assert lat["small"] < lat["medium"] < lat["large"]
    total = sum(f.stat().st_size for f in COMMITTED.rglob("*") if f.is_file())
    assert total < 30e6
    tb = DigitsTestbed(COMMITTED)
    x = tb.run(tb.single(tb.model("small")), SolverScheduleSpace(nfe=4).to_schedule(
        SolverScheduleSpace(nfe=4).baselines()["dpmpp2m/logsnr"]), 64)
    assert np.isfinite(tb.fd(x))


def test_an_export_of_a_multi_seed_evaluator_reproduces_its_mean(tiny, tmp_path):
    """Only the first noise seed was recorded, so reproducing gave another FD than the search's mean."""
    sv = DigitsFD("solver_schedule", assets=str(tiny), device="cpu", n_samples=16, model="medium", noise_seed=[0, 3])
    cfg = SolverScheduleSpace(nfe=3).baselines()["unipc2-bh1/logsnr"]
    m = sv.measure(cfg)
    rep = reproduce(export_config(tmp_path / "s.yaml", sv, cfg, m), str(tiny), "cpu")
    assert rep["noise_seeds"] == [0, 3] and rep["fd"] == pytest.approx(m["fd"], rel=1e-9)


def test_evaluating_leaves_the_global_generator_alone(tiny):
    """Building the combined model (and the classifier on first use) drew from torch's global
    generator, so an evaluation moved the random stream of the caller's own seeded code."""
    ev = DigitsFD("checkpoint_combination", assets=str(tiny), device="cpu", n_samples=16, nfe=3)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert ev.evaluate([CheckpointCombinationSpace(4).last()])[0].ok
    assert torch.equal(torch.rand(3), expected)


def test_bad_diffusion_settings_and_results_are_named(tiny):
    for nfe in (0, -3, 2.7, True):
        with pytest.raises(ValueError, match="'nfe' must be an integer >= 1"):
            DigitsFD("checkpoint_combination", assets=str(tiny), device="cpu", n_samples=16, nfe=nfe)
    from paretoforge.spaces.variables import ConfigError

    for bad in (0.0, -0.5, 2.0):
        with pytest.raises(ConfigError, match="'min_increment' must lie in"):
            SolverScheduleSpace(nfe=3, min_increment=bad)
    sp = SolverScheduleSpace(nfe=3)
    cfg = sp.baselines()["unipc2-bh1/logsnr"]
    for key, value, message in (("order", [1, 2, 2, 2], "'order' has 4 entries for 3 steps"),
                                ("prediction", ["data"] * 2, "'prediction' has 2 entries for 3 steps"),
                                ("order", [1, 2.0, 2], "'order' must hold whole numbers"),
                                ("t_end", 0.0, "'t_end' must lie in")):
        with pytest.raises(ConfigError, match=message):
            sp.to_schedule({**cfg, key: value})
    f = gaussian_stats(np.random.default_rng(0).normal(size=(50, 3)))
    with np.errstate(invalid="ignore"):
        assert np.isnan(frechet_distance(f, gaussian_stats(np.full((3, 3), np.inf))))  # the second set too
    assert frechet_distance(f, f) >= 0.0
    tb = DigitsTestbed(tiny)
    x = load_digits_split().x_test[:32].clone()
    x[0, 0, 0, 0] = float("inf")  # a diverged sample: the clamp hid it
    assert np.isnan(tb.fd(x))
    with pytest.raises(ValueError, match="coefficients must be finite"):
        tb.combined_state([float("nan"), 1.0])
    from paretoforge.spaces.diffusion.model_schedule import model_schedule_space

    for fraction, message in ((-1.0, "'budget_fraction' must lie in"), (0.001, "below the cheapest schedule")):
        with pytest.raises(ConfigError, match=message):
            model_schedule_space(assets=str(tiny), nfe=5, latency="params", budget_fraction=fraction)
