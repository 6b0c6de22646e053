"""Cleaned bars for a range of days straight from a market data source (fetch + clean per day), for tools that
run without the Dagster store (the lookahead CLI, benchmarks). The assets read bars_5m from the store."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from quant_platform.core.timeutil import day_range, parse_day
from quant_platform.market.cleaning import CleaningConfig, clean_day
from quant_platform.market.sources.base import MarketDataSource, covered_symbols

_TABLES = ("perp_bars", "spot_bars", "funding", "open_interest", "liquidations")


def bars_for_days(
    source: MarketDataSource,
    first_day: str,
    last_day: str,
    bar_minutes: int = 5,
    sessions: str = "continuous",
) -> pl.DataFrame:
    """Cleaned bars (a ``bar_minutes`` grid, as ``market_data.bar_minutes``) of every day in
    ``[first_day, last_day]``, each day's funding/OI as-of join seeded with the previous day's prints
    (as the bars_5m asset does). ``sessions`` as ``market_data.sessions`` (:class:`CleaningConfig`)."""
    frames = []
    previous = None
    if parse_day(first_day) > parse_day(last_day):
        raise ValueError(f"empty day range {first_day}..{last_day}")
    prior_day = (parse_day(first_day) - timedelta(days=1)).isoformat()
    try:
        previous = {t: source.fetch(t, prior_day) for t in ("funding", "open_interest")}
    except ValueError:
        previous = None  # before the source's first day: the first bars start without a prior print
    for day in day_range(first_day, last_day):
        raw = {t: source.fetch(t, day) for t in _TABLES}
        result = clean_day(
            day,
            **raw,
            universe=tuple(source.symbols),
            prior_funding=previous["funding"] if previous else None,
            prior_open_interest=previous["open_interest"] if previous else None,
            config=CleaningConfig(interval_minutes=bar_minutes, sessions=sessions),
            liquidation_symbols=covered_symbols(source, "liquidations", day),  # as the bars_5m asset does
        )
        result.check()
        frames.append(result.bars)
        previous = raw
    return pl.concat(frames)
