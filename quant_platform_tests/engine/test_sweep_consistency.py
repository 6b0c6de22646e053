"""The array API (``run_sweep``) and the frame API (``run_backtest``) are two doors to one engine: they must agree.
Also checks the sparse target representation against its dense meaning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.engine import (
    EngineConfig,
    changes_from_dense,
    changes_from_signals,
    run_backtest,
    run_sweep,
    signals_to_targets,
)
from quant_platform.engine.schemas import EngineSweepSummary
from quant_platform_tests.engine.helpers import make_bars

CONFIG = EngineConfig(
    initial_capital=10_000.0, taker_fee_bps=5.0, slippage_base_bps=2.0, slippage_impact_bps=0.0
)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_sweep_summary_matches_backtest_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    open_ = close * (1 + rng.normal(0, 0.002, n))
    gap_at = tuple(np.flatnonzero(rng.random(n) < 0.1))
    bars = make_bars(close, open_=open_, gap_at=gap_at)
    target = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, np.nan], n)
    res = run_backtest(bars, target, CONFIG)
    arrays = {c: bars[c].fill_null(np.nan).to_numpy() for c in ("open", "high", "low", "volume")}
    sweep = run_sweep(
        bars["close"].fill_null(np.nan).to_numpy(), target, CONFIG, gap=bars["gap"].to_numpy(), **arrays
    )
    row = sweep.summary.row(0, named=True)
    for key in ("n_fills", "n_round_trips", "n_orders_submitted", "n_orders_rejected"):
        assert row[key] == res.metrics[key], key
    for key in ("final_equity", "fees", "slippage_cost", "turnover", "avg_gross_exposure", "time_in_market"):
        assert row[key] == pytest.approx(res.metrics[key], rel=1e-9, abs=1e-12), key
    if row["n_round_trips"]:
        assert row["hit_rate"] == res.metrics["hit_rate"]
    EngineSweepSummary.validate(sweep.summary)


def test_sparse_targets_mean_the_same_as_dense_targets() -> None:
    rng = np.random.default_rng(4)
    dense = rng.choice([0.0, 0.5, 1.0, np.nan], (50, 4))
    changes = changes_from_dense(dense)
    held = changes.dense().T
    for k in range(4):
        state = 0.0
        for t in range(50):
            if not np.isnan(dense[t, k]):
                state = dense[t, k]
            assert held[t, k] == state
    entries, exits = rng.random((50, 4)) < 0.2, rng.random((50, 4)) < 0.2
    from_signals = changes_from_signals(entries, exits)
    np.testing.assert_array_equal(from_signals.dense().T, signals_to_targets(entries, exits))
    close = 100 + np.cumsum(rng.normal(0, 1, 50))
    a = run_sweep(close, from_signals, CONFIG, open=close, high=close, low=close, keep_equity=True)
    b = run_sweep(
        close, signals_to_targets(entries, exits), CONFIG, open=close, high=close, low=close, keep_equity=True
    )
    np.testing.assert_array_equal(a.equity, b.equity)


def test_per_column_prices_equal_separate_runs() -> None:
    rng = np.random.default_rng(8)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, (80, 3)), axis=0)
    target = rng.choice([0.0, 1.0, -1.0], (80, 3))
    kw = {"slippage_vol_coef": 0.0}
    together = run_sweep(close, target, CONFIG.replace(**kw), open=close, keep_equity=True)
    for k in range(3):
        alone = run_sweep(close[:, k], target[:, k], CONFIG.replace(**kw), open=close[:, k], keep_equity=True)
        np.testing.assert_array_equal(alone.equity[:, 0], together.equity[:, k])


def test_shared_rows_next_to_per_column_prices_serve_every_block() -> None:
    # per-column closes with one shared funding/volume row: every block of columns sees the shared row
    rng = np.random.default_rng(9)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, (60, 4)), axis=0)
    target = rng.choice([1.0, -1.0], (60, 4))  # always positioned: every column settles funding
    funding = np.where(np.arange(60) % 8 == 0, 1e-3, 0.0)
    kw = {"open": close, "high": close * 1.01, "low": close * 0.99, "volume": np.full(60, 50.0)}
    blocks = run_sweep(close, target, CONFIG, funding_rate=funding, chunk_columns=1, keep_equity=True, **kw)
    whole = run_sweep(close, target, CONFIG, funding_rate=funding, chunk_columns=4, keep_equity=True, **kw)
    np.testing.assert_array_equal(blocks.equity, whole.equity)
    assert (blocks.summary["funding_pnl"] != 0.0).all()


def test_sweep_refuses_bad_shapes() -> None:
    with pytest.raises(ValueError, match="bars"):
        run_sweep(np.ones(10), np.zeros((9, 2)), CONFIG, open=np.ones(10))
    with pytest.raises(ValueError, match="columns"):
        run_sweep(np.ones((10, 3)), np.zeros((10, 2)), CONFIG, open=np.ones(10))
    with pytest.raises(ValueError, match="needs"):
        run_sweep(np.ones(10), np.zeros(10), CONFIG)  # next_open without open prices
    with pytest.raises(ValueError, match="strictly increasing"):
        run_sweep(
            np.ones(3),
            np.zeros(3),
            CONFIG,
            open=np.ones(3),
            high=np.ones(3),
            low=np.ones(3),
            ts_ms=np.array([0, 0, 1]),
        )
