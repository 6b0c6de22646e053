"""The shared real hourly EUR/USD file (../shared/data/real) as a market source and as cleaned 60-minute
bars, cleaned once per test session (the market layer's clean_day is the slow part)."""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from quant_platform.market.sources.base import MarketDataSource
from quant_platform_tests.shared_data import real_data_dir, require_real

EURUSD = real_data_dir() / "eurusd_1h_ask.csv"
EURUSD_OPTIONS = {
    "path": str(EURUSD),
    "symbol": "EURUSD",
    "columns": {"time": "Time", "symbol": None, "adj_close": None},
    "time_format": "%d.%m.%Y %H:%M:%S%.3f",
}
# Cleaned range: the lookahead CLI's whole chain history before LAST_DAY (it starts before the file: those
# days are explicit gap rows), which also covers the daily-partition test.
FIRST_DAY, LAST_DAY = "2016-12-01", "2017-04-21"


def eurusd_source() -> MarketDataSource:
    from quant_platform.market.sources.factory import make_source

    require_real(EURUSD)
    return make_source("ohlcv_csv", **EURUSD_OPTIONS)


@lru_cache(maxsize=1)
def _cleaned() -> pl.DataFrame:
    from quant_platform.features.market_window import bars_for_days

    return bars_for_days(eurusd_source(), FIRST_DAY, LAST_DAY, bar_minutes=60)


def eurusd_hourly_bars(first_day: str, last_day: str) -> pl.DataFrame:
    """Cleaned 60-minute bars of ``[first_day, last_day]`` (within FIRST_DAY..LAST_DAY); each day is cleaned on
    its own, so a slice equals cleaning just those days."""
    if not (FIRST_DAY <= first_day <= last_day <= LAST_DAY):
        raise ValueError(f"{first_day}..{last_day} is outside the cached {FIRST_DAY}..{LAST_DAY}")
    eurusd_source()  # skip when the file is absent
    day = pl.col("ts").dt.date().cast(pl.String)
    return _cleaned().filter(day >= first_day, day <= last_day)
