"""Content hashing and canonical JSON, the basis of every deterministic id in the platform.

Canonical JSON (our specification, tested): UTF-8, object keys sorted by code point, no insignificant
whitespace, non-ASCII characters kept as themselves (not ``\\u`` escapes), integers as integers, floats in
Python's shortest round-trip ``repr`` (``0.1`` → ``0.1``, ``1.0`` → ``1.0``), NaN and infinities refused
(they have no JSON form), dates and datetimes as ISO-8601 strings, tuples as lists.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


def _normalise(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"canonical JSON cannot encode non-finite float {value!r}")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be strings, got {type(key).__name__}")
            out[key] = _normalise(item)
        return out
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"canonical JSON cannot encode {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Serialise ``value`` to the platform's canonical JSON text (see module docstring)."""
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    """``sha256(canonical_json(value))`` as lowercase hex."""
    return sha256_hex(canonical_json(value))
