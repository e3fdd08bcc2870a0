"""Train the digits testbed: the model zoo, one checkpointed run and the feature classifier.

``python -m paretoforge.diffusion.train --out studies/assets/digits`` (profile ``gpu``: a few
minutes on one GPU) regenerates the committed assets; ``--profile tiny`` trains a CPU-sized
variant in seconds (what the tests use). Everything is seeded through explicit generators.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .classifier import train_classifier
from .data import load_digits_split
from .models import Denoiser, DenoiserConfig, save_state_dicts
from .schedule import VPSchedule

__all__ = ["PROFILES", "Profile", "train_testbed"]


@dataclass(frozen=True)
class RunSpec:
    config: DenoiserConfig
    steps: int
    lr: float
    ema: float | None = 0.999
    cosine: bool = True
    seed: int = 0
    checkpoints: int = 0  # checkpoints saved evenly along the run (raw weights)


@dataclass(frozen=True)
class Profile:
    zoo: dict[str, RunSpec]
    checkpoint_run: RunSpec
    batch: int = 256
    classifier_epochs: int = 40
    classifier_width: int = 32
    extra: dict = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "gpu": Profile(
        zoo={
            "small": RunSpec(DenoiserConfig(32, 2, 64), 8000, 2e-3, seed=1),
            "medium": RunSpec(DenoiserConfig(64, 3, 64), 10000, 2e-3, seed=2),
            "large": RunSpec(DenoiserConfig(160, 5, 64), 12000, 1e-3, seed=3),
        },
        checkpoint_run=RunSpec(DenoiserConfig(64, 3, 64), 12000, 1e-3, ema=None, cosine=False, seed=4,
                               checkpoints=24),
    ),
    "tiny": Profile(
        zoo={
            "small": RunSpec(DenoiserConfig(4, 1, 16), 120, 3e-3, ema=0.9, seed=1),
            "medium": RunSpec(DenoiserConfig(8, 1, 16), 120, 3e-3, ema=0.9, seed=2),
            "large": RunSpec(DenoiserConfig(16, 1, 16), 120, 3e-3, ema=0.9, seed=3),
        },
        checkpoint_run=RunSpec(DenoiserConfig(8, 1, 16), 100, 3e-3, ema=None, cosine=False, seed=4, checkpoints=20),
        batch=128, classifier_epochs=4, classifier_width=8,
    ),
}


def _train_run(spec: RunSpec, x: torch.Tensor, batch: int, device: torch.device, vp: VPSchedule,
               log_every: int = 0) -> tuple[dict[str, torch.Tensor], list[tuple[int, dict[str, torch.Tensor]]], dict]:
    gen = torch.Generator(device=device).manual_seed(spec.seed)
    cpu_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(spec.seed)  # parameter initialisation only; restored below
        model = Denoiser(spec.config).to(device)
    finally:
        torch.random.set_rng_state(cpu_state)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    warm = max(1, spec.steps // 50)

    def lr_at(step: int) -> float:
        if step < warm:
            return spec.lr * (step + 1) / warm
        if not spec.cosine:
            return spec.lr
        return spec.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, spec.steps - warm)))

    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if spec.ema else None
    live = list(model.state_dict().values())
    ema_list = list(ema.values()) if ema is not None else []
    every = spec.steps // spec.checkpoints if spec.checkpoints else 0
    ckpts: list[tuple[int, dict[str, torch.Tensor]]] = []
    use_amp = device.type == "cuda"
    x = x.to(device)
    t0, losses = time.perf_counter(), []
    for step in range(spec.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        idx = torch.randint(0, len(x), (batch,), device=device, generator=gen)
        x0 = x[idx] + (torch.rand(x[idx].shape, device=device, generator=gen) - 0.5) / 8.0  # dequantise
        t = vp.t_min + (vp.t_max - vp.t_min) * torch.rand(batch, device=device, generator=gen)
        eps = torch.randn(x0.shape, device=device, generator=gen)
        a, s = vp.alpha_sigma(t)
        xt = a.view(-1, 1, 1, 1) * x0 + s.view(-1, 1, 1, 1) * eps
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = model(xt, t)
        loss = torch.nn.functional.mse_loss(pred.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        if ema is not None:
            with torch.no_grad():
                torch._foreach_mul_(ema_list, spec.ema)
                torch._foreach_add_(ema_list, live, alpha=1 - spec.ema)
        if every and (step + 1) % every == 0:
            ckpts.append((step + 1, {k: v.detach().clone() for k, v in model.state_dict().items()}))
        if log_every and (step + 1) % log_every == 0:
            print(f"  step {step + 1}/{spec.steps} loss {torch.stack(losses[-log_every:]).mean().item():.4f}", flush=True)
    if use_amp:
        torch.cuda.synchronize()
    final = ema if ema is not None else model.state_dict()
    tail = torch.stack(losses[-max(1, spec.steps // 10):]).mean().item()
    info = {"config": asdict(spec.config), "params": model.n_params, "steps": spec.steps, "lr": spec.lr,
            "ema": spec.ema, "cosine": spec.cosine, "seed": spec.seed, "final_loss": tail,
            "train_seconds": round(time.perf_counter() - t0, 2)}
    return {k: v.detach().clone() for k, v in final.items()}, ckpts, info


def _job(args: tuple) -> tuple:
    spec, x, batch, device, log_every = args
    sd, ckpts, info = _train_run(spec, x, batch, torch.device(device), VPSchedule(), log_every)
    cpu = lambda d: {k: v.cpu() for k, v in d.items()}  # noqa: E731
    return cpu(sd), [(s, cpu(c)) for s, c in ckpts], info


def train_testbed(out: str | Path, profile: str = "gpu", device: str = "auto", log_every: int = 0,
                  jobs: int = 1) -> dict:
    """Train everything into ``out`` and return the manifest (also written as manifest.json)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; allowed: {sorted(PROFILES)}")
    p = PROFILES[profile]
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vp = VPSchedule()
    split = load_digits_split()
    manifest: dict = {"profile": profile, "device": str(dev), "torch": torch.__version__,
                      "data": {"split_seed": 0, "n_train": len(split.x_train), "n_test": len(split.x_test)},
                      "schedule": asdict(vp), "zoo": {}, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    zoo_sd = {}
    runs = [*p.zoo.items(), ("checkpoint_run", p.checkpoint_run)]
    work = [(spec, split.x_train, p.batch, str(dev), log_every) for _, spec in runs]
    if jobs > 1:  # independent seeded runs in parallel processes (small models leave the GPU idle)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(work)), mp_context=mp.get_context("spawn")) as pool:
            done = list(pool.map(_job, work))
    else:
        done = [_job(w) for w in work]
    for (name, _), (sd, _, info) in zip(runs[:-1], done[:-1]):
        zoo_sd[name] = sd
        manifest["zoo"][name] = info
        print(f"  {name}: {info['params']} params, loss {info['final_loss']:.4f}, {info['train_seconds']} s", flush=True)
    save_state_dicts(out / "zoo.safetensors", zoo_sd, {"zoo": {k: v["config"] for k, v in manifest["zoo"].items()}})
    _, ckpts, info = done[-1]
    info["checkpoint_steps"] = [s for s, _ in ckpts]
    manifest["checkpoint_run"] = info
    save_state_dicts(out / "checkpoints.safetensors", {f"ckpt{i:03d}": sd for i, (_, sd) in enumerate(ckpts)},
                     {"config": info["config"], "steps": info["checkpoint_steps"]})
    print(f"  {len(ckpts)} checkpoints, {info['train_seconds']} s", flush=True)
    clf = train_classifier(split.x_train, split.y_train, epochs=p.classifier_epochs, width=p.classifier_width,
                           device=dev)
    with torch.no_grad():
        acc = (clf(split.x_test.to(dev)).argmax(1).cpu() == split.y_test).float().mean().item()
    manifest["classifier"] = {"width": p.classifier_width, "features": clf.n_features, "epochs": p.classifier_epochs,
                              "test_accuracy": acc}
    print(f"classifier test accuracy {acc:.4f}", flush=True)
    save_state_dicts(out / "classifier.safetensors", {"classifier": clf.state_dict()},
                     {"width": p.classifier_width})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="assets folder to write")
    ap.add_argument("--profile", default="gpu", choices=sorted(PROFILES))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--log-every", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="train the runs in this many parallel processes")
    a = ap.parse_args(argv)
    train_testbed(a.out, a.profile, a.device, a.log_every, a.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
