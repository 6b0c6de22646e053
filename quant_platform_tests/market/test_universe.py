"""Point-in-time universe: membership from dated listings, and the survivorship test.

The survivorship test plants delistings (a bankruptcy at -100 % and a takeover at +25 %) in a small panel
of known returns and compares the equal-weight portfolio of the point-in-time panel with the same portfolio
over the survivors only. The expected difference is computed independently, day by day with plain Python
loops over the planted returns (no polars, no library code), and must match exactly (to round-off).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.market.corporate_actions import apply_actions
from quant_platform.market.sources.synthetic_equity import SyntheticEquityConfig, SyntheticEquityMarket
from quant_platform.market.universe import (
    LISTING_SCHEMA,
    equal_weight_returns,
    listings_from_bars,
    members_on,
    membership,
    panel_returns,
)

DAYS = [date(2020, 3, 2) + timedelta(days=i) for i in range(10)]
SYMBOLS = ["A", "B", "C", "D", "E"]
# D goes bankrupt after day 3 (its last bar), E is taken over after day 6 at +25 %, C lists on day 2.
LAST = {"D": 3, "E": 6}
FIRST = {"C": 2}
DELISTING_RETURN = {"D": -1.0, "E": 0.25}


def _planted() -> tuple[pl.DataFrame, pl.DataFrame, dict[str, list[float]]]:
    rng = np.random.default_rng(42)
    returns = {s: list(rng.normal(0.0, 0.02, len(DAYS))) for s in SYMBOLS}
    rows = []
    for s in SYMBOLS:
        price = 100.0
        for k, day in enumerate(DAYS):
            if k < FIRST.get(s, 0) or k > LAST.get(s, len(DAYS) - 1):
                continue
            if k > FIRST.get(s, 0):
                price *= 1.0 + returns[s][k]
            rows.append({"symbol": s, "ts": datetime(day.year, day.month, day.day, tzinfo=UTC), "tri": price})
    prices = pl.DataFrame(
        rows, schema={"symbol": pl.String, "ts": pl.Datetime("ms", "UTC"), "tri": pl.Float64}
    )
    listings = pl.DataFrame(
        {
            "symbol": SYMBOLS,
            "listed": [DAYS[FIRST.get(s, 0)] for s in SYMBOLS],
            "delisted": [DAYS[LAST[s]] if s in LAST else None for s in SYMBOLS],
            "delisting_return": [DELISTING_RETURN.get(s) for s in SYMBOLS],
            "reason": [{"D": "bankruptcy", "E": "takeover"}.get(s) for s in SYMBOLS],
        },
        schema=LISTING_SCHEMA,
    )
    return prices, listings, returns


def _expected_difference(returns: dict[str, list[float]]) -> list[float]:
    """Day by day: mean over the members with a return (delisting day compounded) minus mean over survivors."""
    survivors = [s for s in SYMBOLS if s not in LAST]
    out = []
    for k in range(1, len(DAYS)):
        members = []
        for s in SYMBOLS:
            if FIRST.get(s, 0) < k <= LAST.get(s, len(DAYS) - 1):
                r = returns[s][k]
                if LAST.get(s) == k:
                    r = (1.0 + r) * (1.0 + DELISTING_RETURN[s]) - 1.0
                members.append(r)
        alive = [returns[s][k] for s in survivors if FIRST.get(s, 0) < k]
        out.append(sum(members) / len(members) - sum(alive) / len(alive))
    return out


def test_membership_is_point_in_time() -> None:
    _, listings, _ = _planted()
    assert members_on(listings, DAYS[0]) == ["A", "B", "D", "E"]
    assert members_on(listings, DAYS[3]) == ["A", "B", "C", "D", "E"]  # D's last day: still a member
    assert members_on(listings, DAYS[4]) == ["A", "B", "C", "E"]
    assert members_on(listings, DAYS[7]) == ["A", "B", "C"]
    table = membership(listings, DAYS)
    assert table.height == sum(len(members_on(listings, d)) for d in DAYS)


def test_delisted_stocks_count_until_their_last_day_survivorship_test() -> None:
    prices, listings, returns = _planted()
    pit = equal_weight_returns(panel_returns(prices, listings))
    survivors = listings.filter(pl.col("delisted").is_null())
    surv = equal_weight_returns(
        panel_returns(prices.filter(pl.col("symbol").is_in(survivors["symbol"])), survivors)
    )
    assert pit["day"].to_list() == surv["day"].to_list() == DAYS[1:]
    difference = (pit["ret"] - surv["ret"]).to_list()
    assert difference == pytest.approx(_expected_difference(returns), abs=1e-15)
    # the bankruptcy day costs the point-in-time portfolio about a fifth of its value (1 of 5 members at -100 %)
    assert difference[LAST["D"] - 1] < -0.15
    # after the last delisting the two panels hold the same stocks: no difference at all
    assert all(d == 0.0 for d in difference[LAST["E"] :])
    assert pit.filter(pl.col("day") == DAYS[LAST["D"]])["members"].item() == 5


def test_prices_after_the_last_trading_day_are_refused() -> None:
    prices, listings, _ = _planted()
    late = listings.with_columns(
        pl.when(pl.col("symbol") == "A").then(pl.lit(DAYS[5])).otherwise(pl.col("delisted")).alias("delisted")
    )
    with pytest.raises(ValueError, match="outside their symbol's listing"):
        panel_returns(prices, late)
    with pytest.raises(ValueError, match="without a listing"):
        panel_returns(prices, listings.filter(pl.col("symbol") != "B"))


def test_survivorship_bias_on_the_synthetic_panel() -> None:
    """On the synthetic equity panel (planted bankruptcies drift down before their -100 % delisting), the
    survivors-only equal-weight panel beats the point-in-time one, and by exactly the planted delisting days'
    and pre-delisting days' contributions (the same formula as above, applied to the planted returns)."""
    market = SyntheticEquityMarket(SyntheticEquityConfig(seed=8))  # 3 bankruptcies, 3 takeovers
    listings = market.listings()
    prices = apply_actions(market.daily_frame(), market.corporate_actions())
    pit = equal_weight_returns(panel_returns(prices, listings))
    survivors = listings.filter(pl.col("delisted").is_null())
    surv = equal_weight_returns(
        panel_returns(prices.filter(pl.col("symbol").is_in(survivors["symbol"])), survivors)
    )
    growth = lambda f: float((1 + f["ret"]).product())  # noqa: E731
    assert listings.filter(pl.col("reason") == "bankruptcy").height >= 1
    assert growth(surv) > growth(pit)
    # independent: the planted total returns, day by day
    frame = market.daily_frame().drop_nulls("total_return")
    planted = {(s, t.date()): r for s, t, r in frame.select("symbol", "ts", "total_return").iter_rows()}
    info = {row["symbol"]: row for row in listings.iter_rows(named=True)}
    for day, ret, n in pit.iter_rows():
        values = []
        for (s, d), r in planted.items():
            if d != day:
                continue
            if info[s]["delisted"] == d:
                r = (1 + r) * (1 + info[s]["delisting_return"]) - 1
            values.append(r)
        assert n == len(values) and ret == pytest.approx(sum(values) / len(values), abs=1e-12)


def test_listings_observed_in_the_real_stock_file() -> None:
    from quant_platform_tests.market.test_ohlcv_csv import STOCKS, need

    bars = pl.read_csv(need(STOCKS)).select(
        pl.col("Ticker").alias("symbol"),
        pl.col("Date").str.to_datetime("%Y-%m-%d", time_unit="ms", time_zone="UTC").alias("ts"),
        pl.col("Close").alias("close"),
    )
    listings = listings_from_bars(bars)
    by_symbol = {r["symbol"]: r for r in listings.iter_rows(named=True)}
    assert by_symbol["GOOG"]["listed"] == date(2004, 8, 19)  # Google's IPO
    assert by_symbol["FB"]["listed"] == date(2012, 5, 18)  # Facebook's IPO
    assert listings["delisted"].null_count() == 5  # all five trade through the file's last day
    # observed against an end after the file: every symbol's last bar is then a delisting
    assert listings_from_bars(bars, "2014-01-01")["delisted"].to_list() == [date(2013, 3, 1)] * 5
