"""The synthetic equity panel against its own planted truth: sessions, determinism, and the corporate actions
and total returns recovered from its raw prices by the library (independent paths to the same numbers)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from quant_platform.market.corporate_actions import actions_from_adj_close, apply_actions
from quant_platform.market.sources.factory import make_source
from quant_platform.market.sources.synthetic_equity import (
    SyntheticEquityConfig,
    SyntheticEquityMarket,
    sessions,
)
from quant_platform.market.sources.tables import RAW_TABLE_SCHEMAS


@pytest.fixture(scope="module")
def market() -> SyntheticEquityMarket:
    return SyntheticEquityMarket(SyntheticEquityConfig(seed=3))


def test_sessions_are_weekdays_without_the_holidays() -> None:
    days = sessions("2015-01-01", "2015-12-31")
    # NYSE 2015 had 252 sessions; this calendar has no Good Friday (Apr 3) and does not move a weekend
    # holiday to the Friday before (Jul 4 was a Saturday): 252 + 2
    assert (
        len(days) == 254
        and date(2015, 4, 3) in days
        and date(2015, 7, 3) in days
        and all(d.weekday() < 5 for d in days)
    )
    for closed in (
        date(2015, 1, 1),
        date(2015, 1, 19),
        date(2015, 5, 25),
        date(2015, 11, 26),
        date(2015, 12, 25),
    ):
        assert closed not in days
    assert date(2015, 1, 2) in days and date(2015, 11, 27) in days


def test_same_config_same_panel_and_source_contract(market: SyntheticEquityMarket) -> None:
    again = make_source("synthetic_equity", seed=3)
    assert again.daily_frame().equals(market.daily_frame())
    assert again.corporate_actions().equals(market.corporate_actions())
    other = SyntheticEquityMarket(SyntheticEquityConfig(seed=4))
    assert not other.daily_frame().equals(market.daily_frame())
    day = market.fetch("perp_bars", "2015-06-01")
    assert day.schema == RAW_TABLE_SCHEMAS["perp_bars"] and day.height > 0
    assert market.fetch("perp_bars", "2015-06-06").is_empty()  # a Saturday
    assert market.fetch("funding", "2015-06-01").is_empty()  # equities have no funding
    frame = market.daily_frame()
    assert (frame["high"] >= frame[["open", "close"]].max_horizontal()).all()
    assert (frame["low"] <= frame[["open", "close"]].min_horizontal()).all()


def test_adj_close_gives_back_the_planted_actions(market: SyntheticEquityMarket) -> None:
    planted = market.corporate_actions()
    assert set(planted["action"]) == {"split", "dividend"}
    derived = actions_from_adj_close(market.daily_frame())
    joined = planted.join(derived, on=["symbol", "ex_date", "action"], how="full", suffix="_derived")
    assert joined.height == planted.height == derived.height  # no action missed, none invented
    assert (joined["ratio"] == joined["ratio_derived"]).all()
    cash = joined.drop_nulls("cash")
    assert ((cash["cash"] / cash["cash_derived"] - 1).abs() < 1e-9).all()


def test_total_return_index_gives_back_the_planted_returns(market: SyntheticEquityMarket) -> None:
    frame = apply_actions(market.daily_frame(), market.corporate_actions())
    ret = frame.with_columns((pl.col("tri") / pl.col("tri").shift(1).over("symbol") - 1).alias("r"))
    both = ret.drop_nulls("total_return")
    assert both.height == frame.height - frame["symbol"].n_unique()  # every bar but each listing day
    assert (both["r"] - both["total_return"]).abs().max() < 1e-12
    # raw closes jump at splits; split-adjusted closes move only by the return minus the dividend yield
    split_days = market.corporate_actions().filter(pl.col("action") == "split")
    assert split_days.height > 0
