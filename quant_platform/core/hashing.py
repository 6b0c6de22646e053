"""Content hashing and canonical JSON, the basis of every deterministic id in the platform.

Canonical JSON (our specification, tested): UTF-8, every string (object keys and values) in Unicode
normalization form NFC (so a composed and a decomposed ``é`` are one value; two keys equal after NFC are
refused), object keys sorted by code point of their NFC form, no insignificant whitespace, non-ASCII
characters kept as themselves (not ``\\u`` escapes), integers as integers, floats in Python's shortest
round-trip ``repr`` (``0.1`` → ``0.1``, ``1.0`` → ``1.0``), NaN and infinities refused (they have no JSON
form), dates as ``YYYY-MM-DD``, datetimes as ISO-8601 with their UTC offset (naive datetimes are refused:
the instant they mean is ambiguous), tuples as lists.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
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
            nfc_key = unicodedata.normalize("NFC", key)
            if nfc_key in out:
                raise ValueError(f"canonical JSON keys {nfc_key!r} collide after Unicode NFC normalization")
            out[nfc_key] = _normalise(item)
        return out
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"canonical JSON refuses naive datetime {value!r}: give it a timezone (UTC)")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if value is None or isinstance(value, bool | int):
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
