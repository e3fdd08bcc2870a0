"""Diffusion spaces on the digits testbed: the results of BENCHMARKS.md "Diffusion spaces".

    python benchmarks/diffusion_results.py --out runs/diffusion            # GPU: the reported run
    python benchmarks/diffusion_results.py --out /tmp/d --cpu-smoke        # CPU: tiny testbed, minutes

Runs the GPU-sized studies of ``studies/diffusion_*.yaml`` (solver schedule at NFE 4, 6, 8; model
schedule front and a budgeted one; checkpoint combination), measures the baselines, and re-measures
finalists at 2,000 samples (``--final-samples``) on the validation noise (to pick one) and on three held-out noise seed sets
(to report mean and std). Also: the classifier's test accuracy, per-model latency (CUDA events,
median after warm-up), the real-vs-real FD floor, and end-to-end sampling time of chosen model
schedules. Writes ``results.json`` and ``results.md`` (tables) and the exported finalists.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = (1, 2, 3)
VALIDATION = 4  # picks the finalist among the top-k; never reported as the result


def log(*a: object) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv[1:]}
        self.md: list[str] = []
        self.n_final = 128 if args.cpu_smoke else (args.final_samples or 2000)
        self.validation_seeds = [int(x) for x in args.validation_seeds.split(",")]
        search = [int(x) for x in args.search_seeds.split(",")] if args.search_seeds else []
        clash = (set(self.validation_seeds) | set(search)) & set(HELD_OUT)
        if clash:
            raise SystemExit(f"--validation-seeds / --search-seeds {sorted(clash)} are held-out seeds "
                             f"{list(HELD_OUT)}: pick others")

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2, default=float))
        (self.out / "results.md").write_text("\n".join(self.md) + "\n")

    # -- studies ----------------------------------------------------------------------------
    def spec(self, yaml_name: str, **space_over: object):
        from paretoforge.search.spec import StudySpec

        path = ROOT / "studies" / yaml_name
        d = yaml.safe_load(path.read_text())
        d["evaluator"]["assets"] = self.a.assets
        if "assets" in d["space"]:
            d["space"]["assets"] = self.a.assets
        d["space"].update(space_over)
        d["evaluator"]["device"] = self.a.device
        if self.a.evaluations:
            d["budget"]["evaluations"] = self.a.evaluations
        if self.a.seed is not None:
            d["seed"] = self.a.seed
        if self.a.search_samples and not self.a.cpu_smoke:
            d["evaluator"]["n_samples"] = self.a.search_samples
        if self.a.search_seeds:
            d["evaluator"]["noise_seed"] = [int(x) for x in self.a.search_seeds.split(",")]
        if self.a.cpu_smoke:
            d["evaluator"].update(n_samples=64, threads=1)
            d["budget"]["evaluations"] = 16
            d["optimizer"]["population_size"] = 8
            d["space"].pop("latency", None) if d["space"]["name"] == "model_schedule" else None
            if d["space"]["name"] == "model_schedule":
                d["space"]["latency"] = "params"
                d["space"]["nfe"] = 4
            if d["space"]["name"] == "checkpoint_combination":
                d["evaluator"]["nfe"] = 4
        return StudySpec.from_dict(d, source=str(path))

    def run_study(self, yaml_name: str, **space_over: object):
        spec = self.spec(yaml_name, **space_over)
        t0 = time.perf_counter()
        study = spec.build(output=str(self.out / "studies" / spec.name),
                           storage=f"sqlite:///{(self.out / 'studies' / (spec.name + '.db')).resolve()}")
        study.optimize(n_evaluations=spec.budget["evaluations"])
        res = study.results()
        log(f"study {spec.name}: {len(res.completed())} evaluations in {time.perf_counter() - t0:.1f} s")
        return study, res, time.perf_counter() - t0

    def held_out(self, ev, config: dict) -> dict:
        vals = [ev.measure(config, self.n_final, s)["fd"] for s in HELD_OUT]
        return {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals}

    def measured(self, held_out: dict) -> dict:
        """The ``measured`` record of an export whose ``fd`` is a held-out mean (reproduce repeats it)."""
        return {"measured": {"noise_seeds": list(HELD_OUT), "n_samples": self.n_final, "fd_values": held_out["values"]},
                "note": f"fd: mean over held-out noise seeds {list(HELD_OUT)}, {self.n_final} samples each"}

    def finalists(self, ev, trials, k: int | None = None) -> tuple[dict, list[dict]]:
        """Top-k by search FD (``--top-k``, default 10), re-measured at n_final on the validation noise
        (``--validation-seeds``, default seed 4; the mean over them) to pick one; the pick is then
        measured on the held-out seeds 1-3."""
        k = k or self.a.top_k
        seeds = self.validation_seeds
        top = sorted(trials, key=lambda t: t.metrics["fd"])[:k]
        rows = []
        for t in top:
            vals = [ev.measure(t.config, self.n_final, s)["fd"] for s in seeds]
            rows.append({"trial": t.number, "config": t.config, "search_fd": t.metrics["fd"],
                         "validation_fd": float(np.mean(vals)), "validation_values": vals})
        best = min(rows, key=lambda r: r["validation_fd"])
        best["held_out"] = self.held_out(ev, best["config"])
        return best, rows

    # -- sections ---------------------------------------------------------------------------
    def testbed(self) -> None:
        from paretoforge.diffusion.testbed import get_testbed

        tb = get_testbed(self.a.assets, self.a.device)
        self.tb = tb
        m = tb.manifest
        lat500, lat2000 = tb.latency_table(500, reps=50), tb.latency_table(2000, reps=50)
        dev_name = torch.cuda.get_device_name() if tb.device.type == "cuda" else "cpu"
        (tb.path / "latency.json").write_text(json.dumps(
            {"device": dev_name, "batch": 500, "latency_ms": lat500, "latency_ms_batch2000": lat2000,
             "method": "median of 50 calls after 5 warm-up calls; CUDA events on a GPU",
             "measured": time.strftime("%Y-%m-%d")}, indent=2))
        floors = {n: tb.noise_floor(n) for n in (64 if self.a.cpu_smoke else 500, self.n_final)}
        self.results["testbed"] = {
            "device": dev_name, "classifier_test_accuracy": m["classifier"]["test_accuracy"],
            "zoo": {k: {"params": v["params"], "config": v["config"], "final_loss": v["final_loss"],
                        "latency_ms_b500": lat500[k], "latency_ms_b2000": lat2000[k]} for k, v in m["zoo"].items()},
            "checkpoints": len(m["checkpoint_run"]["checkpoint_steps"]),
            "noise_floor": {str(n): {"mean": f[0], "std": f[1]} for n, f in floors.items()},
        }
        self.md += ["## Testbed", "", f"device: {dev_name}; classifier test accuracy "
                    f"{m['classifier']['test_accuracy']:.4f}; {len(m['checkpoint_run']['checkpoint_steps'])} checkpoints",
                    "", "| model | params | latency ms (batch 500) | latency ms (batch 2000) |", "|---|---|---|---|"]
        self.md += [f"| {k} | {v['params']:,} | {lat500[k]:.3f} | {lat2000[k]:.3f} |" for k, v in m["zoo"].items()]
        self.md += ["", "real-vs-real FD floor: " + ", ".join(
            f"N={n}: {f[0]:.3f} ± {f[1]:.3f}" for n, f in floors.items()), ""]
        self.save()

    def solver(self) -> None:
        self.results["solver_schedule"] = {}
        self.md += ["## Solver schedule (large model)", "",
                    "| NFE | best baseline (held-out) | its FD | searched FD (held-out) | search evals | s |",
                    "|---|---|---|---|---|---|"]
        for nfe in (int(x) for x in self.a.nfe.split(",")):
            study, res, secs = self.run_study(f"diffusion_solver_schedule_nfe{nfe}.yaml")
            ev, space = study.evaluator, study.space
            base = {}
            for name, cfg in space.baselines().items():
                base[name] = {"search_fd": ev.measure(cfg)["fd"], "held_out": self.held_out(ev, cfg)}
            best_base = min(base, key=lambda b: base[b]["held_out"]["mean"])
            best, rows = self.finalists(ev, res.completed())
            from paretoforge.diffusion.export import export_config

            export_config(self.out / "exports" / f"solver_schedule_nfe{nfe}.yaml", ev, best["config"],
                          {"fd": best["held_out"]["mean"]}, self.measured(best["held_out"]))
            self.results["solver_schedule"][str(nfe)] = {
                "baselines": base, "best_baseline": best_base, "searched": best, "finalists": rows,
                "evaluations": len(res.completed()), "seconds": secs,
                "schedule": ev.sampler_for(best["config"])[1].to_dict()}
            b, s = base[best_base]["held_out"], best["held_out"]
            self.md.append(f"| {nfe} | {best_base} | {b['mean']:.3f} ± {b['std']:.3f} | {s['mean']:.3f} ± {s['std']:.3f} "
                           f"| {len(res.completed())} | {secs:.0f} |")
            self.save()
        self.md.append("")

    def e2e_ms(self, ev, config: dict) -> float:
        fn, sch = ev.sampler_for(config)
        tb = ev.testbed
        x = tb.noise(self.n_final, 0)
        times = []
        for i in range(8):
            if tb.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            tb.run(fn, sch, self.n_final, 0)
            if tb.device.type == "cuda":
                torch.cuda.synchronize()
            if i >= 3:
                times.append(1000 * (time.perf_counter() - t0))
        del x
        return float(statistics.median(times))

    def model_schedule(self) -> None:
        study, res, secs = self.run_study("diffusion_model_schedule.yaml")
        ev, space = study.evaluator, study.space
        front = res.pareto_trials()
        rows = []
        for t in front:
            rows.append({"trial": t.number, "models": t.config["models"], "latency_ms": t.metrics["latency_ms"],
                         "search_fd": t.metrics["fd"], "held_out": self.held_out(ev, t.config)})
        sp = []
        for name, cfg in space.switch_point_configs().items():
            sp.append({"name": name, "models": cfg["models"], "latency_ms": space.schedule_latency(cfg),
                       "search_fd": ev.measure(cfg)["fd"], "held_out": self.held_out(ev, cfg)})
        largest = space.zoo[-1]
        ref = next(r for r in sp if r["name"] == largest)
        ok = [r for r in rows if r["held_out"]["mean"] <= ref["held_out"]["mean"]]
        ok_sp = [r for r in sp if r["held_out"]["mean"] <= ref["held_out"]["mean"]]
        pick = min(ok, key=lambda r: r["latency_ms"]) if ok else None
        pick_sp = min(ok_sp, key=lambda r: r["latency_ms"]) if ok_sp else None
        e2e = {"largest": self.e2e_ms(ev, {"models": ref["models"]})}
        if pick:
            e2e["searched"] = self.e2e_ms(ev, {"models": pick["models"]})
            from paretoforge.diffusion.export import export_config

            export_config(self.out / "exports" / "model_schedule.yaml", ev, {"models": pick["models"]},
                          {"fd": pick["held_out"]["mean"], "latency_ms": pick["latency_ms"]},
                          self.measured(pick["held_out"]))
        if pick_sp:
            e2e["switch_point"] = self.e2e_ms(ev, {"models": pick_sp["models"]})
        # the budgeted study: repair keeps every evaluated schedule within 2/3 of the largest model's latency
        bstudy, bres, bsecs = self.run_study("diffusion_model_schedule_budget.yaml")
        bbest, _ = self.finalists(bstudy.evaluator, bres.completed(), k=3)
        lat_b = bstudy.space.schedule_latency(bbest["config"])
        over = [t.number for t in bres.completed() if t.metrics["latency_ms"] > bstudy.space.budget_ms + 1e-9]
        self.results["model_schedule"] = {
            "latency_ms": space.latency_ms, "front": rows, "switch_point": sp, "largest": ref,
            "searched_pick": pick, "switch_point_pick": pick_sp, "end_to_end_ms_batch": e2e,
            "evaluations": len(res.completed()), "seconds": secs,
            "budgeted": {"budget_ms": bstudy.space.budget_ms, "best": bbest, "latency_ms": lat_b,
                         "evaluations": len(bres.completed()), "over_budget_trials": over, "seconds": bsecs}}
        self.md += ["## Model schedule (NFE 10, DPM-Solver++(2M))", "",
                    f"largest model only: latency {ref['latency_ms']:.3f} ms, held-out FD "
                    f"{ref['held_out']['mean']:.3f} ± {ref['held_out']['std']:.3f}; "
                    f"end-to-end {e2e['largest']:.2f} ms", ""]
        for lbl, p in (("searched", pick), ("switch_point", pick_sp)):
            if p:
                self.md.append(f"- cheapest {lbl} schedule with FD <= largest: {p['models']} latency "
                               f"{p['latency_ms']:.3f} ms ({ref['latency_ms'] / p['latency_ms']:.2f}x lower), held-out FD "
                               f"{p['held_out']['mean']:.3f} ± {p['held_out']['std']:.3f}; end-to-end "
                               f"{e2e.get(lbl if lbl != 'switch_point' else 'switch_point', float('nan')):.2f} ms")
            else:
                self.md.append(f"- no {lbl} schedule reaches the largest model's held-out FD")
        self.md += ["", "| front (searched) latency ms | held-out FD |", "|---|---|"]
        self.md += [f"| {r['latency_ms']:.3f} | {r['held_out']['mean']:.3f} ± {r['held_out']['std']:.3f} |"
                    for r in sorted(rows, key=lambda r: r["latency_ms"])]
        self.md += ["", f"budgeted study (budget {bstudy.space.budget_ms:.3f} ms): best {bbest['config']['models']} "
                    f"latency {lat_b:.3f} ms, held-out FD {bbest['held_out']['mean']:.3f} ± {bbest['held_out']['std']:.3f}; "
                    f"trials over budget: {len(over)} of {len(bres.completed())}", ""]
        self.save()

    def checkpoint(self) -> None:
        study, res, secs = self.run_study("diffusion_checkpoint_combination.yaml")
        ev, space = study.evaluator, study.space
        base = {name: {"search_fd": ev.measure(cfg)["fd"], "held_out": self.held_out(ev, cfg),
                       "coef": cfg["coef"]} for name, cfg in space.baselines().items()}
        best, rows = self.finalists(ev, res.completed())
        from paretoforge.diffusion.export import export_config, reproduce

        path = export_config(self.out / "exports" / "checkpoint_combination.safetensors", ev, best["config"],
                             {"fd": best["validation_fd"]},
                             {"measured": {"noise_seeds": [VALIDATION], "n_samples": self.n_final},
                              "note": f"fd: validation noise (seed {VALIDATION}), {self.n_final} samples"})
        rep = reproduce(path, self.a.assets, self.a.device, self.n_final, VALIDATION)
        emas = {k: v for k, v in base.items() if k.startswith("ema")}
        unis = {k: v for k, v in base.items() if k.startswith("uniform")}
        best_ema = min(emas, key=lambda k: emas[k]["held_out"]["mean"])
        best_uni = min(unis, key=lambda k: unis[k]["held_out"]["mean"])
        self.results["checkpoint_combination"] = {"baselines": base, "searched": best, "finalists": rows,
                                                  "reproduced": rep, "evaluations": len(res.completed()),
                                                  "seconds": secs, "best_ema": best_ema, "best_uniform": best_uni}
        self.md += ["## Checkpoint combination", "", "| candidate | search FD | held-out FD (2000 x 3 seeds) |",
                    "|---|---|---|"]
        for name in ("last", best_ema, best_uni):
            b = base[name]
            self.md.append(f"| {name} | {b['search_fd']:.3f} | {b['held_out']['mean']:.3f} ± {b['held_out']['std']:.3f} |")
        self.md.append(f"| searched (trial {best['trial']}) | {best['search_fd']:.3f} | {best['held_out']['mean']:.3f} ± "
                       f"{best['held_out']['std']:.3f} |")
        self.md += ["", f"exported weights reproduce FD {rep['fd']:.4f} (recorded {rep['recorded_fd']:.4f})",
                    f"coefficients: {[round(c, 3) for c in best['config']['coef']]}", ""]
        self.save()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--assets", default="committed")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sections", default="testbed,solver,model,checkpoint")
    ap.add_argument("--evaluations", type=int, help="override the studies' evaluation budgets")
    ap.add_argument("--search-seeds", help="noise seeds the searches average over, e.g. 0,5 (default: the YAML's)")
    ap.add_argument("--search-samples", type=int, help="samples per search evaluation (default: the YAML's)")
    ap.add_argument("--final-samples", type=int, help="samples per finalist / held-out measurement (default 2000)")
    ap.add_argument("--validation-seeds", default=str(VALIDATION),
                    help="noise seeds (mean FD) that pick the finalist among the top-k, e.g. 4,5,6,7")
    ap.add_argument("--top-k", type=int, default=10, help="search finalists re-measured on the validation seeds")
    ap.add_argument("--seed", type=int, help="override the studies' (optimizer) seed")
    ap.add_argument("--nfe", default="4,6,8", help="solver-schedule NFEs to run, e.g. 6 or 4,8")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny testbed, tiny budgets (checks the script)")
    a = ap.parse_args()
    if a.cpu_smoke:
        a.assets, a.device = "tiny", "cpu"
        torch.set_num_threads(1)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    r = Runner(a)
    t0 = time.perf_counter()
    todo = a.sections.split(",")
    r.testbed()
    for name, fn in (("solver", r.solver), ("model", r.model_schedule), ("checkpoint", r.checkpoint)):
        if name in todo:
            log("section", name)
            fn()
    r.results["seconds"] = time.perf_counter() - t0
    r.save()
    log(f"done in {time.perf_counter() - t0:.0f} s")
    print("\n".join(r.md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
