"""Stationary bootstrap: seed reproducibility, block-length law, analytic Sharpe standard error, and a
straightforward per-resample loop as the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.validation.bootstrap import (
    max_drawdown_along_last_axis,
    stationary_bootstrap,
    stationary_bootstrap_indices,
)


def test_reproducible_with_seed_and_changes_with_seed():
    r = np.random.default_rng(0).normal(0.001, 0.01, size=(3, 300))
    a = stationary_bootstrap(r, 200, 5.0, seed=7)
    b = stationary_bootstrap(r, 200, 5.0, seed=7)
    c = stationary_bootstrap(r, 200, 5.0, seed=8)
    np.testing.assert_array_equal(a.sharpe, b.sharpe)
    np.testing.assert_array_equal(a.max_drawdown, b.max_drawdown)
    assert not np.array_equal(a.sharpe, c.sharpe)
    assert a.summary().equals(b.summary())


def test_mean_block_length_and_continuation():
    rng = np.random.default_rng(1)
    n, length = 2000, 8.0
    idx = stationary_bootstrap_indices(n, 300, length, rng)
    assert idx.min() >= 0 and idx.max() < n
    continues = idx[:, 1:] == (idx[:, :-1] + 1) % n
    # Each step starts a new block with probability 1/L (a fresh start lands on the continuation index
    # with probability 1/n, negligible here).
    assert 1 - continues.mean() == pytest.approx(1 / length, rel=0.03)
    n_blocks = (~continues).sum(axis=1) + 1
    assert (n / n_blocks).mean() == pytest.approx(length, rel=0.05)


def test_bootstrap_sharpe_std_matches_analytic_for_iid_normal():
    """For iid normal returns the Sharpe estimator's standard error is sqrt((1 + SR²/2) / T)."""
    rng = np.random.default_rng(2)
    t, sr = 1000, 0.05
    returns = rng.normal(sr, 1.0, size=(20, t))
    result = stationary_bootstrap(returns, 400, 4.0, seed=3)
    realized_sr = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
    analytic = np.sqrt((1 + realized_sr**2 / 2) / t)
    ratio = result.sharpe.std(axis=1, ddof=1) / analytic
    assert ratio.mean() == pytest.approx(1.0, abs=0.06)
    assert np.all(np.abs(ratio - 1) < 0.2)


def test_matches_per_resample_loop_reference():
    rng = np.random.default_rng(4)
    returns = rng.normal(0.0005, 0.01, size=(4, 150))
    result = stationary_bootstrap(returns, 60, 6.0, seed=9, tile_elements=1000)
    index = stationary_bootstrap_indices(150, 60, 6.0, np.random.default_rng(9))
    for s in range(4):
        for b in range(60):
            x = returns[s, index[b]]
            assert result.sharpe[s, b] == pytest.approx(x.mean() / x.std(ddof=1), abs=1e-12)
            equity, peak, worst = 0.0, 0.0, 0.0
            for v in x:
                equity += v
                peak = max(peak, equity)
                worst = max(worst, peak - equity)
            assert result.max_drawdown[s, b] == pytest.approx(worst, abs=1e-12)


def test_drawdown_counts_from_zero_and_summary_columns():
    assert max_drawdown_along_last_axis(np.array([-1.0, -1.0, 3.0])) == 2.0
    assert max_drawdown_along_last_axis(np.array([1.0, -0.5, 2.0, -3.0])) == 3.0
    losing = -np.abs(np.random.default_rng(5).normal(0.01, 0.01, size=(1, 200)))
    summary = stationary_bootstrap(losing, 100, 5.0, seed=1, annualization=math.sqrt(365)).summary()
    sharpe_row = summary.filter(summary["statistic"] == "sharpe").row(0, named=True)
    assert sharpe_row["share_below_zero"] == 1.0 and sharpe_row["q95"] < 0
    assert {"mean", "std", "q05", "q10", "q25", "q50", "q75", "q90", "q95"} <= set(summary.columns)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        stationary_bootstrap(np.array([0.1, np.nan, 0.2]), 10, 2.0, seed=1)
    with pytest.raises(ValueError, match="mean_block_length"):
        stationary_bootstrap(np.ones(10), 10, 0.5, seed=1)


@settings(max_examples=30, deadline=None)
@given(
    n_streams=st.integers(1, 7),
    n_obs=st.integers(2, 40),
    n_resamples=st.integers(2, 9),
    tile_elements=st.integers(1, 500),
    seed=st.integers(0, 2**16),
)
def test_running_drawdown_equals_full_gather_bit_for_bit(n_streams, n_obs, n_resamples, tile_elements, seed):
    """Any tiling (ragged last tiles included) of the time-major running pass gives exactly the drawdown of
    the fully gathered series (cumsum, running max from 0, largest fall)."""
    returns = np.random.default_rng(seed).normal(0.0, 0.01, size=(n_streams, n_obs))
    running = stationary_bootstrap(returns, n_resamples, 3.0, seed, tile_elements=tile_elements).max_drawdown
    index = stationary_bootstrap_indices(n_obs, n_resamples, 3.0, np.random.default_rng(seed))
    assert np.array_equal(running, max_drawdown_along_last_axis(returns[:, index]))
