"""Shared set-up of the diffusion tests: the tiny digits testbed, trained once per session."""

from __future__ import annotations

import os
from pathlib import Path


def tiny_assets(base: Path) -> Path:
    """Point the 'tiny' testbed cache at ``base`` and train it there (seconds) if needed."""
    os.environ["PARETOFORGE_CACHE"] = str(base)
    from paretoforge.diffusion.testbed import resolve_assets

    return resolve_assets("tiny")
