"""Validation of the names that become path segments, so no asset or partition key escapes the store root.

Every pattern is applied with ``fullmatch``: ``re.match(r"...$")`` also accepts a trailing newline (``$``
matches before one), which would create directories with a newline in their names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

UNPARTITIONED = "__all__"
# Letters, digits and a few separators; must start with a letter, digit or underscore (no "." / ".." names).
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=\-]{0,127}")
_DATA_FILE = re.compile(r"[0-9a-f]{64}\.parquet")
# Top-level folders of the store that hold no asset data (the version records).
RESERVED_TOP_LEVEL = frozenset({"_versions"})


def validate_key_segment(segment: str, what: str = "key") -> str:
    """Return ``segment`` if it is a safe single path segment, else raise ``ValueError`` naming the problem."""
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment) or ".." in segment:
        raise ValueError(
            f"unsafe {what} {segment!r}: use 1-128 of [A-Za-z0-9_.=-], not starting with '.' or '-', "
            "without '..', path separators, absolute paths or control characters"
        )
    return segment


def asset_path(asset_key: Sequence[str] | str) -> str:
    """Join a (possibly multi-part) asset key into a validated relative path."""
    parts = [asset_key] if isinstance(asset_key, str) else list(asset_key)
    if not parts:
        raise ValueError("empty asset key")
    if parts[0] in RESERVED_TOP_LEVEL:
        raise ValueError(f"unsafe asset key {parts!r}: {parts[0]!r} is the store's own folder")
    return "/".join(validate_key_segment(p, "asset key segment") for p in parts)


def validate_data_path(relative: str) -> str:
    """A store-relative data file path as the store writes it, ``<asset...>/<partition>/<sha256>.parquet``;
    anything else (absolute, ``..``, another folder, a version record, a foreign file) raises ``ValueError``.

    Paths read from version records or RunSet resolutions pass through here before any file is opened, so a
    tampered record cannot point research outside the store root."""
    if not isinstance(relative, str):
        raise ValueError(f"refusing stored path {relative!r}: not a string")
    parts = relative.split("/")
    problem = None
    if len(parts) < 3:
        problem = "expected <asset>/<partition>/<sha256>.parquet"
    elif parts[0] in RESERVED_TOP_LEVEL:
        problem = f"{parts[0]}/ holds no asset data"
    elif not _DATA_FILE.fullmatch(parts[-1]):
        problem = "the file name must be the 64-hex sha256 of its content plus .parquet"
    else:
        try:
            for segment in parts[:-1]:
                validate_key_segment(segment, "path segment")
        except ValueError as exc:
            problem = str(exc)
    if problem:
        raise ValueError(f"refusing stored path {relative!r} outside the store's data layout: {problem}")
    return relative


def is_data_file_name(name: str) -> bool:
    """Whether a file name has the data file form ``<64 lowercase hex>.parquet``."""
    return bool(_DATA_FILE.fullmatch(name))


def content_hash_of_path(relative: str) -> str:
    """The sha256 a data file's name declares (``…/<sha256>.parquet``)."""
    return validate_data_path(relative).rsplit("/", 1)[-1].removesuffix(".parquet")
