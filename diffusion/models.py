"""Eps-prediction denoisers for 8x8 digits: a convolutional residual network with a time embedding.

Width (channels) and depth (residual blocks) set the size; the zoo uses three clearly different
sizes that share the VP schedule, so any of them can run any step of one sampling trajectory.
Weights are stored as fp16 safetensors with the architecture in the file's metadata.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

__all__ = ["Denoiser", "DenoiserConfig", "load_denoiser", "load_state_dicts", "save_state_dicts"]


@dataclass(frozen=True)
class DenoiserConfig:
    channels: int = 64
    blocks: int = 3
    emb: int = 64

    def groups(self) -> int:
        return math.gcd(self.channels, 8)


class _Block(nn.Module):
    def __init__(self, c: int, hidden: int, groups: int) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups, c), nn.Conv2d(c, c, 3, padding=1)
        self.t = nn.Linear(hidden, c)
        self.n2, self.c2 = nn.GroupNorm(groups, c), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        y = self.c1(torch.nn.functional.silu(self.n1(x))) + self.t(h)[:, :, None, None]
        return x + self.c2(torch.nn.functional.silu(self.n2(y)))


class Denoiser(nn.Module):
    """``eps = f(x_t, t)`` for images of shape (B, 1, 8, 8) and times ``t`` in (0, 1]."""

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        c, e = config.channels, config.emb
        hidden = 2 * e
        self.temb = nn.Sequential(nn.Linear(e, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.blocks = nn.ModuleList(_Block(c, hidden, config.groups()) for _ in range(config.blocks))
        self.norm = nn.GroupNorm(config.groups(), c)
        self.out = nn.Conv2d(c, 1, 3, padding=1)
        half = e // 2
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / half), persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = 1000.0 * t.reshape(-1, 1).to(x.dtype) * self.freqs.to(x.dtype)
        h = self.temb(torch.cat([a.sin(), a.cos()], dim=1))
        y = self.inp(x)
        for b in self.blocks:
            y = b(y, h)
        return self.out(torch.nn.functional.silu(self.norm(y)))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_state_dicts(path: str | Path, state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
                     metadata: Mapping[str, object]) -> None:
    """Several state dicts in one fp16 safetensors file (keys ``<name>/<param>``)."""
    from safetensors.torch import save_file

    flat = {f"{n}/{k}": v.detach().to("cpu", torch.float16).contiguous()
            for n, sd in state_dicts.items() for k, v in sd.items()}
    save_file(flat, str(path), metadata={"paretoforge": json.dumps(metadata)})


def load_state_dicts(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, dict[str, torch.Tensor]],
                                                                                     dict]:
    """The state dicts (float32) and metadata saved by :func:`save_state_dicts`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file; regenerate the testbed with "
                                "`python -m paretoforge.diffusion.train --out <assets folder>`")
    out: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = json.loads((f.metadata() or {}).get("paretoforge", "{}"))
        for key in f.keys():
            name, _, param = key.partition("/")
            out.setdefault(name, {})[param] = f.get_tensor(key).to(device=device, dtype=torch.float32)
    return out, meta


def load_denoiser(config: Mapping[str, int] | DenoiserConfig, state_dict: Mapping[str, torch.Tensor],
                  device: str | torch.device = "cpu") -> Denoiser:
    cfg = config if isinstance(config, DenoiserConfig) else DenoiserConfig(**config)
    with torch.random.fork_rng(devices=[]):  # its layers' initialisation draws from the global generator
        m = Denoiser(cfg)
    m.load_state_dict(dict(state_dict))
    return m.to(device).eval().requires_grad_(False)


def config_dict(cfg: DenoiserConfig) -> dict[str, int]:
    return asdict(cfg)
