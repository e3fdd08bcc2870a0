"""Models and data that ship with paretoforge or its extras: offline MiniLM, the stdlib text
corpus, and a tiny mixture-of-experts language model trained by a seeded script in this package."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .corpus import corpus_sentences, corpus_split, corpus_text

__all__ = ["corpus_sentences", "corpus_split", "corpus_text", "get_model"]

_MODELS = ("minilm", "tiny_bert", "tiny_moe")


@lru_cache(maxsize=8)
def _cached(name: str, options: tuple[tuple[str, Any], ...]) -> Any:
    opts = dict(options)
    if name == "minilm":
        from .minilm import load_minilm

        return load_minilm(**opts)
    if name == "tiny_bert":
        from .minilm import tiny_bert

        return tiny_bert(**opts)
    if name == "tiny_moe":
        from .tiny_moe import load_tiny_moe

        return load_tiny_moe(**opts)
    raise ValueError(f"unknown model {name!r}; allowed: {list(_MODELS)}")


def get_model(name: str, **options: Any) -> Any:
    """A shared, read-only instance of a zoo model (``minilm``, ``tiny_bert``, ``tiny_moe``) per
    process: spaces and evaluators built from one YAML study load it once. Never modify it in
    place; evaluators work on copies."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {list(_MODELS)}")
    return _cached(name, tuple(sorted(options.items())))
