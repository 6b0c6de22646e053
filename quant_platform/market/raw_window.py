"""A window of raw market days, as the point-in-time audit sees them: everything a source delivered for a run of
UTC days, what of it was known at an instant (:meth:`RawWindow.known_at`), and its cleaned bars
(:meth:`RawWindow.clean`, exactly as the ``bars_5m`` asset cleans: day by day, each day's funding / open
interest as-of join seeded with the previous day's prints).

Starting the audit here, not from cleaned bars, puts every column of ``bars_5m`` (grid, gap flags, volume
filter, basis, as-of joins, liquidation sums) under the same proof as the features above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from quant_platform.core.timeutil import day_bounds, day_range, parse_day
from quant_platform.market.cleaning import CleaningConfig, clean_day
from quant_platform.market.sources.base import RAW_TABLES, MarketDataSource, covered_symbols

# Tables whose rows are instants (a print is known at its stamp); the others are intervals known at their end.
_POINT_TABLES = ("funding", "open_interest")


@dataclass(frozen=True)
class RawWindow:
    """Raw tables of consecutive UTC ``days`` (``tables[i][table]``), the prints of the day before the first
    (``prior``: funding / open interest, None when the source starts on the first day), the universe and the
    cleaning configuration. ``cut``: set on a truncated window (:meth:`known_at`)."""

    days: tuple[str, ...]
    tables: tuple[dict[str, pl.DataFrame], ...]
    prior: dict[str, pl.DataFrame] | None
    universe: tuple[str, ...]
    config: CleaningConfig = field(default_factory=CleaningConfig)
    cut: datetime | None = None
    # Per day, the symbols whose liquidations the source knows (``covered_symbols``; None: every symbol), so
    # unknown liquidations stay null here exactly as the bars_5m asset writes them.
    liquidation_symbols: tuple[tuple[str, ...], ...] | None = None
    # Cleaned bars of the complete days, shared with every truncation of this window: a day wholly before a
    # cut has the same raw input in both, so cleaning it again could only give the same frame.
    _complete: dict[str, pl.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.days or len(self.days) != len(self.tables):
            raise ValueError("a raw window needs one set of raw tables per day, and at least one day")
        for day, tables in zip(self.days, self.tables, strict=True):
            missing = set(RAW_TABLES) - set(tables)
            if missing:
                raise ValueError(f"raw window day {day} lacks tables {sorted(missing)}")

    @classmethod
    def from_source(
        cls, source: MarketDataSource, first_day: str, last_day: str, config: CleaningConfig | None = None
    ) -> RawWindow:
        """Every raw table of ``source`` for ``[first_day, last_day]``, and the day before's prints."""
        days = tuple(day_range(first_day, last_day))
        prior_day = (parse_day(first_day) - timedelta(days=1)).isoformat()
        try:
            prior = {t: source.fetch(t, prior_day) for t in _POINT_TABLES}
        except ValueError:
            prior = None  # before the source's first day: the first bars start without a prior print
        tables = tuple({t: source.fetch(t, day) for t in RAW_TABLES} for day in days)
        known = tuple(covered_symbols(source, "liquidations", day) for day in days)
        return cls(
            days, tables, prior, tuple(source.symbols), config or CleaningConfig(), liquidation_symbols=known
        )

    def extend_to(self, source: MarketDataSource, last_day: str) -> RawWindow:
        """This window with ``source``'s raw tables of the days after it up to ``last_day`` appended (the days
        already held, and their cleaned bars, are reused)."""
        if self.cut is not None:
            raise ValueError("a truncated window cannot be extended")
        after = (parse_day(self.days[-1]) + timedelta(days=1)).isoformat()
        days = tuple(day_range(after, last_day))
        tables = tuple({t: source.fetch(t, day) for t in RAW_TABLES} for day in days)
        known = None
        if self.liquidation_symbols is not None:
            known = self.liquidation_symbols + tuple(covered_symbols(source, "liquidations", d) for d in days)
        return RawWindow(
            days=self.days + days,
            tables=self.tables + tables,
            prior=self.prior,
            universe=self.universe,
            config=self.config,
            liquidation_symbols=known,
            _complete=self._complete,
        )

    @property
    def bar_interval(self) -> timedelta:
        return timedelta(minutes=self.config.interval_minutes)

    def known_at(self, cut: datetime) -> RawWindow:
        """The raw rows known when the bar stamped ``cut`` closes (at ``cut`` + the bar interval): bars and
        liquidations that end by then (``ts < cut + interval``), prints stamped at or before it (the cleaning
        as-of joins a print stamped at a bar's close to that bar). Later days are dropped; a row without a
        stamp stays (it is quarantined either way). ``clean()`` of the result has no rows after ``cut``."""
        if self.cut is not None and cut > self.cut:
            raise ValueError(f"cannot extend a window truncated at {self.cut} to {cut}")
        close = cut + self.bar_interval
        close_day = (close - timedelta(milliseconds=1)).date().isoformat()  # the day holding the close
        if close_day < self.days[0]:
            raise ValueError(f"cut {cut} is before the window's first day {self.days[0]}")
        keep = [i for i, day in enumerate(self.days) if day <= close_day]
        last = keep[-1]
        ts = pl.col("ts")
        truncated = {
            table: frame.filter(ts.is_null() | ((ts <= close) if table in _POINT_TABLES else (ts < close)))
            for table, frame in self.tables[last].items()
        }
        return RawWindow(
            days=self.days[: last + 1],
            tables=(*self.tables[:last], truncated),
            prior=self.prior,
            universe=self.universe,
            config=self.config,
            cut=cut,
            liquidation_symbols=None
            if self.liquidation_symbols is None
            else self.liquidation_symbols[: last + 1],
            _complete=self._complete,
        )

    def clean(self) -> pl.DataFrame:
        """``bars_5m`` of every day (the row accounting of each day is checked); on a truncated window, only
        the bars stamped at or before the cut."""
        frames = []
        previous = self.prior
        for i, (day, raw) in enumerate(zip(self.days, self.tables, strict=True)):
            complete = self.cut is None or i < len(self.days) - 1
            bars = self._complete.get(day) if complete else None
            if bars is None:
                known = None if self.liquidation_symbols is None else self.liquidation_symbols[i]
                bars = self._clean_day(day, raw, previous, known)
                if complete:
                    self._complete[day] = bars
            frames.append(bars)
            previous = raw
        bars = pl.concat(frames)
        if self.cut is not None:
            bars = bars.filter(pl.col("ts") <= self.cut)
        return bars

    def _clean_day(
        self,
        day: str,
        raw: dict[str, pl.DataFrame],
        previous: dict[str, pl.DataFrame] | None,
        liquidation_symbols: tuple[str, ...] | None,
    ) -> pl.DataFrame:
        result = clean_day(
            day,
            **raw,
            universe=self.universe,
            prior_funding=previous["funding"] if previous else None,
            prior_open_interest=previous["open_interest"] if previous else None,
            config=self.config,
            liquidation_symbols=liquidation_symbols,
        )
        result.check()
        return result.bars

    def day_bars(self, day: str) -> pl.DataFrame:
        """The cleaned bars of one ``day`` of the window (non-gap and gap rows)."""
        start, end = day_bounds(day)
        return self.clean().filter((pl.col("ts") >= start) & (pl.col("ts") < end))
