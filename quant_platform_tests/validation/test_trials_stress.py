"""Effective trial count on planted correlation structures; stress transforms' invariants."""

from __future__ import annotations

import numpy as np
import pytest

from quant_platform.validation.stress import (
    StressScenario,
    apply_correlation_spike,
    apply_scenario_to_prices,
    apply_vol_shock,
    standard_scenarios,
)
from quant_platform.validation.trials import effective_number_of_trials, per_period_sharpe_from_trades


def test_identical_streams_count_as_one():
    base = np.random.default_rng(0).normal(size=500)
    streams = np.tile(base, (12, 1)) * np.linspace(0.5, 2.0, 12)[:, None]  # same stream, different scale
    assert effective_number_of_trials(streams) == 1.0
    assert effective_number_of_trials(streams, method="eigen") == pytest.approx(1.0, abs=1e-9)


def test_independent_streams_count_as_k():
    streams = np.random.default_rng(1).normal(size=(15, 2000))
    assert effective_number_of_trials(streams) == 15.0
    assert effective_number_of_trials(streams, method="eigen") == pytest.approx(15.0, rel=0.05)


def test_planted_clusters_of_near_duplicates():
    rng = np.random.default_rng(2)
    ideas = rng.normal(size=(4, 1500))
    variants = np.repeat(ideas, 10, axis=0) + 0.3 * rng.normal(size=(40, 1500))  # ρ ≈ 0.92 within an idea
    assert effective_number_of_trials(variants) == 4.0
    assert 3.5 < effective_number_of_trials(variants, method="eigen") < 6.0


def test_standard_scenarios_from_spec():
    names = {s.name: s for s in standard_scenarios()}
    assert names["cost_x2"].engine_parameters() == {"cost_multiplier": 2.0, "extra_latency_bars": 0}
    assert names["latency_plus_1_bar"].extra_latency_bars == 1
    assert names["correlation_spike"].correlation_spike > 0 and names["vol_shock"].vol_shock > 1
    with pytest.raises(ValueError, match="cost_multiplier"):
        StressScenario("bad", cost_multiplier=0.5)
    with pytest.raises(ValueError, match="correlation_spike"):
        StressScenario("bad", correlation_spike=1.5)


def test_correlation_spike_raises_correlation_keeps_moments():
    rng = np.random.default_rng(3)
    panel = rng.normal(0.001, [0.01, 0.02, 0.03, 0.015], size=(3000, 4))
    off = ~np.eye(4, dtype=bool)
    base_corr = np.corrcoef(panel.T)[off].mean()
    previous = base_corr
    for spike in (0.3, 0.6, 0.9):
        stressed = apply_correlation_spike(panel, spike)
        np.testing.assert_allclose(stressed.mean(axis=0), panel.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(stressed.std(axis=0), panel.std(axis=0), rtol=1e-12)
        corr = np.corrcoef(stressed.T)[off].mean()
        assert corr > previous + 0.1
        previous = corr
    np.testing.assert_allclose(apply_correlation_spike(panel, 0.0), panel, atol=1e-12)
    assert np.corrcoef(apply_correlation_spike(panel, 1.0).T)[off].min() > 0.999


def test_vol_shock_and_prices():
    rng = np.random.default_rng(4)
    panel = rng.normal(0.0005, 0.01, size=(500, 3))
    shocked = apply_vol_shock(panel, 2.0)
    np.testing.assert_allclose(shocked.std(axis=0), 2.0 * panel.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(shocked.mean(axis=0), panel.mean(axis=0), atol=1e-12)
    prices = 100 * np.exp(np.cumsum(panel, axis=0))
    stressed = apply_scenario_to_prices(prices, StressScenario("v", vol_shock=2.0))
    np.testing.assert_allclose(stressed[0], prices[0])
    np.testing.assert_allclose(
        np.diff(np.log(stressed), axis=0).std(axis=0), 2 * np.diff(np.log(prices), axis=0).std(axis=0)
    )
    with pytest.raises(ValueError, match="positive"):
        apply_scenario_to_prices(-prices, StressScenario("v", vol_shock=2.0))


@pytest.mark.parametrize(("rate", "mean", "sd"), [(0.4, 0.002, 0.01), (3.0, 0.01, 0.01), (1.0, -0.001, 0.02)])
def test_per_period_sharpe_from_trades_matches_a_simulated_compound_poisson_stream(rate, mean, sd):
    """Planted truth: Poisson(rate) trades per day with N(mean, sd) returns, summed per day (a day without a
    trade returns 0); the sample per-day Sharpe of 200,000 days agrees with the conversion of the trades'
    own per-trade Sharpe (taken, as from discovery's ledger, as t / sqrt(n))."""
    rng = np.random.default_rng(7)
    n_days = 200_000
    per_day = rng.poisson(rate, n_days)
    trades = rng.normal(mean, sd, per_day.sum())
    daily = np.bincount(np.repeat(np.arange(n_days), per_day), weights=trades, minlength=n_days)
    t_statistic = trades.mean() / (trades.std(ddof=1) / np.sqrt(trades.size))
    converted = per_period_sharpe_from_trades(t_statistic / np.sqrt(trades.size), trades.size, n_days)
    assert converted == pytest.approx(daily.mean() / daily.std(ddof=1), abs=4 / np.sqrt(n_days))
    # The naive s * sqrt(trades per day) overstates it once s is not small (here s = 1).
    if mean == sd:
        assert mean / sd * np.sqrt(rate) > converted + 0.3


def test_per_period_sharpe_from_trades_refuses_bad_input():
    with pytest.raises(ValueError, match="n_periods"):
        per_period_sharpe_from_trades(0.1, 10, 0)
    with pytest.raises(ValueError, match="finite"):
        per_period_sharpe_from_trades(np.array([0.1, np.nan]), np.array([10, 10]), 100)
    with pytest.raises(ValueError, match=">= 1"):
        per_period_sharpe_from_trades(0.1, 0, 100)
