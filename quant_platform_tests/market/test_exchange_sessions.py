"""Intraday sessions with a daily halt from an exchange calendar (``exchange:CMES``, the futures_5m_halt
profile): ES-like 1-minute bars become 5-minute bars only inside CME Globex sessions, so the daily
maintenance halt and the weekend hold no bars and feature windows run across them, where the continuous grid
fills every halt with gap rows and restarts every window there.

Truths: the CME Globex schedule as the ``exchange_calendars`` package publishes it (Sunday-Friday 23:00-22:00
UTC in winter), and the same data cleaned on the continuous grid as the counterfactual.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.core.sessions import BarCalendar, check_sessions, session_bar_opens
from quant_platform.core.timeutil import TS_DTYPE, day_range
from quant_platform.features import compute_features
from quant_platform.market.cleaning import BAR_COLUMNS, CleaningConfig, clean_day
from quant_platform.market.reconciliation import reconciliation_report
from quant_platform.specs.profiles import load_profile

SESSIONS = "exchange:CMES"
FIRST, LAST = "2024-01-07", "2024-01-13"  # Sunday evening open .. Friday close, then a closed Saturday
HALT_BAR = datetime(2024, 1, 9, 22, 30, tzinfo=UTC)  # inside Tuesday's 22:00-23:00 maintenance halt


def _raw_es_minutes(day: str, rng: np.random.Generator) -> pl.DataFrame:
    """One UTC day of 1-minute ES-like bars on every minute the calendar trades (none in the halt)."""
    opens = session_bar_opens(SESSIONS, day, 1)
    n = opens.size
    close = 4700.0 * np.exp(np.cumsum(rng.normal(0.0, 3e-4, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) if n else close
    spread = np.abs(rng.normal(0.0, 2e-4, n)) * close
    return pl.DataFrame(
        {
            "symbol": ["ES"] * n,
            "ts": pl.Series(opens, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(100, 1000, n),
            "quote_volume": None,
            "trades": None,
            "taker_buy_volume": None,
            "taker_buy_quote_volume": None,
        },
        schema=BAR_COLUMNS,
    )


@pytest.fixture(scope="module")
def raw_days() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(14)
    return {day: _raw_es_minutes(day, rng) for day in day_range(FIRST, LAST)}


def _clean(raw_days: dict[str, pl.DataFrame], sessions: str) -> tuple[pl.DataFrame, list[dict], pl.DataFrame]:
    frames, reports, quarantined = [], [], []
    for day, raw in raw_days.items():
        if day == HALT_BAR.date().isoformat():  # a stray print inside the halt: refused, not a bar
            stray = raw.head(1).with_columns(pl.lit(HALT_BAR).cast(TS_DTYPE).alias("ts"))
            raw = pl.concat([raw, stray])
        config = CleaningConfig(interval_minutes=5, source_interval_minutes=1, sessions=sessions)
        result = clean_day(day, raw, universe=("ES",), config=config)
        frames.append(result.bars)
        quarantined.append(result.quarantined)
        reports.append(reconciliation_report(result, ("ES",), 5, sessions, day=day))
    return pl.concat(frames), reports, pl.concat(quarantined)


def test_the_profile_names_the_calendar() -> None:
    profile = load_profile("futures_5m_halt")
    assert profile.grid == (5, SESSIONS) and profile.asset_class == "future"
    check_sessions(SESSIONS, 1)  # any bar length: the calendar has the sessions
    with pytest.raises(ValueError, match="no exchange calendar named 'NOPE'"):
        check_sessions("exchange:NOPE", 5)
    with pytest.raises(ValueError, match="needs daily bars"):
        check_sessions("observed", 5)


def test_cleaning_keeps_the_calendar_bars_and_quarantines_the_rest(raw_days) -> None:
    bars, reports, quarantined = _clean(raw_days, SESSIONS)
    assert all(r["passed"] for r in reports), [r for r in reports if not r["passed"]]
    by_day = {day: r["market_closed"] for day, r in zip(raw_days, reports, strict=True)}
    assert by_day["2024-01-13"] and not by_day["2024-01-08"]  # Saturday holds no session
    # 23 trading hours a weekday: 276 five-minute bars, none between 22:00 and 23:00 UTC
    minute_of_day = bars["ts"].dt.hour().cast(pl.Int32) * 60 + bars["ts"].dt.minute().cast(pl.Int32)
    assert not ((minute_of_day >= 22 * 60) & (minute_of_day < 23 * 60)).any()
    assert bars.filter(pl.col("ts").dt.date() == datetime(2024, 1, 9).date()).height == 276
    assert not bars["gap"].any()
    assert quarantined.select("reason", "ts").rows() == [("outside_session", HALT_BAR.replace(tzinfo=UTC))]


def test_windows_run_across_the_halt(raw_days) -> None:
    """On the calendar, the first bar after each halt is out of warm-up once the history is long enough;
    on the continuous grid the same data restarts every window after the halt's gap rows."""
    on_calendar, _, _ = _clean(raw_days, SESSIONS)
    continuous, _, _ = _clean(raw_days, "continuous")
    assert continuous["gap"].sum() >= 4 * 12  # each weekday's halt: twelve 5-minute gap rows
    features = compute_features(on_calendar, grid_minutes=5, sessions=SESSIONS)
    restarted = compute_features(continuous, grid_minutes=5)
    reopen = pl.col("ts").dt.hour() == 23  # the first hour after the halt
    late = pl.col("ts") >= datetime(2024, 1, 12, tzinfo=UTC)  # 1,116 bars in: past the 913-bar warm-up
    assert features.filter(late)["warmup"].sum() == 0
    assert features.filter(late & reopen)["ret_12"].null_count() == 0
    assert restarted.filter(late & reopen & ~pl.col("gap"))["warmup"].all()
    # research counts those bars by position: 12 bars after 21:55 is 22:55 + the halt = 23:55
    calendar = BarCalendar.of(on_calendar["ts"], 5, SESSIONS)
    before_halt = pl.Series([datetime(2024, 1, 10, 21, 55, tzinfo=UTC)]).cast(TS_DTYPE)
    assert calendar.shifted(before_halt, 12)[0] == datetime(2024, 1, 10, 23, 55, tzinfo=UTC)
    assert calendar.shifted(before_halt, 1)[0] - timedelta(hours=1) == datetime(
        2024, 1, 10, 22, 0, tzinfo=UTC
    )
