"""Small cases whose every number is worked out by hand in the test."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.engine import EngineConfig, run_backtest, run_sweep
from quant_platform.engine.schemas import EngineEquity, EngineRejectedOrders, EngineSteps, EngineTrades
from quant_platform_tests.engine.helpers import NO_COSTS, make_bars

CLOSE = [100.0, 100.0, 110.0, 120.0, 120.0]
OPEN = [100.0, 100.0, 105.0, 115.0, 121.0]
TARGET = np.array([0.0, 1.0, 1.0, 0.0, 0.0])  # decided at bar 1's close, flattened at bar 3's close


def cfg(**kw: object) -> EngineConfig:
    return EngineConfig(initial_capital=1000.0, **{**NO_COSTS, **kw})  # type: ignore[arg-type]


def test_next_open_fill_one_bar_after_signal_with_taker_fees() -> None:
    res = run_backtest(make_bars(CLOSE, open_=OPEN), TARGET, cfg(taker_fee_bps=10.0))
    units = 1000.0 / 105.0
    trades = res.trades
    assert trades["ts"].dt.minute().to_list() == [10, 20]  # bars 2 and 4, never the signal bars 1 and 3
    assert trades["fill_price"].to_list() == [105.0, 121.0]
    assert trades["qty"].to_list() == pytest.approx([units, -units], rel=1e-15)
    assert trades["fee"].to_list() == pytest.approx([1.0, units * 121.0 * 1e-3], rel=1e-12)
    expected = 1000.0 + units * (121.0 - 105.0) - 1.0 - units * 121.0 * 1e-3
    assert res.metrics["final_equity"] == pytest.approx(expected, rel=1e-12)
    assert res.metrics["pnl_gross"] == pytest.approx(units * 16.0, rel=1e-12)
    assert res.metrics["fees"] == pytest.approx(1.0 + units * 121.0 * 1e-3, rel=1e-12)
    # mark-to-market path: bar 2 marks at close 110, bar 3 at 120
    eq = res.equity["equity"].to_list()
    assert eq[:2] == [1000.0, 1000.0]
    assert eq[2] == pytest.approx(1000.0 + units * (110.0 - 105.0) - 1.0, rel=1e-12)
    assert eq[3] == pytest.approx(1000.0 + units * (120.0 - 105.0) - 1.0, rel=1e-12)
    EngineTrades.validate(res.trades)
    EngineSteps.validate(res.steps)
    EngineEquity.validate(res.equity)


def test_latency_delays_the_fill_by_extra_bars() -> None:
    res = run_backtest(make_bars(CLOSE, open_=OPEN), TARGET, cfg(latency_bars=1))
    assert res.trades["fill_price"].to_list() == [115.0]  # the exit would be due at bar 5: past the data
    assert res.metrics["final_equity"] == pytest.approx(1000.0 + 1000.0 / 115.0 * (120.0 - 115.0), rel=1e-12)


def test_next_close_and_vwap_fill_models() -> None:
    bars = make_bars(CLOSE, open_=OPEN)
    res = run_backtest(bars, TARGET, cfg(fill_price="next_close"))
    assert res.trades["fill_price"].to_list() == [110.0, 120.0]
    assert res.metrics["final_equity"] == pytest.approx(1000.0 + 1000.0 / 110.0 * 10.0, rel=1e-12)
    res = run_backtest(bars, TARGET, cfg(fill_price="vwap_hlc3"))
    h, low, c = (bars[col].to_numpy() for col in ("high", "low", "close"))
    assert res.trades["fill_price"].to_list() == pytest.approx([(h[i] + low[i] + c[i]) / 3 for i in (2, 4)])


def test_gap_bar_cannot_fill_and_the_latest_target_fills_at_the_next_fillable_bar() -> None:
    close = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    target = np.array([0.0, 1.0, 0.5, 0.25, 0.25, 0.25])
    res = run_backtest(make_bars(close, gap_at=(2, 3)), target, cfg())
    trades = res.trades
    assert trades.height == 1  # bars 2 and 3 are gaps: the orders for 1.0 and 0.5 never fill
    assert trades["ts"].dt.minute().item() == 20  # bar 4
    assert trades["target_weight"].item() == 0.25
    assert trades["fill_price"].item() == 104.0
    # the gap bars carry the last close as the mark, and have no PnL of their own
    assert res.steps["mark_price"].to_list()[:4] == [100.0, 101.0, 101.0, 101.0]


def test_rows_missing_from_the_bars_grid_are_gaps() -> None:
    full = make_bars([100.0, 101.0, 102.0, 103.0])
    other = make_bars([50.0, 51.0, 52.0, 53.0], symbol="Y")
    bars = pl.concat([full, other.filter(pl.col("ts") != other["ts"][2])])
    targets = pl.DataFrame({"symbol": ["Y"], "ts": [other["ts"][1]], "target_weight": [0.5]})
    res = run_backtest(bars, targets, cfg())
    assert res.trades["ts"].to_list() == [other["ts"][3]]
    assert res.trades["fill_price"].item() == 53.0


def test_funding_longs_pay_positive_rate_on_the_position_carried_into_the_print() -> None:
    bars = make_bars([100.0, 100.0, 100.0, 110.0, 110.0])
    ts = bars["ts"]
    funding = pl.DataFrame(
        {
            "symbol": ["X", "X", "X", "Z"],
            "ts": [ts[3], ts[4] + timedelta(minutes=1), ts[4] + timedelta(hours=1), ts[3]],
            "funding_rate": [0.001, -0.002, 0.5, 0.5],
        }
    )
    long = run_backtest(bars, np.array([1.0, 1.0, 1.0, 1.0, 1.0]), cfg(), funding=funding)
    units = 1000.0 / 100.0  # filled at bar 1
    expected_funding = -units * 100.0 * 0.001 + units * 110.0 * 0.002  # bar 3 uses close[2], bar 4 close[3]
    assert long.metrics["funding_pnl"] == pytest.approx(expected_funding, rel=1e-12)
    assert long.metrics["final_equity"] == pytest.approx(1000.0 + units * 10.0 + expected_funding, rel=1e-12)
    assert long.metrics["funding_prints_applied"] == 2
    assert long.metrics["funding_prints_outside_window"] == 1
    assert long.metrics["funding_prints_unknown_symbol"] == 1
    short = run_backtest(bars, np.full(5, -1.0), cfg(), funding=funding)
    assert short.metrics["funding_pnl"] == pytest.approx(-expected_funding * 1.0, rel=1e-12)
    off = run_backtest(bars, np.full(5, 1.0), cfg(settle_funding=False), funding=funding)
    assert off.metrics["funding_pnl"] == 0.0


def test_funding_on_the_fill_bar_is_charged_on_the_position_before_the_fill() -> None:
    """A print inside the bar where a fill happens settles against the position carried into that bar: an exit
    filled there still pays, an entry filled there does not (the fill comes after the settlement). Worked by
    hand without real data: charging the position after the fill would invert both numbers."""
    close = [100.0, 100.0, 100.0, 110.0, 110.0]
    open_ = [100.0, 100.0, 100.0, 104.0, 110.0]
    bars = make_bars(close, open_=open_)
    funding = pl.DataFrame({"symbol": ["X"], "ts": [bars["ts"][3]], "funding_rate": [0.001]})
    # Exit: long from bar 1 (decided at bar 0), flat decided at bar 2, filled at bar 3's open, the print's bar.
    exit_ = run_backtest(bars, np.array([1.0, 1.0, 0.0, 0.0, 0.0]), cfg(), funding=funding)
    units = 1000.0 / 100.0
    assert exit_.trades["ts"].to_list() == [bars["ts"][1], bars["ts"][3]]
    paid = -units * 100.0 * 0.001  # units carried into bar 3, marked at close[2]
    assert exit_.metrics["funding_pnl"] == pytest.approx(paid, rel=1e-12)
    assert exit_.metrics["final_equity"] == pytest.approx(1000.0 + units * 4.0 + paid, rel=1e-12)
    assert exit_.steps["funding_pnl"].to_list() == pytest.approx([0.0, 0.0, 0.0, paid, 0.0], rel=1e-12)
    # Entry: flat until bar 3, where the buy fills on the print's bar: nothing was held into it, nothing paid.
    entry = run_backtest(bars, np.array([0.0, 0.0, 1.0, 1.0, 1.0]), cfg(), funding=funding)
    assert entry.trades["ts"].to_list() == [bars["ts"][3]]
    assert entry.metrics["funding_pnl"] == 0.0
    assert entry.metrics["final_equity"] == pytest.approx(1000.0 + 1000.0 / 104.0 * 6.0, rel=1e-12)


def test_symbol_and_gross_caps_scale_targets_deterministically() -> None:
    bars = pl.concat([make_bars([100.0] * 4, symbol="A"), make_bars([50.0] * 4, symbol="B")])
    ts = bars["ts"].unique().sort()
    targets = pl.DataFrame({"symbol": ["A", "B"], "ts": [ts[0], ts[0]], "target_weight": [0.9, 0.3]})
    res = run_backtest(bars, targets, cfg(max_symbol_weight=0.6, max_gross_weight=0.6))
    # A: 0.9 → 0.6 (symbol cap); gross 0.6 + 0.3 = 0.9 → both × 0.6 / 0.9
    got = dict(zip(res.trades["symbol"], res.trades["target_weight"], strict=True))
    assert got["A"] == pytest.approx(0.4, rel=1e-12)
    assert got["B"] == pytest.approx(0.2, rel=1e-12)
    assert res.metrics["max_gross_exposure"] == pytest.approx(0.6, rel=1e-12)
    assert res.metrics["n_orders_rejected"] == 0


def test_hard_constraints_reject_and_count_orders() -> None:
    bars = make_bars([100.0] * 8)
    target = np.array([0.5, 0.5, 3.0, 3.0, -0.5, 0.2, 0.2, 0.2])
    res = run_backtest(bars, target, cfg(hard_max_abs_weight=2.0, allow_short=False))
    assert res.rejected_orders["reason"].to_list() == ["abs_weight_above_hard_max", "short_not_allowed"]
    assert res.rejected_orders["requested_weight"].to_list() == [3.0, -0.5]
    # submitted: 0.5, 3.0, -0.5, 0.2 → 4 orders, 2 rejected; the 0.5 stays in force through the rejects
    assert res.metrics["n_orders_submitted"] == 4
    assert res.metrics["reject_rate"] == pytest.approx(0.5)
    assert res.trades["target_weight"].to_list() == [0.5, 0.2]
    EngineRejectedOrders.validate(res.rejected_orders)


def test_slippage_formula_on_one_fill() -> None:
    # the order decided at bar 1's close fills at bar 2's open; its slippage reads bar 1 (range, volume 40)
    bars = make_bars([100.0, 100.0, 100.0], open_=[100.0, 100.0, 102.0], volume=[50.0, 40.0, 7.0])
    conf = cfg(slippage_base_bps=2.0, slippage_vol_coef=0.1, slippage_impact_bps=10.0, taker_fee_bps=4.0)
    res = run_backtest(bars, np.array([0.0, 1.0, 1.0]), conf)
    high, low, close, volume = 100.0 * 1.01, 100.0 * 0.99, 100.0, 40.0  # bar 1
    qty = 1000.0 / 102.0
    slip = 2.0 + 0.1 * 1e4 * (high - low) / close + 10.0 * np.sqrt(qty / volume)
    exec_price = 102.0 * (1 + slip / 1e4)
    assert res.trades["slippage_bps"].item() == pytest.approx(slip, rel=1e-12)
    assert res.trades["exec_price"].item() == pytest.approx(exec_price, rel=1e-12)
    assert res.metrics["slippage_cost"] == pytest.approx(qty * (exec_price - 102.0), rel=1e-9)
    final = 1000.0 - qty * exec_price - qty * exec_price * 4e-4 + qty * 100.0
    assert res.metrics["final_equity"] == pytest.approx(final, rel=1e-12)


@pytest.mark.parametrize("fill_price", ["next_open", "next_close"])
def test_slippage_never_reads_the_fill_bars_own_range_or_volume(fill_price: str) -> None:
    conf = cfg(fill_price=fill_price, slippage_vol_coef=0.1, slippage_impact_bps=10.0, taker_fee_bps=4.0)
    bars = make_bars(
        [100.0, 101.0, 99.0, 100.0], open_=[100.0, 100.5, 102.0, 99.0], volume=[50.0, 40.0, 30.0, 20.0]
    )
    target = np.array([0.0, 1.0, 1.0, 1.0])  # fills at bar 2
    base = run_backtest(bars, target, conf)
    fill_bar = pl.col("ts") == bars["ts"][2]
    wider = bars.with_columns(
        high=pl.when(fill_bar).then(pl.col("high") * 1.5).otherwise(pl.col("high")),
        low=pl.when(fill_bar).then(pl.col("low") * 0.5).otherwise(pl.col("low")),
        volume=pl.when(fill_bar).then(0.001).otherwise(pl.col("volume")),
    )
    same = run_backtest(wider, target, conf)
    for col in ("slippage_bps", "exec_price", "fee", "slippage_cost"):
        assert same.trades[col].to_list() == base.trades[col].to_list(), col
    assert same.metrics["final_equity"] == base.metrics["final_equity"]
    # the bar before the fill is what it reads: thinning bar 1's volume makes the same order dearer
    thinner = run_backtest(bars.with_columns(volume=pl.Series([50.0, 4.0, 30.0, 20.0])), target, conf)
    assert thinner.trades["slippage_bps"].item() > base.trades["slippage_bps"].item()


def test_a_fill_after_gap_bars_reads_the_last_bar_that_could_fill() -> None:
    # signal at bar 1, bars 2 and 3 are gaps, the order fills at bar 4 and prices its slippage from bar 1
    bars = make_bars([100.0, 100.0, 100.0, 100.0, 100.0], volume=[9.0, 25.0, 1.0, 1.0, 3.0], gap_at=(2, 3))
    conf = cfg(slippage_impact_bps=10.0, slippage_vol_coef=0.1)
    res = run_backtest(bars, np.array([0.0, 1.0, 1.0, 1.0, 1.0]), conf)
    qty = 1000.0 / 100.0
    expected = 0.1 * 1e4 * (101.0 - 99.0) / 100.0 + 10.0 * np.sqrt(qty / 25.0)
    assert res.trades["ts"].to_list() == [bars["ts"][4]]
    assert res.trades["slippage_bps"].item() == pytest.approx(expected, rel=1e-12)


def test_daily_sharpe_and_observation_adequacy() -> None:
    rng = np.random.default_rng(3)
    n_days = 40
    close = 100.0 * np.cumprod(1 + rng.normal(0.001, 0.01, n_days))
    ts = np.array(
        [int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000) + d * 86_400_000 for d in range(n_days)]
    )
    conf = cfg(fill_price="next_close", min_observation_days=30)
    res = run_sweep(close, np.ones(n_days), conf, ts_ms=ts, keep_equity=True)
    units = 1000.0 / close[1]
    daily_pnl = np.r_[0.0, 0.0, units * np.diff(close[1:])]
    daily_ret = daily_pnl / 1000.0
    expected = daily_ret.mean() / daily_ret.std(ddof=1) * np.sqrt(365)
    row = res.summary.row(0, named=True)
    assert row["sharpe_daily"] == pytest.approx(expected, rel=1e-9)
    assert row["status"] == "ok" and row["observation_days"] == n_days and not row["vol_floor_applied"]
    assert row["partial_days"] == 0  # daily bars at 00:00 UTC: each bar spans its whole day
    # one bar per day here, so the per-step diagnostic equals the un-annualized daily Sharpe
    step_ret = np.diff(res.equity[:, 0], prepend=1000.0) / 1000.0
    assert row["sharpe_step_raw"] == pytest.approx(step_ret.mean() / step_ret.std(ddof=1), rel=1e-9)
    assert row["sharpe_step_raw"] * np.sqrt(365) == pytest.approx(expected, rel=1e-9)
    short = run_sweep(close[:20], np.ones(20), conf, ts_ms=ts[:20]).summary.row(0, named=True)
    assert short["status"] == "insufficient_observation"
    assert short["sharpe_daily"] is None  # no number that could pass a gate
    runs = run_sweep(close, np.ones(n_days), conf.replace(min_completed_runs=3), ts_ms=ts, completed_runs=2)
    assert runs.summary["status"].item() == "insufficient_observation"


def test_partial_first_and_last_days_are_not_observation_days() -> None:
    # hourly bars from 2024-01-01 12:00 UTC: day 1 is observed from noon only
    rng = np.random.default_rng(12)
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    n_bars = 12 + 29 * 24 + 13  # Jan 1 12:00 … Jan 31 12:00: 29 complete days (Jan 2 … Jan 30), two partial
    close = 100.0 * np.cumprod(1 + rng.normal(0.0005, 0.004, n_bars))
    ts = int(start.timestamp() * 1000) + np.arange(n_bars, dtype=np.int64) * 3_600_000
    conf = cfg(fill_price="next_close", min_observation_days=30)
    row = run_sweep(close, np.ones(n_bars), conf, ts_ms=ts).summary.row(0, named=True)
    assert (row["observation_days"], row["partial_days"]) == (29, 2)
    assert row["status"] == "insufficient_observation" and row["sharpe_daily"] is None  # 31 calendar days

    # run on to Feb 1 23:00 (the last bar closes at midnight): 31 complete days, the noon start still partial
    n_bars += 35
    close = 100.0 * np.cumprod(1 + rng.normal(0.0005, 0.004, n_bars))
    ts = int(start.timestamp() * 1000) + np.arange(n_bars, dtype=np.int64) * 3_600_000
    res = run_sweep(close, np.ones(n_bars), conf, ts_ms=ts, keep_equity=True)
    row = res.summary.row(0, named=True)
    assert (row["observation_days"], row["partial_days"], row["status"]) == (31, 1, "ok")
    # independent truth: step PnL summed per UTC calendar date, the partial first date dropped
    steps = pl.DataFrame(
        {"ts": pl.Series(ts).cast(pl.Datetime("ms", "UTC")), "pnl": np.diff(res.equity[:, 0], prepend=1000.0)}
    )
    daily = steps.group_by(pl.col("ts").dt.date()).agg(pl.col("pnl").sum()).sort("ts")["pnl"].to_numpy()
    daily = daily[1:] / 1000.0
    assert len(daily) == 31
    expected = daily.mean() / daily.std(ddof=1) * np.sqrt(365)
    assert row["sharpe_daily"] == pytest.approx(expected, rel=1e-9)


def test_vol_floor_caps_the_sharpe_of_a_nearly_riskless_path() -> None:
    n_days = 40
    close = 100.0 + 1e-7 * np.arange(n_days)
    ts = np.arange(n_days, dtype=np.int64) * 86_400_000
    row = run_sweep(close, np.ones(n_days), cfg(fill_price="next_close"), ts_ms=ts).summary.row(0, named=True)
    assert row["vol_floor_applied"]
    assert row["sharpe_daily"] == pytest.approx(row["daily_return_mean"] / 1e-4 * np.sqrt(365), rel=1e-9)


def test_drawdown_hit_rate_and_round_trips() -> None:
    close = [100.0, 100.0, 110.0, 110.0, 90.0, 90.0, 95.0, 95.0]
    target = np.array([1.0, 1.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0])
    res = run_backtest(make_bars(close), target, cfg(fill_price="next_close"))
    # long 100 → 110 (win, closed at bar 3), short from 110 at bar 4 close... fills: bar1 @100, bar3 @110
    # (flat), bar4 @90 short, bar6 @95 cover: short loses 5/90 of 1000
    assert res.trades["fill_price"].to_list() == [100.0, 110.0, 90.0, 95.0]
    assert res.metrics["n_round_trips"] == 2
    assert res.metrics["hit_rate"] == 0.5
    final = 1000.0 + 10.0 * 10.0 - 1000.0 / 90.0 * 5.0
    assert res.metrics["final_equity"] == pytest.approx(final, rel=1e-12)
    assert res.metrics["max_drawdown_abs"] == pytest.approx(1000.0 / 90.0 * 5.0, rel=1e-12)
    assert res.metrics["max_drawdown"] == pytest.approx(1000.0 / 90.0 * 5.0 / 1100.0, rel=1e-12)


def test_bad_inputs_name_the_problem() -> None:
    bars = make_bars([100.0, 101.0])
    with pytest.raises(ValueError, match="duplicated"):
        run_backtest(pl.concat([bars, bars]), np.zeros(2), cfg())
    off_grid = pl.DataFrame(
        {"symbol": ["X"], "ts": [bars["ts"][0] + timedelta(minutes=1)], "target_weight": [1.0]}
    )
    with pytest.raises(ValueError, match="not a bar"):
        run_backtest(bars, off_grid, cfg())
    with pytest.raises(ValueError, match="missing columns"):
        run_backtest(bars.drop("volume"), np.zeros(2), cfg())
    with pytest.raises(ValueError, match="finite"):
        run_backtest(bars, np.array([np.inf, 0.0]), cfg())
    with pytest.raises(ValueError, match="UTC"):
        run_backtest(bars.with_columns(pl.col("ts").dt.replace_time_zone(None)), np.zeros(2), cfg())


def test_marked_gross_can_drift_past_the_cap_and_is_counted() -> None:
    # A doubles twice after entry, B is flat; 0.5 + 0.5 targets are within the 1.0 cap at order time.
    bars = pl.concat(
        [make_bars([100.0, 100.0, 200.0, 400.0, 400.0], symbol="A"), make_bars([100.0] * 5, symbol="B")]
    )
    targets = np.array([[0.5, 0.5]] * 5)
    res = run_backtest(bars, targets, cfg(max_gross_weight=1.0))
    # Filled at bar 1's open (100): 5 units each. Marked gross / capital per bar: 0, 1.0, 1.5, 2.5, 2.5.
    assert res.metrics["max_gross_exposure"] == pytest.approx(2.5, rel=1e-12)
    assert res.metrics["gross_cap_breach_steps"] == 3  # bar 1 sits exactly on the cap: no breach
    assert res.metrics["n_orders_rejected"] == 0
    flat = run_backtest(
        bars.with_columns(pl.lit(100.0).alias("close"), pl.lit(100.0).alias("open")), targets, cfg()
    )
    assert flat.metrics["gross_cap_breach_steps"] == 0
