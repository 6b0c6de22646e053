"""Sizing off current equity, worked out by hand; the fixed-capital default is unchanged."""

import numpy as np
import polars as pl
import pytest

from quant_platform.engine import EngineConfig, run_backtest, run_sweep
from quant_platform_tests.engine.helpers import NO_COSTS, make_bars


def cfg(**kw: object) -> EngineConfig:
    return EngineConfig(**{"initial_capital": 1000.0, **NO_COSTS, **kw})  # type: ignore[arg-type]


# Three long trades of weight 1: fills (next open) at bars 1/3, 4/6, 7/9.
OPEN = [100.0, 100.0, 120.0, 150.0, 50.0, 60.0, 40.0, 200.0, 210.0, 100.0]
CLOSE = [100.0, 110.0, 140.0, 150.0, 55.0, 50.0, 40.0, 205.0, 220.0, 100.0]
TARGET = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0])


def test_compounding_sizes_each_entry_off_the_equity_at_the_previous_close() -> None:
    fee = 10.0  # bps
    res = run_backtest(make_bars(CLOSE, open_=OPEN), TARGET, cfg(sizing="current_equity", taker_fee_bps=fee))
    f = fee * 1e-4
    # trade 1: equity 1000 at bar 0 → 1000/100 = 10 units @ 100 (fee 1); exit @ 150 (fee 1.5)
    u1 = 1000.0 / 100.0
    e1 = 1000.0 - u1 * 100.0 * f + u1 * (150.0 - 100.0) - u1 * 150.0 * f  # 1497.5
    # trade 2: equity at bar 3's close = e1 (flat) → e1/50 units @ 50; exit @ 40
    u2 = e1 / 50.0
    e2 = e1 - u2 * 50.0 * f + u2 * (40.0 - 50.0) - u2 * 40.0 * f
    # trade 3: equity at bar 6's close = e2 → e2/200 units @ 200; exit @ 100
    u3 = e2 / 200.0
    e3 = e2 - u3 * 200.0 * f + u3 * (100.0 - 200.0) - u3 * 100.0 * f
    assert e1 == pytest.approx(1497.5, rel=1e-15)
    assert res.trades["qty"].to_list() == pytest.approx([u1, -u1, u2, -u2, u3, -u3], rel=1e-12)
    assert res.metrics["final_equity"] == pytest.approx(e3, rel=1e-12)
    # the fixed-capital default sizes every entry off the 1000 of initial capital
    fixed = run_backtest(make_bars(CLOSE, open_=OPEN), TARGET, cfg(taker_fee_bps=fee))
    assert fixed.trades.filter(pl.col("side") == "buy")["qty"].to_list() == pytest.approx(
        [1000.0 / 100.0, 1000.0 / 50.0, 1000.0 / 200.0], rel=1e-15
    )
    assert EngineConfig().sizing == "fixed_capital"


def test_an_open_position_is_marked_at_the_last_close_when_resizing() -> None:
    # weight 1 then 0.5 while the price doubles: the second fill sizes off the marked equity
    opens = [100.0, 100.0, 200.0, 200.0]
    close = [100.0, 200.0, 200.0, 200.0]
    res = run_backtest(
        make_bars(close, open_=opens), np.array([1.0, 0.5, 0.5, 0.5]), cfg(sizing="current_equity")
    )
    # bar 1: 10 units @ 100; equity at bar 1's close 1000 + 10 * 100 = 2000; bar 2: 0.5 * 2000 / 200 = 5 units
    assert res.trades["units_after"].to_list() == pytest.approx([10.0, 5.0], rel=1e-15)


def test_a_portfolio_sizes_off_the_equity_of_all_its_symbols() -> None:
    bars = pl.concat(
        [make_bars([100.0, 100.0, 200.0, 200.0], symbol="A"), make_bars([50.0, 50.0, 50.0, 50.0], symbol="B")]
    )
    targets = np.array([[0.5, 0.0], [0.5, 0.0], [0.5, 0.5], [0.5, 0.5]])
    res = run_backtest(bars, targets, cfg(sizing="current_equity", fill_price="next_close"))
    # A: 0.5 * 1000 / 100 = 5 units at bar 1; at bar 2's close the portfolio is worth 1000 + 5 * 100 = 1500,
    # so B's order from bar 2 fills at bar 3 with 0.5 * 1500 / 50 = 15 units
    got = dict(zip(res.trades["symbol"], res.trades["units_after"], strict=True))
    assert got == pytest.approx({"A": 5.0, "B": 15.0}, rel=1e-15)


def test_sweep_columns_compound_independently_and_match_the_backtest() -> None:
    conf = cfg(sizing="current_equity", taker_fee_bps=7.0, slippage_base_bps=2.0, slippage_noise_bps=3.0)
    targets = np.c_[TARGET, TARGET[::-1], -TARGET]
    summary = run_sweep(np.asarray(CLOSE), targets, conf, open=np.asarray(OPEN), keep_equity=True)
    for k in range(3):
        single = run_backtest(make_bars(CLOSE, open_=OPEN), targets[:, k], conf)
        if k == 0:  # the seeded noise is drawn for the whole sweep at once; only column 0 shares draws
            np.testing.assert_allclose(summary.equity[:, 0], single.equity["equity"].to_numpy(), rtol=1e-12)
        assert summary.summary["n_fills"][k] == single.trades.height


def test_an_account_below_zero_can_only_close() -> None:
    # 3x long from bar 1's open at 100, the close falls to 50: equity 1000 - 30 * 50 = -500 at bar 1's
    # close; the 1x order from bar 1 (filled at bar 2) sizes to 0 units, not to -10 (a short)
    opens = [100.0, 100.0, 50.0, 50.0, 50.0]
    close = [100.0, 50.0, 50.0, 50.0, 50.0]
    res = run_backtest(
        make_bars(close, open_=opens),
        np.array([3.0, 1.0, 1.0, 1.0, 1.0]),
        cfg(sizing="current_equity", hard_max_abs_weight=5.0, max_symbol_weight=3.0, max_gross_weight=3.0),
    )
    assert res.trades["units_after"].to_list() == pytest.approx([30.0, 0.0], rel=1e-15)
    assert res.metrics["final_equity"] == pytest.approx(-500.0, rel=1e-12)
