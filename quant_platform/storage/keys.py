"""Validation of the names that become path segments, so no asset or partition key escapes the store root."""

from __future__ import annotations

import re
from collections.abc import Sequence

UNPARTITIONED = "__all__"
# Letters, digits and a few separators; must start with a letter, digit or underscore (no "." / ".." names).
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=\-]{0,127}$")


def validate_key_segment(segment: str, what: str = "key") -> str:
    """Return ``segment`` if it is a safe single path segment, else raise ``ValueError`` naming the problem."""
    if not isinstance(segment, str) or not _SEGMENT.match(segment) or ".." in segment:
        raise ValueError(
            f"unsafe {what} {segment!r}: use 1-128 of [A-Za-z0-9_.=-], not starting with '.' or '-', "
            "without '..', path separators or absolute paths"
        )
    return segment


def asset_path(asset_key: Sequence[str] | str) -> str:
    """Join a (possibly multi-part) asset key into a validated relative path."""
    parts = [asset_key] if isinstance(asset_key, str) else list(asset_key)
    if not parts:
        raise ValueError("empty asset key")
    return "/".join(validate_key_segment(p, "asset key segment") for p in parts)
