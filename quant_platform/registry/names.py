"""Validation of every name and id the registry turns into a path segment, a partition key or a SQL value.

Names are checked against an allow-list (never a deny-list), so no caller-supplied string can leave the
registry root (``../x``), hide a second statement (``a'; drop table x; --``) or start like a CLI option.
"""

from __future__ import annotations

import re

# Human names: RunSet names (the Dagster partition key), dataset ids, tags, stage names.
# `[a-z0-9_-]{1,64}` as the design asks, but not starting with '-', so a name never reads as a CLI option.
NAME_PATTERN = re.compile(r"^[a-z0-9_][a-z0-9_\-]{0,63}$")
# Content ids: lowercase sha256 hex.
CONTENT_ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# Exchange symbols (BTCUSDT, BRK.B): letters, digits and '.', '_' or '-' after the first character.
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
# fnmatch patterns over strategy / template names (momentum_*, breakout_?).
FILTER_PATTERN = re.compile(r"^[A-Za-z0-9_*?][A-Za-z0-9_*?\-.]{0,63}$")
# Free-form labels stored as data (engine versions, trial ids): printable, no control characters.
LABEL_PATTERN = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,199}$")


def _check(value: object, pattern: re.Pattern[str], what: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"invalid {what} {value!r}: {rule}")
    return value


def validate_name(value: object, what: str = "name") -> str:
    """A human name: 1-64 of ``[a-z0-9_-]``, not starting with ``-``."""
    return _check(value, NAME_PATTERN, what, "use 1-64 of [a-z0-9_-], not starting with '-'")


def validate_content_id(value: object, what: str = "content id") -> str:
    """A sha256 content id: 64 lowercase hex digits."""
    return _check(value, CONTENT_ID_PATTERN, what, "expected 64 lowercase hex digits (a sha256)")


def validate_symbol(value: object) -> str:
    return _check(
        value, SYMBOL_PATTERN, "symbol", "use 1-32 of [A-Za-z0-9._-], starting with a letter or digit"
    )


def validate_filter(value: object, what: str = "filter pattern") -> str:
    return _check(value, FILTER_PATTERN, what, "use 1-64 of [A-Za-z0-9_*?.-], not starting with '-' or '.'")


def validate_label(value: object, what: str = "label") -> str:
    return _check(
        value, LABEL_PATTERN, what, "use 1-200 printable ASCII characters, not starting with a space"
    )


def is_content_id(value: str) -> bool:
    return bool(CONTENT_ID_PATTERN.fullmatch(value))
