"""The digits testbed at run time: trained zoo, checkpoints, classifier features, fixed noise.

``DigitsTestbed("committed")`` loads ``studies/assets/digits`` (the GPU-trained assets in the
repository); ``DigitsTestbed("tiny")`` trains the CPU-sized variant once into a cache folder
(``$PARETOFORGE_CACHE`` or ``~/.cache/paretoforge``); any other value is an assets folder.
Noise sets are drawn from ``torch.Generator`` seeded with ``10_000 + seed`` on the CPU, so a
candidate sees the same noise on every device; seed 0 is the search set, seeds 1, 2, 3 are
held out for finalists.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .classifier import DigitsClassifier
from .data import load_digits_split
from .metrics import GaussianStats, frechet_distance, gaussian_stats
from .models import Denoiser, load_denoiser, load_state_dicts
from .sampler import ModelFn, SolverSchedule, sample
from .schedule import VPSchedule

__all__ = ["DigitsTestbed", "get_testbed", "resolve_assets"]

_CACHE: dict[tuple[str, str], DigitsTestbed] = {}


def _package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def resolve_assets(assets: str | Path = "committed") -> Path:
    """The assets folder for ``assets`` (training the tiny variant on first use)."""
    if str(assets) == "committed":
        cands = [Path(os.environ["PARETOFORGE_DIGITS_ASSETS"])] if os.environ.get("PARETOFORGE_DIGITS_ASSETS") else []
        cands += [_package_root() / "studies" / "assets" / "digits", Path.cwd() / "studies" / "assets" / "digits"]
        for c in cands:
            if (c / "manifest.json").is_file():
                return c
        raise FileNotFoundError(
            f"no digits testbed found in {[str(c) for c in cands]}; set PARETOFORGE_DIGITS_ASSETS to the assets "
            "folder, or regenerate it: `python -m paretoforge.diffusion.train --out studies/assets/digits`")
    if str(assets) == "tiny":
        base = Path(os.environ.get("PARETOFORGE_CACHE", Path.home() / ".cache" / "paretoforge"))
        path = base / "digits-tiny"
        if not (path / "manifest.json").is_file():
            from .train import train_testbed

            train_testbed(path, "tiny", device="cpu")
        return path
    path = Path(assets)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"{path}: no manifest.json; not a digits testbed folder (use 'committed', 'tiny' or a "
                                "folder written by `python -m paretoforge.diffusion.train --out FOLDER`)")
    return path


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def get_testbed(assets: str | Path = "committed", device: str = "auto") -> DigitsTestbed:
    """A shared testbed instance per (assets folder, device)."""
    path, dev = resolve_assets(assets), _device(device)
    key = (str(path.resolve()), str(dev))
    if key not in _CACHE:
        _CACHE[key] = DigitsTestbed(path, dev)
    return _CACHE[key]


class DigitsTestbed:
    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        self.path = Path(path)
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.manifest = json.loads((self.path / "manifest.json").read_text())
        self.vp = VPSchedule(**self.manifest.get("schedule", {}))
        self._zoo: dict[str, Denoiser] = {}
        self._zoo_sd: dict[str, dict[str, torch.Tensor]] | None = None
        self._ckpt: list[dict[str, torch.Tensor]] | None = None
        self._clf: DigitsClassifier | None = None
        self._ref: GaussianStats | None = None
        self._noise: dict[tuple[int, int], torch.Tensor] = {}

    # -- models -----------------------------------------------------------------------------
    @property
    def zoo_names(self) -> list[str]:
        """Zoo models from the smallest to the largest (by parameter count)."""
        return sorted(self.manifest["zoo"], key=lambda n: self.manifest["zoo"][n]["params"])

    def model(self, name: str) -> Denoiser:
        if name not in self.manifest["zoo"]:
            raise KeyError(f"zoo model {name!r} is not in {self.path}; allowed: {self.zoo_names}")
        if name not in self._zoo:
            if self._zoo_sd is None:
                self._zoo_sd, _ = load_state_dicts(self.path / "zoo.safetensors")
            self._zoo[name] = load_denoiser(self.manifest["zoo"][name]["config"], self._zoo_sd[name], self.device)
        return self._zoo[name]

    def checkpoints(self) -> list[dict[str, torch.Tensor]]:
        """The saved checkpoints of the checkpointed run, in training order (float32, on device)."""
        if self._ckpt is None:
            sds, _ = load_state_dicts(self.path / "checkpoints.safetensors", self.device)
            self._ckpt = [sds[k] for k in sorted(sds)]
        return self._ckpt

    @property
    def checkpoint_steps(self) -> list[int]:
        return list(self.manifest["checkpoint_run"]["checkpoint_steps"])

    def combined_state(self, coefficients: Sequence[float], normalize: bool = True) -> dict[str, torch.Tensor]:
        """``sum_i w_i theta_i`` over the LAST ``len(coefficients)`` checkpoints (``w`` divided by its
        sum when ``normalize``)."""
        ck = self.checkpoints()
        w = np.asarray(coefficients, dtype=np.float64)
        if not np.all(np.isfinite(w)):
            raise ValueError(f"coefficients must be finite numbers, got {w.tolist()}")
        if len(w) > len(ck):
            raise ValueError(f"{len(w)} coefficients for {len(ck)} checkpoints")
        if normalize:
            s = w.sum()
            if abs(s) < 1e-6:
                raise ValueError(f"coefficients sum to {s:.3g}; cannot normalise")
            w = w / s
        used = ck[len(ck) - len(w):]
        return {k: sum(float(wi) * sd[k] for wi, sd in zip(w, used)) for k in used[0]}

    def combined_model(self, coefficients: Sequence[float], normalize: bool = True) -> Denoiser:
        return load_denoiser(self.manifest["checkpoint_run"]["config"],
                             self.combined_state(coefficients, normalize), self.device)

    # -- noise and features -----------------------------------------------------------------
    def noise(self, n: int, seed: int = 0) -> torch.Tensor:
        key = (n, seed)
        if key not in self._noise:
            g = torch.Generator(device="cpu").manual_seed(10_000 + seed)
            self._noise[key] = torch.randn((n, 1, 8, 8), generator=g).to(self.device)
        return self._noise[key]

    @property
    def classifier(self) -> DigitsClassifier:
        if self._clf is None:
            sds, meta = load_state_dicts(self.path / "classifier.safetensors", self.device)
            with torch.random.fork_rng(devices=[]):  # its layers' initialisation draws from the global generator
                clf = DigitsClassifier(int(meta.get("width", self.manifest["classifier"]["width"])))
            clf.load_state_dict(sds["classifier"])
            self._clf = clf.to(self.device).eval().requires_grad_(False)
        return self._clf

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> np.ndarray:
        return self.classifier.features(x.to(self.device, torch.float32)).double().cpu().numpy()

    @property
    def reference(self) -> GaussianStats:
        """Feature statistics of the train split (what the generators learned)."""
        if self._ref is None:
            self._ref = gaussian_stats(self.features(load_digits_split().x_train))
        return self._ref

    def fd(self, x: torch.Tensor) -> float:
        """Digits Frechet distance of samples ``x`` (clipped to the data range) to the reference."""
        if not torch.isfinite(x).all():  # diverged samples (before the clamp, which would hide infinities)
            return float("nan")
        x = x.clamp(-1.0, 1.0)
        return frechet_distance(gaussian_stats(self.features(x)), self.reference)

    def noise_floor(self, n: int, draws: int = 5, seed: int = 0) -> tuple[float, float]:
        """Real-vs-real FD at ``n`` samples: ``n`` test-split images drawn with replacement against
        the train-split reference; mean and std over ``draws`` draws."""
        xt = load_digits_split().x_test
        rng = np.random.default_rng(seed)
        vals = [self.fd(xt[rng.integers(0, len(xt), n)]) for _ in range(draws)]
        return float(np.mean(vals)), float(np.std(vals))

    # -- sampling ---------------------------------------------------------------------------
    def run(self, model_fn: ModelFn, schedule: SolverSchedule, n: int, seed: int = 0) -> torch.Tensor:
        return sample(model_fn, self.noise(n, seed), schedule, self.vp)

    @staticmethod
    def single(model: torch.nn.Module) -> ModelFn:
        return lambda k, x, t: model(x, t)

    def per_call(self, names: Sequence[str]) -> ModelFn:
        models = [self.model(n) for n in names]

        def fn(k: int, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if k >= len(models):
                raise IndexError(f"model call {k} but the model schedule has {len(models)} entries")
            return models[k](x, t)

        return fn

    # -- latency ----------------------------------------------------------------------------
    @torch.no_grad()
    def latency(self, name: str, batch: int, reps: int = 30, warmup: int = 5) -> float:
        """Median milliseconds of one call of zoo model ``name`` on a batch (CUDA events on a GPU)."""
        m = self.model(name)
        x, t = self.noise(batch, 99), torch.full((batch,), 0.5, device=self.device)
        for _ in range(warmup):
            m(x, t)
        times = []
        if self.device.type == "cuda":
            for _ in range(reps):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                m(x, t)
                e.record()
                torch.cuda.synchronize()
                times.append(s.elapsed_time(e))
        else:
            for _ in range(reps):
                t0 = time.perf_counter()
                m(x, t)
                times.append(1000 * (time.perf_counter() - t0))
        return float(statistics.median(times))

    def latency_table(self, batch: int, reps: int = 30) -> dict[str, float]:
        return {n: self.latency(n, batch, reps) for n in self.zoo_names}
