"""benchmarks/guided_diffusion_heldout.py on the tiny testbed: held-out FD of runs' best configurations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
from _diffusion_helpers import tiny_assets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import guided_diffusion_heldout as gh  # noqa: E402
from guided_diffusion import _spec  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _assets(tmp_path_factory):
    yield tiny_assets(tmp_path_factory.mktemp("pfcache"))


def _smoke():
    spec = _spec(argparse.Namespace(task="solver_schedule", device="cpu", samples=64, cpu_smoke=True))
    return spec._space(), spec._evaluator()


def _runs_file(path: Path, space) -> list[dict]:
    base = list(space.baselines().values())
    runs = [{"optimizer": o, "seed": s, "points": [[30.0 + s], None, [20.0 + s + i]],
             "best_config": base[(i + s) % len(base)]} for i, o in enumerate(["nsga2", "guided"]) for s in (0, 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    return runs


def test_heldout_values_are_the_evaluators_measurements_and_resume(tmp_path):
    space, ev = _smoke()
    runs = _runs_file(tmp_path / "r.jsonl", space)
    out = tmp_path / "h.json"
    argv = ["--cpu-smoke", "--runs", str(tmp_path / "r.jsonl"), "--out", str(out), "--noise-seeds", "1", "2"]
    assert gh.main(argv) == 0
    res = json.loads(out.read_text())
    by = {(r["optimizer"], r["seed"]): r for r in res["rows"]}
    for r in runs:
        row = by[(r["optimizer"], r["seed"])]
        cfg = space.validate(r["best_config"])
        want = [ev.measure(cfg, 64, ns)["fd"] for ns in (1, 2)]
        assert row["heldout_per_seed"] == pytest.approx(want, rel=1e-6)
        assert row["heldout_fd"] == pytest.approx(sum(want) / 2, rel=1e-6)
        assert row["search_fd"] == min(p[0] for p in r["points"] if p is not None)
    g, n = res["table"]["guided"], res["table"]["nsga2"]
    diffs = [by[("guided", s)]["heldout_fd"] - by[("nsga2", s)]["heldout_fd"] for s in (0, 1)]
    assert g["paired"][0] == pytest.approx(sum(diffs) / 2)
    assert g["paired"][2] == 2 and "paired" not in n
    # one measurement per configuration and seed, however many runs share the configuration
    log = Path(str(out) + ".jsonl")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    distinct = {space.key(space.validate(r["best_config"])) for r in runs}
    assert len(distinct) < len(runs)  # some runs share their best configuration
    assert sorted((m["config"], m["noise_seed"]) for m in lines) == sorted((k, ns) for k in distinct for ns in (1, 2))
    # a second call reads the measurements back instead of repeating them
    for m in lines:
        m["fd"] = 1.0
    log.write_text("".join(json.dumps(m) + "\n" for m in lines))
    assert gh.main(argv) == 0
    assert all(r["heldout_fd"] == 1.0 for r in json.loads(out.read_text())["rows"])
    assert len(log.read_text().splitlines()) == len(lines)
    # the space's baselines, each measured on the same held-out seeds (once for a baseline that
    # is also a run's best configuration)
    log.unlink()
    assert gh.main(argv + ["--with-baselines"]) == 0
    both = distinct | {space.key(space.validate(c)) for c in space.baselines().values()}
    assert len(log.read_text().splitlines()) == 2 * len(both)
    got = {b["baseline"]: b for b in json.loads(out.read_text())["baselines"]}
    assert set(got) == set(space.baselines())
    name, cfg = next(iter(space.baselines().items()))
    assert got[name]["heldout_per_seed"] == pytest.approx([ev.measure(space.validate(cfg), 64, ns)["fd"] for ns in (1, 2)],
                                                          rel=1e-6)


def test_bad_input_names_the_file_and_the_fix(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps({"optimizer": "guided", "seed": 3, "points": [[1.0]]}) + "\n")
    with pytest.raises(SystemExit, match=r"r\.jsonl, line 1: run guided seed 3 has no 'best_config'"):
        gh.main(["--cpu-smoke", "--runs", str(f), "--out", str(tmp_path / "h.json")])
    with pytest.raises(SystemExit, match="0 is the search noise"):
        gh.main(["--cpu-smoke", "--runs", str(f), "--out", str(tmp_path / "h.json"), "--noise-seeds", "0", "1"])


def test_model_schedule_fronts_are_remeasured_on_the_heldout_seeds(tmp_path):
    import numpy as np

    from paretoforge.search.pareto import hypervolume

    spec = _spec(argparse.Namespace(task="model_schedule", device="cpu", samples=64, cpu_smoke=True))
    space, ev = spec._space(), spec._evaluator()
    zoo = list(space.zoo)
    cfgs = [{"models": [zoo[i % len(zoo)]] * space.nfe} for i in range(3)]
    lat = [space.schedule_latency(c) for c in cfgs]
    # search points (fd, latency): the third is dominated by the first, the fourth sent after budget 3
    run = {"optimizer": "guided", "points": [[50.0, lat[0]], None, [60.0, lat[0] * 1.01], [40.0, lat[1]]],
           "configs": [cfgs[0], cfgs[1], cfgs[2], cfgs[1]]}
    nsga = {**run, "optimizer": "nsga2", "points": [[55.0, lat[0]], None, [40.0, lat[2]], [30.0, lat[1]]]}
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({**r, "seed": s}) + "\n" for r in (run, nsga) for s in (0, 1)))
    out = tmp_path / "m.json"
    assert gh.main(["--cpu-smoke", "--task", "model_schedule", "--runs", str(tmp_path / "r.jsonl"), "--out", str(out),
                    "--noise-seeds", "1", "2", "--at", "guided=3", "nsga2=4"]) == 0
    res = json.loads(out.read_text())
    g = next(r for r in res["rows"] if r["optimizer"] == "guided@3")
    assert g["front"] == [cfgs[0]] and g["search_points"] == [[50.0, lat[0]]]
    want = np.mean([ev.measure(space.validate(cfgs[0]), 64, ns)["fd"] for ns in (1, 2)])
    assert g["heldout_points"] == [[pytest.approx(want, rel=1e-6), lat[0]]]
    ref = res["reference_point"]
    assert g["search_hv"] == pytest.approx(hypervolume([[50.0, lat[0]], [60.0, lat[0] * 1.01]], ref))
    assert g["search_hv"] > 0
    assert g["heldout_hv"] == pytest.approx(hypervolume(g["heldout_points"], ref))
    n = next(r for r in res["rows"] if r["optimizer"] == "nsga2@4")
    assert n["front"] == [cfgs[0], cfgs[1]]  # the large model's schedule is dominated by the medium one
    diff = g["heldout_hv"] - n["heldout_hv"]
    assert res["table"]["guided@3"]["paired"] == pytest.approx([diff, 0.0, 2])
    with pytest.raises(SystemExit, match="--at"):
        gh.main(["--cpu-smoke", "--task", "model_schedule", "--runs", str(tmp_path / "r.jsonl"), "--out", str(out),
                 "--at", "guided=x"])


def test_pick_compares_the_search_best_with_the_validation_best(tmp_path):
    space, ev = _smoke()
    base = list(space.baselines().values())[:4]
    # search values: base[2] best, base[0] second (sent twice: one distinct configuration), base[3] third
    run = {"optimizer": "guided", "seed": 0, "points": [[5.0], [9.0], [1.0], [3.0], None, [5.0]],
           "configs": [base[0], base[1], base[2], base[3], base[1], base[0]]}
    (tmp_path / "r.jsonl").write_text(json.dumps(run) + "\n" + json.dumps({**run, "seed": 1}) + "\n")
    out = tmp_path / "p.json"
    argv = ["--cpu-smoke", "--runs", str(tmp_path / "r.jsonl"), "--out", str(out), "--pick", "3",
            "--pick-seeds", "4", "--noise-seeds", "1", "2"]
    assert gh.main(argv) == 0
    res = json.loads(out.read_text())
    row = res["rows"][0]
    top = [base[2], base[3], base[0]]
    assert row["search"] == [1.0, 3.0, 5.0]
    val = [ev.measure(space.validate(c), 64, 4)["fd"] for c in top]
    test = [sum(ev.measure(space.validate(c), 64, s)["fd"] for s in (1, 2)) / 2 for c in top]
    assert row["validation"] == pytest.approx(val, rel=1e-6) and row["test"] == pytest.approx(test, rel=1e-6)
    k = min(range(3), key=val.__getitem__)
    assert row["picked"] == k and row["test_validated_best"] == pytest.approx(test[k], rel=1e-6)
    assert row["test_search_best"] == pytest.approx(test[0], rel=1e-6)
    assert res["table"]["guided"]["paired"][0] == pytest.approx(test[k] - test[0], rel=1e-6, abs=1e-9)
    with pytest.raises(SystemExit, match="apart from --noise-seeds"):
        gh.main(argv[:-3] + ["1", "2"])  # the validation seeds may not be the test seeds
    # among the first 2 sent only (base[0] 5.0, base[1] 9.0): the search's best is base[0]
    out2 = tmp_path / "p2.json"
    assert gh.main(argv[:4] + [str(out2)] + argv[5:] + ["--pick-sent", "2"]) == 0
    row2 = json.loads(out2.read_text())["rows"][0]
    assert row2["optimizer"] == "guided@2" and row2["search"] == [5.0, 9.0]
    assert row2["test_search_best"] == pytest.approx(test[2], rel=1e-6)
    with pytest.raises(SystemExit, match="--pick-sent"):
        gh.main(argv + ["--pick-sent", "0"])
