"""Study stores: SQL (SQLite by default, PostgreSQL by URL) and in-memory."""

from __future__ import annotations

import os

from .base import Storage, StudyExistsError, StudyRecord
from .memory import InMemoryStorage
from .sql import SQLStorage, normalize_url

__all__ = ["InMemoryStorage", "SQLStorage", "Storage", "StudyExistsError", "StudyRecord", "get_storage",
           "normalize_url"]


def get_storage(url: str | Storage | None) -> Storage:
    """A store from a URL (``sqlite:///file.db``, ``postgresql+psycopg://...``), a file path,
    ``":memory:"`` / ``None`` for in-memory, or an existing :class:`Storage`."""
    if isinstance(url, Storage):
        return url
    if url is None or url == ":memory:":
        return InMemoryStorage()
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str):
        raise TypeError(f"storage must be a URL, a file path, ':memory:', None or a Storage, got {url!r}")
    return SQLStorage(url)
