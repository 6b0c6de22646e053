"""The round-trip table: hand-worked trades (a flip, scaling in and out, an open trip) and agreement with a
plain loop that pairs the fills of the reference event loop on real GOOG daily bars."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_platform.engine import EngineConfig, long_short_targets, run_backtest
from quant_platform.engine.schemas import EngineRoundTrips
from quant_platform_tests.engine.helpers import NO_COSTS, make_bars, reference_backtest
from quant_platform_tests.engine.test_properties import COSTLY, market
from quant_platform_tests.engine.test_reference_real_data import REAL


def cfg(**kw: object) -> EngineConfig:
    return EngineConfig(**{"initial_capital": 1000.0, **NO_COSTS, **kw})  # type: ignore[arg-type]


def test_a_flip_closes_one_round_trip_and_opens_the_next_with_the_fee_split_by_units() -> None:
    opens = [100.0, 100.0, 100.0, 110.0, 125.0, 90.0, 80.0, 100.0]
    close = [100.0, 100.0, 110.0, 120.0, 100.0, 85.0, 90.0, 110.0]
    target = np.array([0.0, 1.0, 1.0, -1.0, -1.0, 0.0, 0.5, 0.5])
    res = run_backtest(make_bars(close, open_=opens), target, cfg(taker_fee_bps=10.0))
    trips = EngineRoundTrips.validate(res.round_trips)
    # bar 2: buy 10 @ 100 (fee 1.0); bar 4: one fill of -18 @ 125 (fee 2.25 = 1.25 closing 10 + 1.00 opening 8);
    # bar 6: buy 8 @ 80 (fee 0.64); bar 7: buy 5 @ 100 (fee 0.5), still open, marked at the last close 110
    assert res.trades.height == 4
    assert trips["side"].to_list() == ["long", "short", "long"]
    assert trips["size"].to_list() == pytest.approx([10.0, 8.0, 5.0], rel=1e-15)
    assert trips["entry_price"].to_list() == pytest.approx([100.0, 125.0, 100.0], rel=1e-15)
    assert trips["exit_price"].to_list()[:2] == pytest.approx([125.0, 80.0], rel=1e-15)
    assert trips["exit_price"][2] is None and trips["exit_ts"][2] is None
    assert trips["closed"].to_list() == [True, True, False]
    assert trips["entry_ts"].dt.minute().to_list() == [10, 20, 35]  # bars 2, 4, 7 (5-minute bars)
    assert trips["exit_ts"].dt.minute().to_list()[:2] == [20, 30]  # the flip's bar closes the first trip
    assert trips["bars_held"].to_list() == [2, 2, 0]
    assert trips["n_fills"].to_list() == [2, 2, 1]
    assert trips["entry_fees"].to_list() == pytest.approx([1.0, 1.0, 0.5], rel=1e-12)
    assert trips["exit_fees"].to_list() == pytest.approx([1.25, 0.64, 0.0], rel=1e-12)
    assert trips["pnl_gross"].to_list() == pytest.approx([250.0, 360.0, 50.0], rel=1e-12)
    assert trips["pnl_net"].to_list() == pytest.approx([247.75, 358.36, 49.5], rel=1e-12)
    assert trips["return_gross"].to_list() == pytest.approx([0.25, 0.36, 0.1], rel=1e-12)
    assert trips["return_net"].to_list() == pytest.approx([0.24775, 358.36 / 1000.0, 0.099], rel=1e-12)
    assert res.metrics["final_equity"] - 1000.0 == pytest.approx(trips["pnl_net"].sum(), rel=1e-12)
    assert res.metrics["n_round_trips"] == 2  # closed ones
    assert res.metrics["hit_rate"] == 1.0


def test_scaling_in_and_out_averages_the_entry_and_exit_legs() -> None:
    opens = [100.0, 100.0, 125.0, 200.0, 160.0, 160.0]
    target = np.array([0.5, 1.0, 0.25, 0.0, 0.0, 0.0])
    res = run_backtest(make_bars(opens, open_=opens), target, cfg())
    trips = res.round_trips
    # units: 5 @ 100, +3 @ 125 (8 held), -6.75 @ 200 (1.25 held), -1.25 @ 160
    assert trips.height == 1
    row = trips.row(0, named=True)
    assert row["size"] == pytest.approx(8.0, rel=1e-15)
    assert row["entry_price"] == pytest.approx((5 * 100.0 + 3 * 125.0) / 8, rel=1e-15)
    assert row["exit_price"] == pytest.approx((6.75 * 200.0 + 1.25 * 160.0) / 8, rel=1e-15)
    assert row["pnl_gross"] == pytest.approx(1550.0 - 875.0, rel=1e-12)
    assert (row["n_fills"], row["bars_held"], row["closed"]) == (4, 3, True)


def test_a_run_without_fills_has_an_empty_round_trip_table_of_the_schema() -> None:
    res = run_backtest(make_bars([100.0] * 5), np.zeros(5), cfg())
    assert EngineRoundTrips.validate(res.round_trips).height == 0


def test_funding_is_charged_to_the_trip_holding_the_position() -> None:
    bars = make_bars([100.0] * 6)
    funding = pl.DataFrame(
        {"symbol": ["X", "X"], "ts": [bars["ts"][3], bars["ts"][5]], "funding_rate": [1e-3, 2e-3]}
    )
    target = np.array([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])  # long from bar 1, flipped short at bar 4
    res = run_backtest(bars, target, cfg(), funding=funding)
    trips = res.round_trips
    # bar 3 settles on the long (10 units x 100 x 1e-3 paid), bar 5 on the short (receives 10 x 100 x 2e-3)
    assert trips["funding_pnl"].to_list() == pytest.approx([-1.0, 2.0], rel=1e-12)
    assert trips["pnl_net"].sum() == pytest.approx(res.metrics["pnl_net"], rel=1e-12)


def _pair_fills(fills: list[tuple[int, float, float]], fee_rate: float) -> list[dict]:
    """Fills (bar, qty, exec_price) of one symbol → round trips, by a plain position loop (flip = two legs)."""
    trips: list[dict] = []
    units = 0.0
    for bar, qty, price in fills:
        after = units + qty
        fee = abs(qty) * price * fee_rate
        closing = (
            abs(units)
            if units != 0 and (after == 0 or math.copysign(1, after) != math.copysign(1, units))
            else 0.0
        )
        opening = abs(after) if after != 0 and (units == 0 or closing > 0) else 0.0
        if closing == 0 and opening == 0:  # same side: add or reduce the open trip
            trip = trips[-1]
            if abs(after) > abs(units):
                trip["entry_value"] += abs(qty) * price
                trip["size"] += abs(qty)
                trip["fees"] += fee
            else:
                trip["exit_value"] += abs(qty) * price
                trip["fees"] += fee
        if closing:
            trip = trips[-1]
            trip["exit_value"] += closing * price
            trip["fees"] += fee * closing / (closing + opening)
            trip["exit_bar"] = bar
        if opening:
            share = opening / (closing + opening)
            trips.append(
                {"side": math.copysign(1, after), "entry_bar": bar, "size": opening, "entry_value": opening * price,
                 "exit_value": 0.0, "fees": fee * share, "exit_bar": None}
            )  # fmt: skip
        units = after
    return trips


def test_round_trips_of_a_long_short_sma_cross_on_real_goog_match_a_plain_pairing_loop() -> None:
    if not REAL.exists():
        pytest.skip(f"real data not found at {REAL}")
    raw = pl.read_csv(REAL).filter(pl.col("Ticker") == "GOOG").sort("Date")
    factor = pl.col("Adj Close") / pl.col("Close")
    bars = raw.select(
        pl.lit("GOOG").alias("symbol"),
        pl.col("Date").str.to_datetime("%Y-%m-%d", time_unit="ms", time_zone="UTC").alias("ts"),
        *((pl.col(c) * factor).alias(c.lower()) for c in ("Open", "High", "Low")),
        pl.col("Adj Close").alias("close"),
        (pl.col("Volume") / factor).cast(pl.Float64).alias("volume"),
        pl.lit(False).alias("gap"),
    )
    close = bars["close"].to_numpy()
    sma = {n: np.convolve(close, np.ones(n) / n, mode="full")[: close.size] for n in (10, 20)}
    for n, s in sma.items():
        s[: n - 1] = np.nan
    target = long_short_targets(sma[10], sma[20])  # backtesting.py's SmaCross: flip on every cross
    config = cfg(initial_capital=10_000.0, taker_fee_bps=20.0, slippage_base_bps=1.0)
    res = run_backtest(bars, target, config)
    arrays = [bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    ref_fills, ref_equity = reference_backtest(*arrays, bars["gap"].to_numpy(), target, config)
    expected = _pair_fills(ref_fills, config.taker_fee_bps * 1e-4)
    trips = EngineRoundTrips.validate(res.round_trips)
    assert trips.height == len(expected) > 20
    assert (trips["side"] == "long").to_list() == [t["side"] > 0 for t in expected]
    bar_of = {ts: i for i, ts in enumerate(bars["ts"].to_list())}
    assert [bar_of[t] for t in trips["entry_ts"]] == [t["entry_bar"] for t in expected]
    closed = [t for t in expected if t["exit_bar"] is not None]
    assert [bar_of[t] for t in trips.filter("closed")["exit_ts"]] == [t["exit_bar"] for t in closed]
    np.testing.assert_allclose(trips["size"], [t["size"] for t in expected], rtol=1e-12)
    np.testing.assert_allclose(
        trips["entry_price"], [t["entry_value"] / t["size"] for t in expected], rtol=1e-12
    )
    np.testing.assert_allclose(
        trips.filter("closed")["exit_price"], [t["exit_value"] / t["size"] for t in closed], rtol=1e-12
    )
    fees = (trips["entry_fees"] + trips["exit_fees"]).to_numpy()
    np.testing.assert_allclose(fees, [t["fees"] for t in expected], rtol=1e-9)
    gross = [t["side"] * (t["exit_value"] - t["entry_value"]) for t in closed]
    np.testing.assert_allclose(trips.filter("closed")["pnl_gross"], gross, rtol=1e-9)
    assert trips["pnl_net"].sum() == pytest.approx(ref_equity[-1] - 10_000.0, rel=1e-9)
    assert res.metrics["n_round_trips"] == len(closed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market(columns=2), st.sampled_from(["fixed_capital", "current_equity"]))
def test_round_trips_add_up_to_the_run_and_to_its_trade_metrics(data, sizing) -> None:
    arrays, targets, rate = data
    frames = []
    for k, symbol in enumerate(("A", "B")):
        bars = make_bars(arrays["close"] * (1 + k), symbol=symbol, open_=arrays["open"] * (1 + k))
        frames.append(bars.with_columns(gap=pl.Series(arrays["gap"])))
    bars = pl.concat(frames)
    funding = pl.DataFrame({"symbol": "A", "ts": frames[0]["ts"], "funding_rate": rate}).filter(
        pl.col("funding_rate") != 0
    )
    conf = COSTLY.replace(sizing=sizing, max_gross_weight=2.0)
    res = run_backtest(bars, targets, conf, funding=funding if funding.height else None)
    trips = EngineRoundTrips.validate(res.round_trips)
    slack = 1e-9 * conf.initial_capital
    assert abs(trips["pnl_net"].sum() - res.metrics["pnl_net"]) <= slack
    assert abs((trips["entry_fees"] + trips["exit_fees"]).sum() - res.metrics["fees"]) <= slack
    assert abs(trips["funding_pnl"].sum() - res.metrics["funding_pnl"]) <= slack
    closed = trips.filter("closed")
    assert closed.height == res.metrics["n_round_trips"]
    if closed.height:
        wins, ties = int((closed["pnl_net"] > 0).sum()), int((closed["pnl_net"].abs() <= slack).sum())
        assert (
            abs(wins - res.metrics["hit_rate"] * closed.height) <= ties + 1e-9
        )  # a tie may round either way
    # every fill is one leg of a trip, or two for a flip
    flips = (
        np.sign(res.trades["units_after"]) * np.sign(res.trades["units_after"] - res.trades["qty"]) < 0
    ).sum()
    assert trips["n_fills"].sum() == res.trades.height + flips
