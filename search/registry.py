"""Lazy name registries for plugins, in the manner of Ray Tune's searcher registry.

Built-in entries are ``"module:attribute"`` strings imported on first use, so that importing
paretoforge does not import Optuna, pymoo or torch models. Third parties add entries through
the entry-point group of a registry (e.g. ``paretoforge.optimizers``) in their package metadata,
or by calling :meth:`Registry.register`.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

__all__ = ["Registry", "UnknownNameError", "keyword_defaults", "keyword_names"]


def keyword_names(cls: type, past_var_keywords: bool = False) -> set[str] | None:
    """The keyword arguments ``cls(...)`` takes, collected over the ``__init__`` methods of its
    class hierarchy up to the first that takes no ``**kwargs`` (what it does not name is then
    unknown). ``None`` when every one passes ``**kwargs`` on, so that anything may be accepted;
    with ``past_var_keywords``, the names found even then (a library whose base class swallows
    unknown keywords, as pymoo's does)."""
    names: set[str] = set()
    for c in cls.__mro__:
        init = c.__dict__.get("__init__")
        if init is None or c is object:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        names |= {k for k, p in params.items() if k != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
    return names if past_var_keywords else None


def keyword_defaults(cls: type) -> dict[str, Any]:
    """The default of every keyword argument ``cls(...)`` takes, over the ``__init__`` methods of
    its class hierarchy (the most derived class's default where several give one)."""
    defaults: dict[str, Any] = {}
    for c in cls.__mro__:
        init = c.__dict__.get("__init__")
        if init is None or c is object:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        for key, p in params.items():
            if p.default is not p.empty:
                defaults.setdefault(key, p.default)
    return defaults


class UnknownNameError(KeyError, ValueError):
    """A name that no registry entry has; the message lists the allowed names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class Registry:
    """Maps names to classes or factories, importing them lazily."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str] | None = None) -> None:
        self.kind, self.group = kind, group
        self._entries: dict[str, Any] = dict(builtins or {})
        self._loaded_entry_points = False

    def register(self, name: str, target: Any, *, overwrite: bool = False) -> None:
        """Add ``target`` (an object or a ``"module:attr"`` string) under ``name``."""
        if name in self._entries and not overwrite:
            raise ValueError(f"{self.kind} '{name}' is already registered; pass overwrite=True to replace it")
        self._entries[name] = target

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self.group):
            self._entries.setdefault(ep.name, ep)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def get(self, name: str) -> Any:
        """The registered object, imported on first use."""
        if name not in self._entries:
            self._load_entry_points()
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} '{name}'; allowed: {self.names()}")
        target = self._entries[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self._entries[name] = target
        elif hasattr(target, "load") and hasattr(target, "group"):
            target = target.load()
            self._entries[name] = target
        return target

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries
