"""Every order that does not execute as requested is counted: clipped by a cap, rejected by a hard limit,
left unfilled at the end of the data, or superseded before it could fill. Counts worked out by hand."""

import numpy as np
import polars as pl
import pytest

from quant_platform.engine import EngineConfig, run_backtest, run_sweep
from quant_platform_tests.engine.helpers import NO_COSTS, make_bars

OUTCOMES = ("n_orders_rejected", "n_orders_clipped", "n_orders_unfilled_at_end", "n_orders_superseded")


def cfg(**kw: object) -> EngineConfig:
    return EngineConfig(**{"initial_capital": 1000.0, **NO_COSTS, **kw})  # type: ignore[arg-type]


def outcomes(metrics: dict) -> tuple[int, ...]:
    return tuple(metrics[k] for k in OUTCOMES)


def test_an_exit_requested_on_the_last_bar_is_counted_unfilled() -> None:
    bars = make_bars([100.0, 101.0, 102.0, 103.0])
    res = run_backtest(bars, np.array([1.0, 1.0, 1.0, 0.0]), cfg())
    assert res.trades.height == 1  # the exit at bar 3 would fill at bar 4: past the data
    assert outcomes(res.metrics) == (0, 0, 1, 0)
    # an order waiting over gap bars until the end of the data is unfilled too
    gapped = run_backtest(make_bars([100.0] * 5, gap_at=(3, 4)), np.array([0.0, 0.0, 1.0, 1.0, 1.0]), cfg())
    assert gapped.trades.height == 0
    assert gapped.metrics["n_orders_unfilled_at_end"] == 1


def test_orders_above_the_symbol_cap_are_clipped_and_counted() -> None:
    bars = make_bars([100.0] * 8)
    target = np.array([0.5, 1.5, 1.5, 2.0, 0.8, 3.0, 3.0, 3.0])
    res = run_backtest(bars, target, cfg(max_symbol_weight=1.0, hard_max_abs_weight=2.5))
    # orders: 0.5, 1.5 (clip → 1), 2.0 (clip → 1), 0.8, 3.0 (rejected: above the hard max 2.5)
    assert res.metrics["n_orders_submitted"] == 5
    assert outcomes(res.metrics) == (1, 2, 0, 0)
    assert res.trades["target_weight"].to_list() == [0.5, 1.0, 0.8]


def test_the_gross_cap_clips_the_order_that_breaches_it() -> None:
    bars = pl.concat([make_bars([100.0] * 5, symbol="A"), make_bars([50.0] * 5, symbol="B")])
    ts = bars["ts"].unique().sort()
    targets = pl.DataFrame(
        {"symbol": ["A", "B", "B"], "ts": [ts[0], ts[1], ts[2]], "target_weight": [0.5, 0.8, 0.0]}
    )
    res = run_backtest(bars, targets, cfg(max_gross_weight=1.0))
    # B's 0.8 at bar 1 takes gross to 1.3: scaled, so clipped (A's rescaling follows from it, not an order);
    # B's exit to 0 at bar 2 is not scaled
    assert outcomes(res.metrics) == (0, 1, 0, 0)


def test_an_order_replaced_before_it_could_fill_is_counted_superseded() -> None:
    bars = make_bars([100.0] * 6, gap_at=(2, 3))
    res = run_backtest(bars, np.array([0.0, 1.0, 0.5, 0.25, 0.25, 0.25]), cfg())
    # due at bars 2, 3, 4; bars 2 and 3 are gaps: all three fall due by fill bar 4, where 0.25 wins
    assert res.trades["target_weight"].to_list() == [0.25]
    assert outcomes(res.metrics) == (0, 0, 0, 2)


def test_the_sweep_summary_counts_the_same_outcomes_per_column() -> None:
    close = np.full(8, 100.0)
    targets = np.c_[
        [0.5, 1.5, 1.5, 2.0, 0.8, 3.0, 3.0, 3.0],  # the clip/reject case above
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],  # an exit on the last bar
    ]
    conf = cfg(fill_price="next_close", max_symbol_weight=1.0, hard_max_abs_weight=2.5)
    summary = run_sweep(close, targets, conf).summary
    assert [tuple(r) for r in summary.select(OUTCOMES).iter_rows()] == [(1, 2, 0, 0), (0, 0, 1, 0)]
    for col in range(2):
        one = run_backtest(make_bars(close), targets[:, col], conf)
        assert outcomes(one.metrics) == tuple(summary.select(OUTCOMES).row(col))


@pytest.mark.parametrize("cap", [0.3, 1.0])
def test_per_column_cap_in_a_sweep_is_the_tighter_of_symbol_and_gross(cap: float) -> None:
    summary = run_sweep(
        np.full(4, 100.0), np.array([0.5, 0.5, 0.5, 0.5]), cfg(fill_price="next_close", max_gross_weight=cap)
    ).summary
    assert summary["n_orders_clipped"].item() == (1 if cap < 0.5 else 0)
