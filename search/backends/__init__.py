"""Backends dispatch evaluation batches: in-process, a local process pool (one per GPU)."""

from __future__ import annotations

from typing import Any

from .base import Backend, evaluate_safely
from .inprocess import InProcessBackend
from .pool import ProcessPoolBackend

__all__ = ["Backend", "InProcessBackend", "ProcessPoolBackend", "evaluate_safely", "get_backend"]


def get_backend(spec: str | dict[str, Any] | Backend | None) -> Backend:
    """A backend from a name (``"inprocess"``, ``"pool"``), a mapping with ``name`` and options,
    or an existing backend."""
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
    raise ValueError(f"unknown backend {name!r}; allowed: ['inprocess', 'pool']")
