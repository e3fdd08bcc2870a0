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
