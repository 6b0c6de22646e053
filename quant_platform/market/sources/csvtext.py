"""Strict parsing of small delimited text files into string columns, then typed columns.

Why not ``pl.read_csv`` directly: it pads short rows with nulls and reports ragged rows without a line
number, and the sources must never drop or invent a value silently. Here every record keeps its physical
line number, a wrong field count or a non-numeric value raises a ValueError naming file and line, and an
empty field becomes null (a missing value, which cleaning decides about). Quoted fields containing the
separator are not supported (Binance dumps and typical OHLCV exports never quote); a line with one would
have the wrong field count and fail loudly.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl

LINE_NO = "__line_no"
_FIELDS = "__fields"
_MAX_REPORTED = 5
# Epoch values at or above this are microseconds: 1e14 ms is the year 5138, 1e14 us is 1973.
_MICROSECOND_THRESHOLD = 100_000_000_000_000


def read_text(path: Path) -> str:
    """The text of a CSV file, a gzip-compressed CSV (``.gz``), or a zip holding exactly one CSV."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise ValueError(f"{path}: expected exactly one file inside the zip, found {members}")
            raw = archive.read(members[0])
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    else:
        raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc})") from exc


def split_lines(text: str, *, separator: str = ",") -> pl.DataFrame:
    """One row per non-blank line: ``__line_no`` (1-based physical line) and ``__fields`` (list of str).

    Blank lines (typically a trailing newline) carry no record and are skipped; every other line is kept.
    """
    lines = pl.Series("line", text.split("\n"), dtype=pl.String)
    frame = pl.DataFrame(
        {LINE_NO: pl.int_range(1, len(lines) + 1, eager=True, dtype=pl.Int64), "line": lines}
    )
    frame = frame.filter(pl.col("line").str.strip_chars() != "")
    return frame.select(LINE_NO, pl.col("line").str.strip_chars_end("\r").str.split(separator).alias(_FIELDS))


def first_fields(lines: pl.DataFrame) -> list[str] | None:
    """The fields of the first record (to decide whether it is a header), or None for an empty file."""
    if lines.height == 0:
        return None
    return [f.strip().strip('"') for f in lines[_FIELDS][0]]


def to_columns(lines: pl.DataFrame, names: Sequence[str], *, source: str) -> pl.DataFrame:
    """Spread ``__fields`` into string columns ``names``; raise if any line has a different field count."""
    counts = lines.select(LINE_NO, pl.col(_FIELDS).list.len().alias("n"))
    bad = counts.filter(pl.col("n") != len(names))
    if bad.height:
        details = "; ".join(
            f"line {r[LINE_NO]}: {r['n']} fields" for r in bad.head(_MAX_REPORTED).iter_rows(named=True)
        )
        raise ValueError(
            f"{source}: expected {len(names)} comma-separated fields ({', '.join(names)}) "
            f"but {bad.height} line(s) differ: {details}"
        )
    return lines.select(
        LINE_NO,
        *(
            pl.col(_FIELDS).list.get(i).str.strip_chars().str.strip_chars('"').alias(name)
            for i, name in enumerate(names)
        ),
    )


def _raise_unparseable(frame: pl.DataFrame, column: str, failed: pl.Expr, what: str, source: str) -> None:
    bad = frame.filter(failed)
    if bad.height:
        details = "; ".join(
            f"line {r[LINE_NO]}: {r[column]!r}" for r in bad.head(_MAX_REPORTED).iter_rows(named=True)
        )
        raise ValueError(
            f"{source}: column {column!r} has {bad.height} value(s) that are not {what}: {details}"
        )


def _present(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column) != "")


def parse_numbers(frame: pl.DataFrame, dtypes: dict[str, pl.DataType], *, source: str) -> pl.DataFrame:
    """Cast string columns to numeric dtypes; empty → null, unparseable text → ValueError with line numbers."""
    for column, dtype in dtypes.items():
        cast = pl.when(_present(column)).then(pl.col(column)).cast(dtype, strict=False)
        _raise_unparseable(frame, column, _present(column) & cast.is_null(), f"{dtype} numbers", source)
    return frame.with_columns(
        pl.when(_present(c)).then(pl.col(c)).cast(d, strict=False).alias(c) for c, d in dtypes.items()
    )


def parse_epoch(frame: pl.DataFrame, column: str, *, source: str) -> pl.DataFrame:
    """Epoch integers in milliseconds or microseconds (detected for the whole file) → ``Datetime("ms","UTC")``.

    A file mixing both magnitudes is ambiguous and raises; a missing timestamp raises (a row with no time
    cannot be placed in any partition).
    """
    _raise_unparseable(frame, column, ~_present(column), "timestamps (empty)", source)
    frame = parse_numbers(frame, {column: pl.Int64()}, source=source)
    is_micro = pl.col(column) >= _MICROSECOND_THRESHOLD
    n_micro = frame.select(is_micro.sum()).item()
    if 0 < n_micro < frame.height:
        minority = ~is_micro if n_micro * 2 > frame.height else is_micro
        lines = frame.filter(minority)[LINE_NO].head(_MAX_REPORTED).to_list()
        raise ValueError(
            f"{source}: column {column!r} mixes millisecond and microsecond epochs "
            f"({n_micro} of {frame.height} look like microseconds); minority unit on lines {lines}"
        )
    divisor = 1000 if n_micro else 1
    return frame.with_columns((pl.col(column) // divisor).cast(pl.Datetime("ms", "UTC")).alias(column))


def parse_datetime_text(
    frame: pl.DataFrame, column: str, fmt: str | None, *, source: str, tz: str = "UTC"
) -> pl.DataFrame:
    """Date-time strings in ``fmt`` (polars/chrono syntax; None infers ISO-8601) and zone ``tz`` → UTC ms."""
    _raise_unparseable(frame, column, ~_present(column), "timestamps (empty)", source)
    parsed = pl.col(column).str.to_datetime(fmt, time_unit="ms", strict=False)
    _raise_unparseable(frame, column, parsed.is_null(), f"date-times in format {fmt or 'ISO-8601'}", source)
    # A local time that a DST change makes ambiguous or skips becomes null here and is reported by line.
    in_utc = parsed.dt.replace_time_zone(tz, ambiguous="null", non_existent="null").dt.convert_time_zone(
        "UTC"
    )
    _raise_unparseable(frame, column, in_utc.is_null(), f"unambiguous local times in {tz}", source)
    return frame.with_columns(in_utc.alias(column))
