"""Corporate actions derived from the real daily stock file's Adj Close, checked against the companies'
published history, and the split-adjusted / total-return series built from them.

Truth: AAPL split 2:1 on 2000-06-21 and 2005-02-28; MSFT split 2:1 on 2003-02-18 and went ex its $3.00
special dividend (with the regular $0.08) on 2004-11-15; AAPL reinstated a $2.65 quarterly dividend in
August 2012; IBM paid a dividend every quarter; GOOG and FB neither split nor paid before 2013. The total
return index is checked against the file's own Adj Close returns (exact on split-only histories).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from quant_platform.market.corporate_actions import (
    ACTION_SCHEMA,
    CorporateActions,
    actions_from_adj_close,
    apply_actions,
    nearest_split_ratio,
)
from quant_platform_tests.market.test_ohlcv_csv import STOCKS, need


@pytest.fixture(scope="module")
def stocks() -> pl.DataFrame:
    return pl.read_csv(need(STOCKS)).select(
        pl.col("Ticker").alias("symbol"),
        pl.col("Date").str.to_datetime("%Y-%m-%d", time_unit="ms", time_zone="UTC").alias("ts"),
        *(pl.col(c.title()).alias(c) for c in ("open", "high", "low", "close")),
        pl.col("Adj Close").alias("adj_close"),
    )


@pytest.fixture(scope="module")
def actions(stocks: pl.DataFrame) -> pl.DataFrame:
    return CorporateActions.validate(actions_from_adj_close(stocks))


def test_splits_are_the_published_ones(actions: pl.DataFrame) -> None:
    splits = actions.filter(pl.col("action") == "split").select("symbol", "ex_date", "ratio").rows()
    assert splits == [
        ("AAPL", date(2000, 6, 21), 2.0),
        ("AAPL", date(2005, 2, 28), 2.0),
        ("MSFT", date(2003, 2, 18), 2.0),
    ]


def test_dividends_are_the_published_ones(actions: pl.DataFrame) -> None:
    dividends = actions.filter(pl.col("action") == "dividend")
    assert dividends.filter(pl.col("symbol").is_in(["GOOG", "FB"])).is_empty()
    special = dividends.filter(pl.col("symbol") == "MSFT", pl.col("ex_date") == date(2004, 11, 15))
    assert special["cash"].to_list() == [pytest.approx(3.08, abs=0.1)]
    aapl = dividends.filter(pl.col("symbol") == "AAPL")
    assert aapl["ex_date"].min() == date(2012, 8, 9)
    assert aapl["cash"].to_list() == pytest.approx([2.65] * 3, abs=0.12)
    ibm = dividends.filter(pl.col("symbol") == "IBM", pl.col("ex_date").dt.year().is_between(2001, 2012))
    per_year = ibm.group_by(pl.col("ex_date").dt.year()).len()
    assert per_year.height == 12 and per_year["len"].to_list() == [4] * 12


def test_split_ratio_reading() -> None:
    assert nearest_split_ratio(1.999998) == 2.0
    assert nearest_split_ratio(1.5003) == 1.5
    assert nearest_split_ratio(0.1) == pytest.approx(0.1)
    assert nearest_split_ratio(7.0) == 7.0
    assert nearest_split_ratio(1.0043) is None  # a dividend
    assert nearest_split_ratio(1.11245) is None  # MSFT's special dividend is not a 10:9 split


def test_total_return_index_follows_adj_close(stocks: pl.DataFrame, actions: pl.DataFrame) -> None:
    out = apply_actions(stocks, actions)
    relative = out.with_columns(
        (pl.col("adj_close") / pl.col("adj_close").first().over("symbol")).alias("adj")
    )
    deviation = relative.group_by("symbol").agg(
        ((pl.col("tri") / pl.col("adj")) - 1).abs().max().alias("dev")
    )
    dev = dict(deviation.iter_rows())
    # split-only histories: the same series to round-off
    assert dev["GOOG"] < 1e-12 and dev["FB"] < 1e-12
    # with dividends: CRSP's (P + D) / P_prev against Adj Close's P / (P_prev - D), a second-order gap
    assert dev["AAPL"] < 1e-3 and dev["IBM"] < 1e-3 and dev["MSFT"] < 5e-3
    aapl = relative.filter(pl.col("symbol") == "AAPL", pl.col("ts") < datetime(2012, 8, 1, tzinfo=UTC))
    assert ((aapl["tri"] / aapl["adj"]) - 1).abs().max() < 1e-12  # AAPL before its first dividend


def test_split_adjusted_prices_are_point_in_time(stocks: pl.DataFrame, actions: pl.DataFrame) -> None:
    aapl = stocks.filter(pl.col("symbol") == "AAPL")
    out = apply_actions(aapl, actions.filter(pl.col("symbol") == "AAPL"))
    # across the 2005 split the split-adjusted close moves like Adj Close (no dividend then), the raw close halves
    around = out.filter(pl.col("ts").dt.date().is_in([date(2005, 2, 25), date(2005, 2, 28)]))
    raw_ret = around["close"][1] / around["close"][0] - 1
    adj_ret = around["close_split_adj"][1] / around["close_split_adj"][0] - 1
    assert raw_ret < -0.45 and adj_ret == pytest.approx(
        around["adj_close"][1] / around["adj_close"][0] - 1, abs=1e-9
    )
    # forward adjustment: the first day's prices are the traded ones, and history cut before the 2005 split
    # gives the same adjusted prices up to the cut (appending the split never rewrites the past)
    assert out["close_split_adj"][0] == out["close"][0] and out["split_factor"].max() == 4.0
    cut = datetime(2005, 1, 1, tzinfo=UTC)
    early = apply_actions(
        aapl.filter(pl.col("ts") < cut),
        actions.filter(pl.col("symbol") == "AAPL", pl.col("ex_date") < cut.date()),
    )
    assert early.equals(out.filter(pl.col("ts") < cut))


def test_an_action_without_its_bar_is_refused(stocks: pl.DataFrame) -> None:
    bars = stocks.filter(pl.col("symbol") == "GOOG")
    orphan = pl.DataFrame(
        {
            "symbol": ["GOOG"],
            "ex_date": [date(2010, 1, 2)],
            "action": ["split"],
            "ratio": [2.0],
            "cash": [None],
            "source": ["test"],
        },
        schema=ACTION_SCHEMA,
    )
    with pytest.raises(ValueError, match="without a priced bar"):
        apply_actions(bars, orphan)


def test_ohlcv_source_carries_splits_and_listings_to_its_bars() -> None:
    """adjust="splits": AAPL's bars are split-adjusted forward (the traded price on the first day, the 2005
    split no longer a -50 % bar); listings="observed" dates FB's listing by its first bar (its IPO)."""
    from quant_platform.market.sources.ohlcv_csv import OhlcvCsvSource

    raw = OhlcvCsvSource(need(STOCKS), symbols=["AAPL", "FB"])
    adjusted = OhlcvCsvSource(need(STOCKS), symbols=["AAPL", "FB"], adjust="splits", listings="observed")
    before, after = (s.fetch("perp_bars", "2005-02-25") for s in (raw, adjusted))
    on_raw, on_adj = (s.fetch("perp_bars", "2005-02-28") for s in (raw, adjusted))
    assert on_raw["close"][0] / before["close"][0] - 1 < -0.45
    assert on_adj["close"][0] / after["close"][0] == pytest.approx(
        2 * on_raw["close"][0] / before["close"][0]
    )
    assert adjusted.fetch("perp_bars", "2000-03-01").equals(raw.fetch("perp_bars", "2000-03-01"))  # first day
    assert on_adj["volume"][0] == pytest.approx(
        on_raw["volume"][0] / 4
    )  # in first-day shares (two 2:1 splits)
    assert adjusted.corporate_actions().filter(pl.col("action") == "split")["ex_date"].to_list() == [
        date(2000, 6, 21),
        date(2005, 2, 28),
    ]
    listings = adjusted.listings()
    assert listings is not None and raw.listings() is None
    assert dict(listings.select("symbol", "listed").iter_rows())["FB"] == date(2012, 5, 18)
