"""Where the tests find the shared real market data (``../shared/data/real``), and what a test does when it is
absent: skip on a developer's machine, fail in CI (``CI=true``), where a skipped test would hide a failure
(the engine's only independent event-loop reference runs on these files).

Looked up in order: ``QUANT_PLATFORM_REAL_DATA``; the repository root's sibling ``shared/data/real`` (the
documented place); one level higher (a git worktree under ``<root>/wt/<branch>``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
_RELATIVE = Path("shared") / "data" / "real"


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (``true``/``1``/``yes``, any case)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def real_data_dir() -> Path:
    """The shared real data folder (the first candidate that exists; else the documented place)."""
    override = os.environ.get("QUANT_PLATFORM_REAL_DATA")
    if override:
        return Path(override)
    candidates = (_ROOT.parent / _RELATIVE, _ROOT.parent.parent / _RELATIVE)
    return next((c for c in candidates if c.is_dir()), candidates[0])


def require_real(path: Path) -> Path:
    """``path`` if it is a file; otherwise skip the test, or fail it in CI."""
    if path.is_file():
        return path
    message = f"shared real data file {path} is absent"
    if in_ci():
        pytest.fail(f"{message}: CI must provide ../shared/data/real (CI=true turns this skip into an error)")
    pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover
