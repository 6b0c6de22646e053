"""Cleaning on small hand-built days: one case per quarantine reason, gaps, partial bars, joins, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.market import quarantine as q
from quant_platform.market.cleaning import CleaningConfig, CleanResult, clean_day, infer_source_interval
from quant_platform.market.schemas import Bars5m, QuarantinedRows

DAY = "2024-01-02"
T0 = datetime(2024, 1, 2, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bar(symbol: str, minute: float, price: float = 100.0, **overrides) -> dict:
    row = {
        "symbol": symbol,
        "ts": at(minute),
        "open": price,
        "high": price + 1,
        "low": price - 1,
        "close": price + 0.5,
        "volume": 10.0,
        "quote_volume": 1000.0,
        "trades": 5,
        "taker_buy_volume": 6.0,
        "taker_buy_quote_volume": 600.0,
    }
    return row | overrides


def bars_frame(rows: list[dict]) -> pl.DataFrame:
    schema = {
        "symbol": pl.String,
        "ts": TS_DTYPE,
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "close": pl.Float64,
        "volume": pl.Float64,
        "quote_volume": pl.Float64,
        "trades": pl.Int64,
        "taker_buy_volume": pl.Float64,
        "taker_buy_quote_volume": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def slot(result: CleanResult, symbol: str, minute: int) -> dict:
    return result.bars.filter((pl.col("symbol") == symbol) & (pl.col("ts") == at(minute))).to_dicts()[0]


def test_each_reason_is_assigned_and_the_rest_is_kept() -> None:
    rows = [
        bar("BTC", 0),
        bar("BTC", 1, open=None),  # missing_price
        bar("BTC", 2, open=float("nan")),  # missing_price (NaN)
        bar("BTC", 3, low=0.0),  # nonpositive_price
        bar("BTC", 4, high=90.0, low=95.0, open=92.0, close=93.0),  # high_below_low
        bar("BTC", 5, close=120.0),  # ohlc_inconsistent (close above high)
        bar("BTC", 6, volume=-1.0),  # negative_volume
        bar("BTC", 7, trades=-3),  # negative_volume (trades)
        bar("BTC", 8, price=100.0),
        bar("BTC", 8, price=200.0),  # duplicate_ts: the first (100) is kept
        bar("BTC", 9.5),  # ts_misaligned
        bar("BTC", -1),  # ts_outside_day (previous day)
        bar("BTC", 1440),  # ts_outside_day (next day)
        bar("DOGE", 10),  # unknown_symbol
        bar("BTC", 11, open=None, volume=-1.0),  # first reason wins: missing_price
        bar("BTC", 12, high=float("inf")),  # missing_price (not a usable number)
        bar("BTC", 13, quote_volume=float("inf")),  # nonfinite_volume
    ]
    result = clean_day(DAY, bars_frame(rows), universe=("BTC",))
    reasons = result.quarantined.select("ts", "reason").rows()
    assert reasons == [
        (at(1), q.MISSING_PRICE),
        (at(2), q.MISSING_PRICE),
        (at(3), q.NONPOSITIVE_PRICE),
        (at(4), q.HIGH_BELOW_LOW),
        (at(5), q.OHLC_INCONSISTENT),
        (at(6), q.NEGATIVE_VOLUME),
        (at(7), q.NEGATIVE_VOLUME),
        (at(8), q.DUPLICATE_TS),
        (at(9.5), q.TS_MISALIGNED),
        (at(-1), q.TS_OUTSIDE_DAY),
        (at(1440), q.TS_OUTSIDE_DAY),
        (at(10), q.UNKNOWN_SYMBOL),
        (at(11), q.MISSING_PRICE),
        (at(12), q.MISSING_PRICE),
        (at(13), q.NONFINITE_VOLUME),
    ]
    assert set(result.quarantined["source_table"]) == {"perp_bars"}
    QuarantinedRows.validate(result.quarantined)
    Bars5m.validate(result.bars)
    # The duplicate's payload is the row as delivered (price 200), so nothing is lost.
    dup = result.quarantined.filter(pl.col("reason") == q.DUPLICATE_TS)["payload"][0]
    assert '"open":200.0' in dup
    first = slot(result, "BTC", 5)  # minutes 5..9: only 8 (the first copy) is valid
    assert first["n_source_bars"] == 1 and first["open"] == 100.0
    assert slot(result, "BTC", 0)["n_source_bars"] == 1  # minutes 0..4: only minute 0 survived
    result.check()
    assert result.accounting["perp_bars"] == {"raw": 17, "clean": 2, "quarantined": 15}


def test_future_bars_relative_to_now() -> None:
    rows = [bar("BTC", m) for m in range(10)]
    now = at(7)  # bars opening at 6 close at 7: complete; the bar opening at 7 is still open
    result = clean_day(DAY, bars_frame(rows), now=now)
    assert result.quarantined["ts"].to_list() == [at(m) for m in (7, 8, 9)]
    assert set(result.quarantined["reason"]) == {q.TS_IN_FUTURE}
    assert slot(result, "BTC", 5)["n_source_bars"] == 2
    with pytest.raises(ValueError, match="timezone-aware"):
        clean_day(DAY, bars_frame(rows), now=datetime(2024, 1, 2, 0, 7))


def test_gap_rows_and_partial_bars() -> None:
    rows = [bar("BTC", m, price=100 + m) for m in (0, 1, 2, 3, 4, 12, 14)]
    result = clean_day(DAY, bars_frame(rows))
    Bars5m.validate(result.bars)
    assert result.bars.height == 288 and result.bars.select("ts").is_unique().all()
    full = slot(result, "BTC", 0)
    assert full == full | {
        "open": 100.0,
        "high": 105.0,
        "low": 99.0,
        "close": 104.5,
        "volume": 50.0,
        "trades": 25,
    }
    assert full["n_source_bars"] == 5 and not full["gap"] and full["quote_volume"] == 5000.0
    gap = slot(result, "BTC", 5)
    assert gap["gap"] and gap["n_source_bars"] == 0 and not gap["volume_ok"]
    assert all(gap[c] is None for c in ("open", "high", "low", "close", "volume", "trades", "spot_close"))
    partial = slot(result, "BTC", 10)
    assert partial["n_source_bars"] == 2 and not partial["gap"] and partial["open"] == 112.0
    assert partial["close"] == 114.5
    assert result.bars["gap"].sum() == 288 - 2


def test_universe_symbol_without_data_is_all_gaps() -> None:
    result = clean_day(DAY, bars_frame([bar("BTC", 0)]), universe=("BTC", "ETH"))
    eth = result.bars.filter(pl.col("symbol") == "ETH")
    assert eth.height == 288 and eth["gap"].all() and eth["close"].null_count() == 288


def test_null_volume_is_kept_and_sums_stay_honest() -> None:
    rows = [bar("BTC", 0), bar("BTC", 1, volume=None), bar("BTC", 5, trades=None)]
    result = clean_day(DAY, bars_frame(rows))
    assert result.quarantined.height == 0
    first = slot(result, "BTC", 0)
    assert first["volume"] is None and first["quote_volume"] == 2000.0 and first["volume_ok"]
    assert slot(result, "BTC", 5)["trades"] is None


def test_spot_close_and_basis() -> None:
    perp = bars_frame([bar("BTC", 0, close=100.5), bar("BTC", 4, price=101, close=101.0)])
    spot = bars_frame(
        [bar("BTC", 1, price=99, close=99.5), bar("BTC", 3, price=100, close=100.0), bar("BTC", 5)]
    )
    result = clean_day(DAY, perp, spot, config=CleaningConfig(source_interval_minutes=1))
    first = slot(result, "BTC", 0)
    assert first["spot_close"] == 100.0 and first["basis_bps"] == pytest.approx(1e4 * (101.0 / 100.0 - 1))
    second = slot(result, "BTC", 5)  # spot but no perp: a gap row that still knows the spot close
    assert second["gap"] and second["spot_close"] == 100.5 and second["basis_bps"] is None
    assert result.accounting["spot_bars"] == {"raw": 3, "clean": 3, "quarantined": 0}


def test_funding_and_open_interest_join_backward_on_the_bar_close() -> None:
    perp = bars_frame([bar("BTC", m) for m in range(0, 1440, 5)])
    funding = pl.DataFrame(
        {
            "symbol": ["BTC", "BTC", "BTC"],
            "ts": [at(480), at(960), at(960)],
            "funding_rate": [1e-4, 2e-4, 9e-4],
        },
        schema_overrides={"ts": TS_DTYPE},
    ).with_columns(pl.lit(None, dtype=pl.Float64).alias("mark_price"))
    oi = pl.DataFrame(
        {
            "symbol": ["BTC"] * 3,
            "ts": [at(10), at(12), at(20)],
            "open_interest": [5.0, 6.0, -1.0],
            "open_interest_value": [1.0] * 3,
        },
        schema_overrides={"ts": TS_DTYPE},
    )
    prior = pl.DataFrame(
        {
            "symbol": ["BTC", "BTC"],
            "ts": [at(-960), at(-480)],
            "funding_rate": [7e-4, 3e-4],
            "mark_price": [1.0, 1.0],
        },
        schema_overrides={"ts": TS_DTYPE},
    )
    result = clean_day(DAY, perp, funding=funding, open_interest=oi)
    assert slot(result, "BTC", 470)["funding_rate"] is None  # before the day's first print, no prior tail
    assert slot(result, "BTC", 475)["funding_rate"] == 1e-4  # closes at 08:00: the 08:00 print is known
    assert (
        slot(result, "BTC", 955)["funding_rate"] == 2e-4
    )  # the first 16:00 print; its duplicate is quarantined
    assert slot(result, "BTC", 0)["open_interest"] is None
    assert slot(result, "BTC", 5)["open_interest"] == 5.0  # closes at 00:10
    assert slot(result, "BTC", 10)["open_interest"] == 6.0
    assert slot(result, "BTC", 20)["open_interest"] == 6.0  # the negative snapshot is quarantined
    assert sorted(result.quarantined.select("source_table", "reason").rows()) == [
        ("funding", q.DUPLICATE_TS),
        ("open_interest", q.NEGATIVE_VALUE),
    ]
    with_prior = clean_day(DAY, perp, funding=funding, prior_funding=prior)
    assert slot(with_prior, "BTC", 0)["funding_rate"] == 3e-4  # the last print of the previous day
    assert slot(with_prior, "BTC", 475)["funding_rate"] == 1e-4
    with_prior.check()


def test_liquidations_are_summed_by_side_within_the_bar() -> None:
    perp = bars_frame([bar("BTC", m) for m in range(10)])
    liq = pl.DataFrame(
        {
            "symbol": ["BTC"] * 6,
            "ts": [at(0.5), at(4.99), at(4.99), at(5), at(6), at(7)],
            "side": ["SELL", "SELL", "SELL", "BUY", "BUY", "SELL"],
            "price": [100.0, 99.0, 99.0, 101.0, 102.0, -1.0],
            "qty": [1.0, 2.0, 2.0, 1.0, 1.0, 1.0],
            "notional": [100.0, 198.0, 198.0, 101.0, 102.0, -1.0],
        },
        schema_overrides={"ts": TS_DTYPE},
    )
    result = clean_day(DAY, perp, liquidations=liq)
    assert (slot(result, "BTC", 0)["liq_long_notional"], slot(result, "BTC", 0)["liq_short_notional"]) == (
        298.0,
        0.0,
    )
    assert (slot(result, "BTC", 5)["liq_long_notional"], slot(result, "BTC", 5)["liq_short_notional"]) == (
        0.0,
        203.0,
    )
    assert sorted(result.quarantined["reason"].to_list()) == [q.DUPLICATE_ROW, q.NONPOSITIVE_VALUE]
    assert result.accounting["liquidations"] == {"raw": 6, "clean": 4, "quarantined": 2}


def test_volume_filter_flags_near_empty_bars() -> None:
    rows = [bar("BTC", m, volume=10.0) for m in range(0, 100)]
    rows[52] = bar("BTC", 52, volume=0.0)
    rows[53] = bar("BTC", 53, volume=0.0)
    rows[54] = bar("BTC", 54, volume=0.1)
    rows[50] = bar("BTC", 50, volume=0.0)
    rows[51] = bar("BTC", 51, volume=0.0)
    result = clean_day(DAY, bars_frame(rows))
    assert not slot(result, "BTC", 50)["volume_ok"]  # 0.1 vs a median of 50
    assert slot(result, "BTC", 45)["volume_ok"]
    assert slot(result, "BTC", 0)["volume_ok"]


def test_daily_and_hourly_sources_on_their_own_grid() -> None:
    hourly = bars_frame([bar("SPY", 60 * h, price=400 + h) for h in range(24) if h != 5])
    assert infer_source_interval(hourly, 5) == 60
    assert infer_source_interval(hourly.reverse(), 5) == 60  # unsorted input is sorted first
    assert infer_source_interval(bars_frame([bar("SPY", 0)]), 1440) == 1440  # one bar: the default
    result = clean_day(DAY, hourly, config=CleaningConfig(interval_minutes=60))
    assert result.bars.height == 24 and result.bars["gap"].sum() == 1
    assert slot(result, "SPY", 300)["gap"]
    four_hourly = clean_day(DAY, hourly, config=CleaningConfig(interval_minutes=240))
    assert four_hourly.bars["n_source_bars"].to_list() == [4, 3, 4, 4, 4, 4]
    daily = bars_frame([bar("SPY", 0), bar("QQQ", 0, price=300)])
    one = clean_day(DAY, daily, config=CleaningConfig(interval_minutes=1440))
    assert one.bars.height == 2 and one.bars["n_source_bars"].to_list() == [1, 1]
    with pytest.raises(ValueError, match="not a multiple"):
        clean_day(DAY, hourly, config=CleaningConfig(interval_minutes=30))


def test_bad_configuration_and_input_are_refused() -> None:
    with pytest.raises(ValueError, match="tile a day"):
        CleaningConfig(interval_minutes=7)
    with pytest.raises(ValueError, match="multiple"):
        CleaningConfig(interval_minutes=5, source_interval_minutes=2)
    with pytest.raises(ValueError, match="lacks columns"):
        clean_day(DAY, pl.DataFrame({"symbol": ["BTC"]}))
    broken = CleanResult(
        pl.DataFrame(), pl.DataFrame(), {"perp_bars": {"raw": 3, "clean": 1, "quarantined": 1}}
    )
    with pytest.raises(ValueError, match="does not balance"):
        broken.check()
