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
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

LINE_NO = "__line_no"
_FIELDS = "__fields"
_MAX_REPORTED = 5
# Epoch values at or above this are microseconds: 1e14 ms is the year 5138, 1e14 us is 1973.
MICROSECOND_THRESHOLD = 100_000_000_000_000


@dataclass
class LineRejects:
    """Collects the lines a parse step cannot read, instead of raising (the ``quarantine`` mode of a source).

    Each entry is ``(line number, reason)``; the caller quarantines them with the line's text. Only
    line-level defects are collected (a wrong field count, text where a number or a time belongs, an empty
    timestamp); file-level ones (an unexpected header, mixed epoch units) still raise.
    """

    source: str
    lines: list[tuple[int, str]] = field(default_factory=list)
    split: pl.DataFrame | None = None  # the file's split_lines frame, to give each rejected line's text

    def texts(self, separator: str = ",") -> dict[int, str]:
        """The text of every rejected line (its fields joined again), by line number."""
        if self.split is None or not self.lines:
            return {}
        wanted = [n for n, _ in self.lines]
        rows = self.split.filter(pl.col(LINE_NO).is_in(wanted)).select(
            LINE_NO, pl.col(_FIELDS).list.join(separator)
        )
        return dict(rows.iter_rows())

    def take(self, frame: pl.DataFrame, failed: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
        """Record the rows of ``frame`` where ``failed`` holds (with ``reason``) and return the others."""
        flagged = frame.with_columns(failed.fill_null(False).alias("__failed"))
        bad = flagged.filter(pl.col("__failed"))
        if bad.height:
            self.lines.extend(bad.select(LINE_NO, reason.alias("__why")).iter_rows())
        return flagged.filter(~pl.col("__failed")).drop("__failed")


def read_text(path: Path) -> str:
    """The text of a CSV file, a gzip-compressed CSV (``.gz``), or a zip holding exactly one CSV."""
    if path.suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:  # e.g. a 0-byte or truncated download
            raise ValueError(f"{path}: not a readable zip file ({path.stat().st_size} bytes): {exc}") from exc
        with archive:
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


def to_columns(
    lines: pl.DataFrame, names: Sequence[str], *, source: str, rejects: LineRejects | None = None
) -> pl.DataFrame:
    """Spread ``__fields`` into string columns ``names``; a line with a different field count raises (or, with
    ``rejects``, is collected there and left out)."""
    n_fields = pl.col(_FIELDS).list.len()
    if rejects is not None:
        why = pl.format("{} fields, expected {}", n_fields, pl.lit(len(names)))
        lines = rejects.take(lines, n_fields != len(names), why)
    counts = lines.select(LINE_NO, n_fields.alias("n"))
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


def _raise_unparseable(
    frame: pl.DataFrame,
    column: str,
    failed: pl.Expr,
    what: str,
    source: str,
    rejects: LineRejects | None = None,
) -> pl.DataFrame:
    """``frame`` without the failing rows when collecting ``rejects``; else raise if any row fails."""
    if rejects is not None:
        why = pl.format(
            "column '{}': {} is not {}", pl.lit(column), pl.col(column).fill_null(""), pl.lit(what)
        )
        return rejects.take(frame, failed, why)
    bad = frame.filter(failed)
    if bad.height:
        details = "; ".join(
            f"line {r[LINE_NO]}: {r[column]!r}" for r in bad.head(_MAX_REPORTED).iter_rows(named=True)
        )
        raise ValueError(
            f"{source}: column {column!r} has {bad.height} value(s) that are not {what}: {details}"
        )
    return frame


def _present(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column) != "")


def parse_numbers(
    frame: pl.DataFrame, dtypes: dict[str, pl.DataType], *, source: str, rejects: LineRejects | None = None
) -> pl.DataFrame:
    """Cast string columns to numeric dtypes; empty → null, unparseable text → ValueError with line numbers
    (or, with ``rejects``, the line is collected there and left out)."""
    for column, dtype in dtypes.items():
        cast = pl.when(_present(column)).then(pl.col(column)).cast(dtype, strict=False)
        frame = _raise_unparseable(
            frame, column, _present(column) & cast.is_null(), f"{dtype} numbers", source, rejects
        )
    return frame.with_columns(
        pl.when(_present(c)).then(pl.col(c)).cast(d, strict=False).alias(c) for c, d in dtypes.items()
    )


def parse_epoch(
    frame: pl.DataFrame, column: str, *, source: str, rejects: LineRejects | None = None
) -> pl.DataFrame:
    """Epoch integers in milliseconds or microseconds (detected for the whole file) → ``Datetime("ms","UTC")``.

    A file mixing both magnitudes is ambiguous and raises; a missing timestamp raises (a row with no time
    cannot be placed in any partition).
    """
    frame = _raise_unparseable(frame, column, ~_present(column), "timestamps (empty)", source, rejects)
    frame = parse_numbers(frame, {column: pl.Int64()}, source=source, rejects=rejects)
    is_micro = pl.col(column) >= MICROSECOND_THRESHOLD
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
    frame: pl.DataFrame,
    column: str,
    fmt: str | None,
    *,
    source: str,
    tz: str = "UTC",
    rejects: LineRejects | None = None,
) -> pl.DataFrame:
    """Date-time strings in ``fmt`` (polars/chrono syntax; None infers ISO-8601) and zone ``tz`` → UTC ms."""
    frame = _raise_unparseable(frame, column, ~_present(column), "timestamps (empty)", source, rejects)
    parsed = pl.col(column).str.to_datetime(fmt, time_unit="ms", strict=False)
    frame = _raise_unparseable(
        frame, column, parsed.is_null(), f"date-times in format {fmt or 'ISO-8601'}", source, rejects
    )
    # A local time that a DST change makes ambiguous or skips becomes null here and is reported by line.
    in_utc = parsed.dt.replace_time_zone(tz, ambiguous="null", non_existent="null").dt.convert_time_zone(
        "UTC"
    )
    frame = _raise_unparseable(
        frame, column, in_utc.is_null(), f"unambiguous local times in {tz}", source, rejects
    )
    return frame.with_columns(in_utc.alias(column))
