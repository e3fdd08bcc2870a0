"""A real English text corpus that ships with Python: ``pydoc_data.topics`` (the reference
manual's help topics) plus the docstrings of a fixed list of standard-library modules.

The corpus is split once, by a fixed seed, into a *search* part (used inside the optimisation
loop) and a *held-out* part (used to report results), so fronts are never judged on the text
that chose them. The split is deterministic for a given Python version (the texts come from it).
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from functools import lru_cache

import numpy as np

__all__ = ["STDLIB_MODULES", "corpus_sentences", "corpus_split", "corpus_text"]

#: modules whose docstrings join the corpus (pure-Python, import without side effects)
STDLIB_MODULES: tuple[str, ...] = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "codecs", "collections", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "enum",
    "fnmatch", "fractions", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac", "html",
    "http.client", "imaplib", "inspect", "io", "ipaddress", "json", "locale", "logging", "mailbox",
    "numbers", "operator", "optparse", "os", "pathlib", "pickle", "pprint", "queue", "random", "re",
    "sched", "secrets", "shlex", "shutil", "smtplib", "statistics", "string", "tarfile", "tempfile",
    "textwrap", "threading", "tokenize", "trace", "traceback", "typing", "unittest", "urllib.parse",
    "uuid", "warnings", "weakref", "zipfile",
)

_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORDS = re.compile(r"[A-Za-z]")


def _docstrings() -> list[str]:
    out: list[str] = []
    for name in STDLIB_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:  # a module missing on this build of Python
            continue
        if mod.__doc__:
            out.append(mod.__doc__)
        for _name, obj in sorted(vars(mod).items(), key=lambda kv: kv[0]):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", None) == mod.__name__:
                with warnings.catch_warnings():  # deprecated aliases (typing.io...) warn on access
                    warnings.simplefilter("ignore")
                    doc = inspect.getdoc(obj)
                if doc:
                    out.append(doc)
    return out


@lru_cache(maxsize=1)
def corpus_text() -> tuple[str, ...]:
    """The raw documents: every help topic of ``pydoc_data.topics`` then the docstrings."""
    from pydoc_data.topics import topics

    return tuple([topics[k] for k in sorted(topics)] + _docstrings())


@lru_cache(maxsize=4)
def corpus_sentences(min_chars: int = 40, max_chars: int = 240) -> tuple[str, ...]:
    """Unique prose sentences of the corpus (whitespace collapsed, code-like lines dropped), sorted."""
    seen: set[str] = set()
    for doc in corpus_text():
        for para in re.split(r"\n\s*\n", doc):
            lines = [ln.strip() for ln in para.splitlines()]
            if not lines or any(ln.startswith((">>>", "...", "$", "|", "+", "*", "=", "-")) for ln in lines):
                continue
            text = " ".join(ln for ln in lines if ln)
            for s in _SENT_END.split(text):
                s = s.strip()
                letters = len(_WORDS.findall(s))
                if min_chars <= len(s) <= max_chars and letters >= 0.7 * len(s.replace(" ", "")) and " " in s:
                    seen.add(s)
    return tuple(sorted(seen))


@lru_cache(maxsize=8)
def corpus_split(seed: int = 0, heldout_fraction: float = 0.5) -> dict[str, tuple[str, ...]]:
    """``{"search": ..., "heldout": ...}``: the sentences shuffled by ``seed`` and cut in two."""
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    sents = corpus_sentences()
    order = np.random.default_rng(seed).permutation(len(sents))
    cut = int(round(len(sents) * (1.0 - heldout_fraction)))
    return {"search": tuple(sents[i] for i in order[:cut]), "heldout": tuple(sents[i] for i in order[cut:])}
