"""UTC day and bar arithmetic. Every timestamp in the platform is ``Datetime("ms", "UTC")``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import polars as pl

TS_DTYPE = pl.Datetime("ms", "UTC")
MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
# Exactly the extended calendar form; date.fromisoformat alone also takes 20241001 and 2024-W40-1.
_DAY_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(day: str | date) -> date:
    """Parse a ``YYYY-MM-DD`` partition key (or pass a date through); any other ISO form is refused, so
    one day has exactly one spelling (partition keys, spec fields, CLI arguments)."""
    if isinstance(day, date):
        return day
    if not isinstance(day, str) or _DAY_PATTERN.fullmatch(day) is None:
        raise ValueError(f"not a YYYY-MM-DD day: {day!r}")
    try:
        return date.fromisoformat(day)
    except ValueError as exc:
        raise ValueError(f"not a YYYY-MM-DD day: {day!r}") from exc


def day_start(day: str | date) -> datetime:
    d = parse_day(day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def day_bounds(day: str | date) -> tuple[datetime, datetime]:
    """Half-open UTC interval ``[start, end)`` covered by a daily partition."""
    start = day_start(day)
    return start, start + timedelta(days=1)


def day_range(first: str | date, last: str | date) -> list[str]:
    """Inclusive list of ``YYYY-MM-DD`` keys from ``first`` to ``last``."""
    a, b = parse_day(first), parse_day(last)
    if b < a:
        raise ValueError(f"empty day range: {a} > {b}")
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def bar_grid(day: str | date, minutes: int) -> pl.Series:
    """Every bar-open timestamp of a UTC day at ``minutes`` resolution."""
    start, end = day_bounds(day)
    return pl.datetime_range(
        start,
        end - timedelta(minutes=minutes),
        interval=f"{minutes}m",
        time_unit="ms",
        time_zone="UTC",
        eager=True,
    ).alias("ts")
