"""Observed sessions (daily equity bars): closed days have no rows, session days a row per universe symbol.

Truth: the NYSE calendar of 2010 as the real stocks file records it (weekends, Good Friday 2010-04-02 and
Independence Day observed 2010-07-05 closed), and the row accounting ``raw == clean + quarantined``.
"""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.market.cleaning import BAR_COLUMNS, CleaningConfig, clean_day
from quant_platform.market.reconciliation import reconciliation_report
from quant_platform.market.sources.ohlcv_csv import OhlcvCsvSource
from quant_platform_tests.market.test_ohlcv_csv import STOCKS, need

OBSERVED = CleaningConfig(interval_minutes=1440, sessions="observed")
CONTINUOUS = CleaningConfig(interval_minutes=1440)


@pytest.fixture(scope="module")
def stocks() -> OhlcvCsvSource:
    return OhlcvCsvSource(need(STOCKS))


def _clean(source: OhlcvCsvSource, day: str, config: CleaningConfig):
    result = clean_day(day, source.fetch("perp_bars", day), universe=tuple(source.symbols), config=config)
    result.check()  # raw == clean + quarantined for every table
    return result


@pytest.mark.parametrize("day", ["2010-04-03", "2010-04-02", "2010-07-05"])  # Saturday, Good Friday, July 4th
def test_closed_day_has_no_rows_and_is_reported_closed(stocks: OhlcvCsvSource, day: str) -> None:
    result = _clean(stocks, day, OBSERVED)
    assert result.bars.height == 0
    assert result.bars.schema == _clean(stocks, day, CONTINUOUS).bars.schema
    report = reconciliation_report(result, tuple(stocks.symbols), 1440, "observed")
    assert report["passed"] and report["market_closed"] and report["symbols_with_incomplete_grid"] == []


def test_session_day_has_a_row_per_symbol_and_an_unlisted_symbol_is_a_gap_row(stocks: OhlcvCsvSource) -> None:
    day = "2010-04-05"  # the Monday after Good Friday; FB only lists in 2012
    raw = stocks.fetch("perp_bars", day)
    result = _clean(stocks, day, OBSERVED)
    bars = result.bars
    assert bars["symbol"].to_list() == sorted(stocks.symbols)
    traded = set(raw["symbol"].to_list())
    assert traded and "FB" not in traded
    assert set(bars.filter(~pl.col("gap"))["symbol"].to_list()) == traded
    assert bars.filter(pl.col("gap"))["symbol"].to_list() == ["FB"]
    # the same rows as the continuous grid on a session day
    assert bars.equals(_clean(stocks, day, CONTINUOUS).bars)
    report = reconciliation_report(result, tuple(stocks.symbols), 1440, "observed")
    assert report["passed"] and not report["market_closed"]
    assert result.accounting["perp_bars"] == {"raw": raw.height, "clean": len(traded), "quarantined": 0}


def test_continuous_mode_keeps_weekend_gap_rows(stocks: OhlcvCsvSource) -> None:
    result = _clean(stocks, "2010-04-03", CONTINUOUS)
    assert result.bars.height == len(stocks.symbols) and result.bars["gap"].all()
    # a continuous grid's day without a clean bar fails unless the user declared it known-empty
    report = reconciliation_report(result, tuple(stocks.symbols), 1440)
    assert not report["passed"] and report["symbols_without_clean_bars"] == sorted(stocks.symbols)
    report = reconciliation_report(result, tuple(stocks.symbols), 1440, known_empty=True)
    assert report["passed"] and "market_closed" not in report


def _one_bar(day: str, high: float) -> pl.DataFrame:
    prices = {"open": [1.0], "high": [high], "low": [1.0], "close": [1.0]}
    return pl.DataFrame({"symbol": ["AAA"], "ts": [day], **prices}).with_columns(
        pl.col("ts").str.to_datetime(time_unit="ms", time_zone="UTC"),
        *[
            pl.lit(None, dtype=t).alias(c)
            for c, t in BAR_COLUMNS.items()
            if c not in ("symbol", "ts", *prices)
        ],
    )


def test_a_day_whose_priced_bars_are_all_quarantined_is_a_failed_session_not_a_holiday() -> None:
    """Issue 14: a day whose bars all failed validation (e.g. a close-only panel: missing_price) used to be
    a closed session with no rows and a green reconciliation. A priced bar means the market was open: the
    day is a session of gap rows and fails for want of a clean bar."""
    bad = _one_bar("2024-01-06", high=0.5)
    result = clean_day("2024-01-06", bad, universe=("AAA", "BBB"), config=OBSERVED)
    result.check()
    assert result.bars.select("symbol", "gap").rows() == [("AAA", True), ("BBB", True)]
    assert result.accounting["perp_bars"] == {"raw": 1, "clean": 0, "quarantined": 1}
    assert result.quarantined["reason"].to_list() == ["high_below_low"]
    report = reconciliation_report(result, ("AAA", "BBB"), 1440, "observed")
    assert not report["passed"] and not report["market_closed"]
    assert report["symbols_without_clean_bars"] == ["AAA", "BBB"]
    assert reconciliation_report(result, ("AAA", "BBB"), 1440, "observed", known_empty=True)["passed"]


def test_a_day_whose_rows_carry_no_price_is_closed_and_accounted() -> None:
    """A row with every price cell empty (a wide panel's holiday row) is no trade: the day stays closed."""
    empty = _one_bar("2024-01-06", high=1.0).with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c) for c in ("open", "high", "low", "close")
    )
    result = clean_day("2024-01-06", empty, universe=("AAA", "BBB"), config=OBSERVED)
    result.check()
    assert result.bars.height == 0
    assert result.accounting["perp_bars"] == {"raw": 1, "clean": 0, "quarantined": 1}
    report = reconciliation_report(result, ("AAA", "BBB"), 1440, "observed")
    assert report["passed"] and report["market_closed"]


def test_a_symbol_missing_on_a_session_day_is_an_explicit_gap_row() -> None:
    bars = clean_day(
        "2024-01-05", _one_bar("2024-01-05", high=1.0), universe=("AAA", "BBB"), config=OBSERVED
    ).bars
    assert bars.select("symbol", "gap").rows() == [("AAA", False), ("BBB", True)]


@pytest.mark.parametrize("minutes", [5, 60])
def test_observed_sessions_are_refused_below_daily_bars(minutes: int) -> None:
    with pytest.raises(ValueError, match="daily bars"):
        CleaningConfig(interval_minutes=minutes, sessions="observed")
    with pytest.raises(ValueError, match="sessions='weekly'"):
        CleaningConfig(interval_minutes=1440, sessions="weekly")
