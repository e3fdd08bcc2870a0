"""Backends dispatch evaluation batches: in-process, a local process pool (one per GPU), or the
actors of a Ray cluster (imported on use: Ray is optional)."""

from __future__ import annotations

from typing import Any

from .base import Backend, evaluate_safely
from .inprocess import InProcessBackend
from .pool import ProcessPoolBackend

__all__ = ["Backend", "InProcessBackend", "ProcessPoolBackend", "RayBackend", "evaluate_safely", "get_backend"]


def __getattr__(name: str) -> Any:
    if name == "RayBackend":  # lazily: importing Ray is slow, and it is optional
        from .ray_cluster import RayBackend

        return RayBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_backend(spec: str | dict[str, Any] | Backend | None) -> Backend:
    """A backend from a name (``"inprocess"``, ``"pool"``, ``"ray"``), a mapping with ``name`` and
    options, or an existing backend."""
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        return InProcessBackend()
    opts = dict(spec) if isinstance(spec, dict) else {"name": spec}
    name = opts.pop("name", "inprocess")
    if name == "inprocess":
        return InProcessBackend(**opts)
    if name in ("pool", "process_pool"):
        return ProcessPoolBackend(**opts)
    if name == "ray":
        from .ray_cluster import RayBackend

        return RayBackend(**opts)
    raise ValueError(f"unknown backend {name!r}; allowed: ['inprocess', 'pool', 'ray']")
