"""Shared test set-up: make ``tests/`` importable so that picklable helpers in ``_helpers.py``
(evaluators for process pools and subprocesses) can be imported by name, whatever pytest's
import mode, and by spawned worker processes (which inherit ``sys.path``).

The repository root is taken off ``sys.path`` (``python -m pytest`` puts the working directory
there): its folders ``search/``, ``kernels/``... are subpackages of the installed
``paretoforge``, and on the path they would shadow real top-level packages of the same name
(transformers imports Hugging Face's ``kernels`` when it is installed)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))
