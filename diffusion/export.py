"""Export a chosen diffusion configuration and reproduce its metric from the exported file.

* solver or model schedules: a YAML file with the evaluator settings, the configuration and the
  resolved sampler (timesteps and per-step decisions), plus the metrics measured at export;
* checkpoint combinations: a safetensors file holding the combined weights (float32) with the
  architecture, coefficients, sampler and metrics in its metadata: it loads without the
  checkpoints.

``python -m paretoforge.diffusion.export reproduce FILE [--n-samples N --noise-seed S [S ...]]``
samples again from the exported file and prints the FD (the mean over the noise seeds) next to
the recorded one. Without options it repeats the measurement the file records under
``measured`` (its noise seeds and sample count), else the evaluator's search setting;
``python -m paretoforge.diffusion.export trial STUDY.db TRIAL OUT`` exports a stored trial.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from .models import load_denoiser
from .sampler import SolverSchedule

__all__ = ["export_config", "export_trial", "reproduce"]

_EVAL_KEYS = ("task", "assets", "model", "solver", "grid", "nfe", "n_samples", "noise_seed")


def export_config(path: str | Path, evaluator: Any, config: Mapping[str, Any],
                  metrics: Mapping[str, float] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``config`` of ``evaluator`` (a :class:`~paretoforge.evaluators.diffusion.DigitsFD`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _, schedule = evaluator.sampler_for(dict(config))
    settings = {"task": evaluator.task, "assets": getattr(evaluator, "assets", None), "model": evaluator.model_name,
                "solver": evaluator.solver, "grid": evaluator.grid, "nfe": int(schedule.nfe),
                "n_samples": evaluator.n_samples, "noise_seed": evaluator.noise_seed,
                "noise_seeds": list(getattr(evaluator, "noise_seeds", [evaluator.noise_seed]))}
    meta = {"evaluator": settings, "config": dict(config), "sampler": schedule.to_dict(),
            "metrics": dict(metrics or {}), "testbed": {"path": str(evaluator.testbed.path),
                                                         "manifest_created": evaluator.testbed.manifest.get("created")},
            **dict(extra or {})}
    meta = json.loads(json.dumps(meta, default=float))
    if evaluator.task == "checkpoint_combination":
        if path.suffix != ".safetensors":
            raise ValueError(f"{path}: combined weights are written as .safetensors")
        tb = evaluator.testbed
        sd = tb.combined_state(config["coef"])
        from safetensors.torch import save_file

        save_file({k: v.detach().float().cpu().contiguous() for k, v in sd.items()}, str(path),
                  metadata={"paretoforge": json.dumps({**meta, "architecture": tb.manifest["checkpoint_run"]["config"]})})
    else:
        path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return path


def _load_meta(path: Path) -> tuple[dict, dict[str, torch.Tensor] | None]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = json.loads((f.metadata() or {})["paretoforge"])
            sd = {k: f.get_tensor(k) for k in f.keys()}
        return meta, sd
    return yaml.safe_load(path.read_text()), None


def _recorded_assets(meta: Mapping[str, Any]) -> str:
    """The testbed an exported file was measured on: its ``assets`` setting, else (files written
    before it was recorded) the testbed folder if it is still there, else the committed one."""
    if meta["evaluator"].get("assets"):
        return str(meta["evaluator"]["assets"])
    folder = Path(str((meta.get("testbed") or {}).get("path", "")))
    return str(folder) if folder.name and (folder / "manifest.json").is_file() else "committed"


def reproduce(path: str | Path, assets: str | None = None, device: str = "auto", n_samples: int | None = None,
              noise_seed: int | Sequence[int] | None = None) -> dict[str, Any]:
    """Sample again from an exported file; returns ``fd`` (mean over the noise seeds), the
    per-seed values and the recorded ``fd`` for comparison, and ``same_testbed``: whether the
    testbed used is the one the file was measured on (its manifest). Defaults: the testbed the
    file records, and its ``measured`` record (noise seeds and sample count of its reported
    metric), else the evaluator's settings."""
    from .testbed import get_testbed

    path = Path(path)
    meta, sd = _load_meta(path)
    ev = meta["evaluator"]
    tb = get_testbed(assets or _recorded_assets(meta), device)
    recorded = (meta.get("testbed") or {}).get("manifest_created")
    same = recorded is None or tb.manifest.get("created") == recorded
    measured = meta.get("measured") or {}
    n = int(n_samples or measured.get("n_samples") or ev["n_samples"])
    if noise_seed is None:  # the seeds the metric was measured with: all of them, as the evaluator averaged
        seeds = [int(x) for x in measured.get("noise_seeds", ev.get("noise_seeds", [ev["noise_seed"]]))]
    else:
        seeds = [int(noise_seed)] if isinstance(noise_seed, int) else [int(x) for x in noise_seed]
    schedule = SolverSchedule.from_dict(meta["sampler"])
    if sd is not None:
        model = load_denoiser(meta["architecture"], sd, tb.device)
        fn = tb.single(model)
    elif ev["task"] == "model_schedule":
        fn = tb.per_call(meta["config"]["models"])
    else:
        fn = tb.single(tb.model(ev["model"]))
    values = [tb.fd(tb.run(fn, schedule, n, s)) for s in seeds]
    return {"fd": float(sum(values) / len(values)), "values": values,
            "recorded_fd": float(meta.get("metrics", {}).get("fd", float("nan"))), "n_samples": n,
            "noise_seeds": seeds, "testbed": str(tb.path), "same_testbed": bool(same)}


def export_trial(storage: str, trial: int, out: str | Path, study: str | None = None, assets: str | None = None,
                 device: str = "auto") -> Path:
    """Export trial ``trial`` of a stored digits study (evaluator settings from the study's spec)."""
    from ..evaluators.diffusion.digits_fd import DigitsFD
    from ..search.results import load_results

    res = load_results(storage, study)
    t = next((t for t in res.trials if t.number == trial), None)
    if t is None:
        raise ValueError(f"{storage}: study '{res.name}' has no trial {trial}")
    opts = dict((res.spec.get("study") or {}).get("evaluator") or {})
    if opts.pop("name", None) != "digits_fd":
        raise ValueError(f"{storage}: study '{res.name}' does not use the digits_fd evaluator")
    if assets is not None:
        opts["assets"] = assets
    ev = DigitsFD(device=device, **{k: v for k, v in opts.items() if k != "device"})
    # what this trial was measured with (a low-fidelity trial used fewer samples)
    measured = {k: t.info[k] for k in ("n_samples", "noise_seeds") if k in (t.info or {})}
    return export_config(out, ev, t.config, t.metrics, {"study": res.name, "trial": trial,
                                                        **({"measured": measured} if measured else {})})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paretoforge.diffusion.export", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reproduce", help="sample again from an exported file and print the FD")
    r.add_argument("file")
    r.add_argument("--assets", help="testbed: committed, tiny or a folder (default: the one the file records)")
    r.add_argument("--device", default="auto")
    r.add_argument("--n-samples", type=int)
    r.add_argument("--noise-seed", type=int, nargs="+", help="one or more noise seeds (FD averaged over them)")
    e = sub.add_parser("trial", help="export a trial of a stored study")
    e.add_argument("storage", help="study database (path or URL)")
    e.add_argument("trial", type=int)
    e.add_argument("out", help=".yaml for schedules, .safetensors for checkpoint combinations")
    e.add_argument("--study")
    e.add_argument("--assets")
    e.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    if a.cmd == "reproduce":
        out = reproduce(a.file, a.assets, a.device, a.n_samples, a.noise_seed)
        if not out["same_testbed"]:
            print(f"warning: {a.file} was measured on another testbed than {out['testbed']} (its manifest differs): "
                  "the FD is not comparable with the recorded one; give --assets of the testbed it names",
                  file=sys.stderr)
        print(json.dumps(out))
    else:
        url = a.storage if "://" in a.storage else f"sqlite:///{Path(a.storage).resolve()}"
        print(export_trial(url, a.trial, a.out, a.study, a.assets, a.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
