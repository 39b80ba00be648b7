"""Where the app finds the checkout's own folders: its root (checkpoints/, runs/ by default) and the shipped example
images."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Small example sets shipped in the repository (docs/examples.md), for a clone without ../shared/data.
EXAMPLES_ROOT = REPO_ROOT / "examples"
