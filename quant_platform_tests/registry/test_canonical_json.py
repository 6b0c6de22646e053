"""The canonical JSON specification (``core.hashing`` docstring), checked against literal expected bytes,
an independent reference encoder, and properties over generated values."""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.core.hashing import canonical_hash, canonical_json, sha256_hex


def test_keys_sorted_by_code_point_at_every_level() -> None:
    value = {"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "B": None}, "é": True, "Z": False}
    # Code point order: "B"(66) < "Z"(90) < "a"(97) < "b"(98) < "z"(122) < "é"(233).
    assert canonical_json(value) == '{"Z":false,"a":{"B":null,"z":[3,{"x":2,"y":1}]},"b":1,"é":true}'


def test_code_point_order_differs_from_utf16_order() -> None:
    # U+FFFF sorts before U+1F600 by code point; UTF-16 code units (RFC 8785) would invert them.
    assert canonical_json({"\U0001f600": 1, "\uffff": 2}) == '{"\uffff":2,"\U0001f600":1}'


def test_no_whitespace_and_insertion_order_is_irrelevant() -> None:
    a = canonical_json({"x": [1, 2], "y": {"p": 1, "q": 2}})
    b = canonical_json({"y": {"q": 2, "p": 1}, "x": [1, 2]})
    assert a == b == '{"x":[1,2],"y":{"p":1,"q":2}}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (2.5e-7, "2.5e-07"),
        (1e16, "1e+16"),
        (123456789.125, "123456789.125"),
        (1 / 3, "0.3333333333333333"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1, "1"),
        (-(2**63), "-9223372036854775808"),
        (10**30, "1000000000000000000000000000000"),
        (True, "true"),
        (None, "null"),
    ],
)
def test_number_and_literal_formatting(value: object, text: str) -> None:
    assert canonical_json(value) == text


def test_floats_are_shortest_round_trip() -> None:
    for value in (0.1, 0.2 + 0.1, 1e-300, 6.02214076e23, 2.0**-1074):
        text = canonical_json(value)
        assert float(text) == value and text == repr(value)


def test_unicode_kept_and_controls_escaped() -> None:
    text = canonical_json({"k": 'é日本😀\n\t"\\\u0000\u007f'})
    assert text == '{"k":"é日本😀\\n\\t\\"\\\\\\u0000\u007f"}'
    # UTF-8 bytes of the non-ASCII characters, not \\u escapes
    assert "é日本😀".encode() in text.encode("utf-8")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [1.0, math.nan]}])
def test_non_finite_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        canonical_json(bad)


@pytest.mark.parametrize("bad", [{1: "a"}, {("a",): 1}, {"s": {1, 2}}, {"b": b"x"}, object()])
def test_unencodable_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(bad)


def test_dates_tuples_nesting() -> None:
    value = {"d": date(2024, 10, 1), "t": datetime(2024, 10, 1, 12, 0, tzinfo=UTC), "tup": (1, (2, "x"))}
    assert canonical_json(value) == '{"d":"2024-10-01","t":"2024-10-01T12:00:00+00:00","tup":[1,[2,"x"]]}'


def test_hash_matches_hashlib_over_literal_bytes() -> None:
    expected = hashlib.sha256('{"a":[1,2.5,"é"],"b":1}'.encode()).hexdigest()
    assert canonical_hash({"b": 1, "a": [1, 2.5, "é"]}) == expected
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# ---- an independent reference encoder, written from the specification alone -------------------------
def _reference(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        out = ['"']
        for ch in unicodedata.normalize("NFC", value):
            code = ord(ch)
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch in "\n\r\t\b\f":
                out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}[ch])
            elif code < 0x20:
                out.append(f"\\u{code:04x}")
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(value, list):
        return "[" + ",".join(_reference(v) for v in value) + "]"
    assert isinstance(value, dict)
    items = sorted(value.items(), key=lambda kv: [ord(c) for c in unicodedata.normalize("NFC", kv[0])])
    return "{" + ",".join(_reference(k) + ":" + _reference(v) for k, v in items) + "}"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def _nfc(value: object) -> object:
    """``value`` with every string in NFC; ``None`` when two keys of one object become equal."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        items = [_nfc(v) for v in value]
        return None if any(i is None and v is not None for i, v in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        out = {_nfc(k): _nfc(v) for k, v in value.items()}
        collided = len(out) < len(value) or any(
            out[_nfc(k)] is None and v is not None for k, v in value.items()
        )
        return None if collided else out
    return value


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_matches_reference_and_round_trips(value: object) -> None:
    expected = _nfc(value)
    if expected is None and value is not None:  # two keys equal after NFC: refused, never merged
        with pytest.raises(ValueError, match="NFC"):
            canonical_json(value)
        return
    text = canonical_json(value)
    assert text == _reference(value)
    assert json.loads(text) == expected
    assert canonical_json(json.loads(text)) == text  # canonical form is a fixed point


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.integers(), min_size=2, max_size=6), st.randoms())
def test_insertion_order_never_changes_the_hash(mapping: dict, rnd) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert canonical_hash(dict(items)) == canonical_hash(mapping)


# ---- Unicode normalization and time zones ---------------------------------------------------------------
def test_composed_and_decomposed_strings_give_one_id() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert composed != decomposed
    assert canonical_json({decomposed: decomposed}) == '{"caf\u00e9":"caf\u00e9"}'
    assert canonical_hash({"name": composed}) == canonical_hash({"name": decomposed})
    with pytest.raises(ValueError, match="collide after Unicode NFC"):
        canonical_json({composed: 1, decomposed: 2})


def test_naive_datetimes_are_refused_aware_ones_keep_their_offset() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        canonical_json({"t": datetime(2024, 10, 1, 12, 0)})
    plus_one = timezone(timedelta(hours=1))
    assert canonical_json(datetime(2024, 10, 1, 13, 0, tzinfo=plus_one)) == '"2024-10-01T13:00:00+01:00"'
    assert canonical_json(date(2024, 10, 1)) == '"2024-10-01"'  # a date is no instant: still fine


_texts = st.text(st.characters(codec="utf-8"), max_size=6)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(_texts, st.lists(_texts, max_size=3), min_size=1, max_size=5),
    st.randoms(),
    st.sampled_from(("NFC", "NFD")),
)
def test_ids_invariant_to_key_order_and_canonically_equivalent_forms(mapping: dict, rnd, form: str) -> None:
    if len({unicodedata.normalize("NFC", k) for k in mapping}) < len(mapping):
        return  # keys that are one string after NFC are refused (tested above)
    items = [
        (unicodedata.normalize(form, k), [unicodedata.normalize(form, v) for v in vs])
        for k, vs in mapping.items()
    ]
    rnd.shuffle(items)
    assert canonical_hash(dict(items)) == canonical_hash(mapping)
