"""Did the source deliver anything? A universe symbol without bar rows on a day is a failure that names what
was looked for, unless the user declared the day known-empty.

A wrong ``binance_files`` root, a misspelt symbol or a 0-byte kline file all make a source answer "no rows",
which cleaning would turn into a day of gap rows and a green run. The bar table (``perp_bars``) is the one
every cleaned row comes from, so it is the one checked; spot, funding, open interest and liquidations may
legitimately be absent (their values are then null downstream).

Known-empty days (``market_data.known_empty_days``) are ISO dates (``2024-03-05``) or weekday names
(``saturday``: e.g. hourly FX, whose market is shut every Saturday). With ``sessions="observed"`` a day on
which no symbol has a row is a closed session (the calendar comes from the data) and a symbol missing on a
session day is an explicit gap row (not listed yet, halted), so only the continuous grid checks symbols one
by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from quant_platform.core.timeutil import parse_day
from quant_platform.market.sources.base import MarketDataSource, looked_for

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CHECKED_TABLE = "perp_bars"
_MAX_SYMBOLS_NAMED = 5


@dataclass(frozen=True)
class KnownEmptyDays:
    """Days the user declared empty: exact dates and weekdays (0 = Monday)."""

    dates: frozenset[str] = frozenset()
    weekdays: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> KnownEmptyDays:
        """ISO dates or weekday names (any case); anything else is a ValueError naming the entry."""
        dates, weekdays = set(), set()
        for entry in entries:
            name = entry.strip().lower()
            if name in WEEKDAYS:
                weekdays.add(WEEKDAYS.index(name))
                continue
            try:
                dates.add(parse_day(name).isoformat())
            except ValueError as exc:
                raise ValueError(
                    f"known_empty_days entry {entry!r} is neither a YYYY-MM-DD date nor a weekday name"
                ) from exc
        return cls(frozenset(dates), frozenset(weekdays))

    def __contains__(self, day: object) -> bool:
        parsed = parse_day(str(day))
        return parsed.isoformat() in self.dates or parsed.weekday() in self.weekdays


def symbols_without_rows(frame: pl.DataFrame, universe: Iterable[str]) -> list[str]:
    """Universe symbols with no row in ``frame`` (sorted)."""
    present = set(frame.get_column("symbol").drop_nulls().unique().to_list()) if frame.height else set()
    return sorted(set(universe) - present)


def missing_bars_message(
    source: MarketDataSource,
    day: str,
    frame: pl.DataFrame,
    universe: Iterable[str],
    *,
    sessions: str = "continuous",
    known_empty: KnownEmptyDays | None = None,
) -> str | None:
    """None when every symbol the day must have has bar rows; else why not, naming the source (and its root
    or file), each symbol without rows and the paths or endpoints looked for."""
    universe = tuple(universe)
    if known_empty is not None and day in known_empty:
        return None
    missing = symbols_without_rows(frame, universe)
    if not missing or sessions == "observed":
        return None  # observed: nobody traded is a closed session, one symbol missing an explicit gap row
    root = getattr(source, "root", None)
    where = f" (root {root})" if root is not None else ""
    details = []
    for symbol in missing[:_MAX_SYMBOLS_NAMED]:
        tried = looked_for(source, CHECKED_TABLE, symbol, day)
        details.append(f"{symbol}: looked for {', '.join(tried) if tried else 'rows from the source'}")
    more = (
        f"; and {len(missing) - _MAX_SYMBOLS_NAMED} more symbols" if len(missing) > _MAX_SYMBOLS_NAMED else ""
    )
    return (
        f"{source.name}{where} delivered no {CHECKED_TABLE} rows on {day} for {len(missing)} of "
        f"{len(set(universe))} universe symbols: {'; '.join(details)}{more}. Check the root, the symbol "
        "names and the files; if the day is known to hold no data, list it in market_data.known_empty_days "
        "(a date or a weekday name)"
    )
