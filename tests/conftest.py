"""Shared test set-up: make ``tests/`` importable so that picklable helpers in ``_helpers.py``
(evaluators for process pools and subprocesses) can be imported by name, whatever pytest's
import mode, and by spawned worker processes (which inherit ``sys.path``)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))
