"""CPU-sized YAML studies of each diffusion space, end to end (tiny testbed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _diffusion_helpers import tiny_assets

from paretoforge.search.spec import load_spec

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@pytest.fixture(scope="module", autouse=True)
def tiny(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny CPU models run fastest on one thread; restored after the module
    yield tiny_assets(tmp_path_factory.mktemp("pfcache"))
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["solver_schedule", "model_schedule", "checkpoint_combination"])
def test_cpu_study_runs_end_to_end(name, tmp_path):
    spec = load_spec(STUDIES / f"diffusion_{name}_cpu.yaml")
    study = spec.build(output=str(tmp_path))
    study.optimize(n_evaluations=spec.budget["evaluations"])
    res = study.results()
    done = res.completed()
    assert len(done) == spec.budget["evaluations"]
    assert all(t.metrics["fd"] > 0 for t in done)
    assert res.pareto_trials()
    seeds = study.space.initial_configs()[: spec.optimizer["population_size"]]
    keys = {t.key for t in done}
    assert all(study.space.key(c) in keys for c in seeds)
    if name == "model_schedule":
        budget = study.space.budget_ms
        assert budget is not None and all(t.metrics["latency_ms"] <= budget + 1e-9 for t in done)
        assert len(res.pareto_trials()) >= 1
    if name == "checkpoint_combination":
        from paretoforge.diffusion.export import export_trial, reproduce

        best = min(done, key=lambda t: t.metrics["fd"])
        url = f"sqlite:///{(tmp_path / (spec.name + '.db')).resolve()}"
        path = export_trial(url, best.number, tmp_path / "best.safetensors", device="cpu")
        assert reproduce(path, "tiny", "cpu")["fd"] == pytest.approx(best.metrics["fd"], rel=1e-5)


def test_guided_checkpoint_combination_study_starts_from_the_baselines(tmp_path):
    """The guided checkpoint-combination study (GPU-sized YAML, one objective: FD) on the tiny
    testbed, in batches of 2: the space's baselines are evaluated first, then guided's
    proposals; every trial completes and none repeats."""
    import yaml

    from paretoforge.search.spec import StudySpec

    path = STUDIES / "diffusion_checkpoint_combination_guided.yaml"
    d = yaml.safe_load(path.read_text())
    assert d["optimizer"] == {"name": "guided", "initial": "space"}
    d["optimizer"]["n_initial"] = 4
    d["batch_size"] = 2
    d["space"].update(assets="tiny", n_checkpoints=8)
    d["evaluator"].update(assets="tiny", device="cpu", threads=1, nfe=4, n_samples=64)
    spec = StudySpec.from_dict(d, source=str(path))
    study = spec.build(output=str(tmp_path))
    baselines = study.space.initial_configs()
    n = len(baselines) + 4
    study.optimize(n_evaluations=n)
    done = sorted(study.results().completed(), key=lambda t: t.number)
    assert len(done) == n and len({t.key for t in done}) == n
    assert [t.key for t in done[: len(baselines)]] == [study.space.key(c) for c in baselines]
    assert study.optimizer.state()["real_evals"] == n and study.optimizer.round > 0


def test_guided_solver_schedule_study_in_a_trust_region(tmp_path):
    """The guided solver-schedule study (GPU-sized YAML) on the tiny testbed, with a trust region
    added: the baselines first, then guided proposals in the trust region (each within half the box side of the best
    result in its continuous coordinates: a categorical coordinate is clipped in the unit cube,
    and its choice is the bin the clipped value falls in); every trial completes, none repeats."""
    import numpy as np
    import yaml

    from paretoforge.search.spec import StudySpec

    path = STUDIES / "diffusion_solver_schedule_guided.yaml"
    d = yaml.safe_load(path.read_text())
    assert d["optimizer"] == {"name": "guided", "initial": "space"}
    d["optimizer"]["trust_region"] = 0.8
    d["space"]["nfe"] = 4
    d["evaluator"].update(assets="tiny", device="cpu", threads=1, n_samples=64)
    spec = StudySpec.from_dict(d, source=str(path))
    study = spec.build(output=str(tmp_path))
    space, opt = study.space, study.optimizer
    baselines = space.initial_configs()
    n = len(baselines) + 3
    study.optimize(n_evaluations=n)
    done = sorted(study.results().completed(), key=lambda t: t.number)
    assert len(done) == n and len({t.key for t in done}) == n
    assert [t.key for t in done[: len(baselines)]] == [space.key(c) for c in baselines]
    assert opt.state()["real_evals"] == n and opt.round > 0
    best = min(done[: len(baselines)], key=lambda t: t.metrics["fd"])
    half = 0.5 * opt.trust_region + 1e-9
    first = done[len(baselines)]  # the first guided proposal, drawn around the best baseline
    real = np.array([p.kind == "float" for p in space.flat_params()])
    assert real.sum() == 5  # 4 step sizes and the final time
    assert np.abs(space.to_unit(first.config) - space.to_unit(best.config))[real].max() <= half


def test_validate_remeasures_a_diffusion_study_on_heldout_noise(tmp_path):
    from paretoforge.evaluators.diffusion.digits_fd import DigitsFD
    from paretoforge.search.results import load_results
    from paretoforge.search.validate import validate_study

    spec = load_spec(STUDIES / "diffusion_solver_schedule_cpu.yaml")
    study = spec.build(output=str(tmp_path))
    study.optimize(n_evaluations=spec.budget["evaluations"])
    study.close()
    results = load_results(spec.storage_url(spec.output_dir(str(tmp_path))), spec.name)
    doc = validate_study(results, {"noise_seed": [1, 2], "n_samples": 96}, select="top", top=3)
    held = DigitsFD(task="solver_schedule", assets="tiny", device="cpu", model="large", n_samples=96, noise_seed=[1, 2])
    for c in doc["configurations"]:
        cfg = study.space.validate(c["config"])
        assert c["validation"]["fd"] == pytest.approx(held.measure(cfg)["fd"], rel=1e-6)
        assert c["validation"]["fd"] != pytest.approx(c["search"]["fd"], rel=1e-6)  # other noise, other value
    vals = {c["trial"]: c["validation"]["fd"] for c in doc["configurations"]}
    assert doc["best"] == [min(vals, key=vals.get)]
