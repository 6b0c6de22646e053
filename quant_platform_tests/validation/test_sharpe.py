"""PSR / MinTRL / expected max Sharpe / DSR against the published examples and an independent stdlib
implementation (statistics.NormalDist, no NumPy/SciPy)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from quant_platform.validation.sharpe import (
    SharpeUnits,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sample_moments,
)

N01 = NormalDist()
GAMMA = 0.5772156649015329  # Euler–Mascheroni
ANN = SharpeUnits.ANNUALIZED


def ref_psr(sr, sr_star, n, skew, kurt):
    return N01.cdf((sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr))


def ref_min_trl(sr, sr_star, skew, kurt, prob):
    return 1 + (1 - skew * sr + (kurt - 1) / 4 * sr * sr) * (N01.inv_cdf(prob) / (sr - sr_star)) ** 2


def ref_emax(v, n):
    return math.sqrt(v) * ((1 - GAMMA) * N01.inv_cdf(1 - 1 / n) + GAMMA * N01.inv_cdf(1 - 1 / (n * math.e)))


def test_deflated_sharpe_paper_example():
    """Bailey & López de Prado (2014), numerical example: N = 100 trials, V[SR] = 1/2 (annualized), best
    SR = 2.5 annualized over T = 1250 daily obs (250 a year), skew -3, kurtosis 10 → E[max SR] ≈ 0.1132
    (non-annualized) and DSR ≈ 0.9004. The paper prints 4 decimals, so the check is to ±5e-5."""
    emax = expected_max_sharpe(0.5, 100, units=ANN, periods_per_year=250)
    assert abs(emax / math.sqrt(250) - 0.1132) < 5e-5
    assert abs(expected_max_sharpe(0.5 / 250, 100) - 0.1132) < 5e-5
    dsr = deflated_sharpe_ratio(2.5, 1250, -3.0, 10.0, 100, 0.5, units=ANN, periods_per_year=250)
    assert abs(dsr - 0.9004) < 5e-5
    # Independent computation (stdlib only) agrees to machine precision.
    sr0 = ref_emax(0.5 / 250, 100)
    assert dsr == pytest.approx(ref_psr(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0), abs=1e-12)
    # Same numbers in per-period units.
    assert deflated_sharpe_ratio(2.5 / math.sqrt(250), 1250, -3.0, 10.0, 100, 0.5 / 250) == pytest.approx(
        dsr, abs=1e-12
    )


def test_sharpe_efficient_frontier_appendix_example():
    """Bailey & López de Prado (2012), appendix code inputs: per-period (monthly) mean 1.5, std sqrt(12),
    skew -0.72, kurtosis 5.78, benchmark SR 1/sqrt(12), 59.895 observations, 95% confidence; the paper's PSR
    and MinTRL with 2, 3 and 4 moments (normal, +skew, +kurtosis), recomputed independently."""
    sr, sr_star, obs, prob = 1.5 / math.sqrt(12), 1 / math.sqrt(12), 59.895, 0.95
    for skew, kurt in [(0.0, 3.0), (-0.72, 3.0), (-0.72, 5.78)]:
        assert probabilistic_sharpe_ratio(sr, sr_star, obs, skew, kurt) == pytest.approx(
            ref_psr(sr, sr_star, obs, skew, kurt), abs=1e-12
        )
        trl = min_track_record_length(sr, sr_star, skew, kurt, prob)
        assert trl == pytest.approx(ref_min_trl(sr, sr_star, skew, kurt, prob), abs=1e-9)
        # MinTRL is exactly the track record at which PSR reaches the confidence level.
        assert probabilistic_sharpe_ratio(sr, sr_star, trl, skew, kurt) == pytest.approx(prob, abs=1e-12)
    # Negative skew and fat tails lengthen the required track record (the paper's central point).
    trls = [min_track_record_length(sr, sr_star, s, k, prob) for s, k in [(0, 3), (-0.72, 3), (-0.72, 5.78)]]
    assert trls[0] < trls[1] < trls[2]


def test_normal_psr_matches_lo_asymptotics_and_simulation():
    """For iid normal returns PSR(0) = Φ(SR·sqrt(T-1)/sqrt(1 + SR²/2)); and the share of simulated samples
    whose estimated SR exceeds the truth's benchmark is the PSR's complement at the true SR."""
    sr, n = 0.1, 500
    assert probabilistic_sharpe_ratio(sr, 0.0, n) == pytest.approx(
        N01.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr * sr / 2)), abs=1e-12
    )
    rng = np.random.default_rng(3)
    sims = rng.normal(sr, 1.0, size=(4000, n))
    est = sample_moments(sims)["sharpe"]
    se = math.sqrt((1 + sr * sr / 2) / (n - 1))
    assert est.std() == pytest.approx(se, rel=0.05)


def test_expected_max_matches_monte_carlo():
    rng = np.random.default_rng(11)
    v, n = 0.04, 200
    maxima = rng.normal(0, math.sqrt(v), size=(5000, n)).max(axis=1)
    assert expected_max_sharpe(v, n) == pytest.approx(maxima.mean(), rel=0.02)
    assert expected_max_sharpe(v, 1) == 0.0
    assert expected_max_sharpe(v, 1000) > expected_max_sharpe(v, 100)


def test_dsr_from_trials_uses_trial_variance():
    rng = np.random.default_rng(5)
    trials = rng.normal(0, 0.03, size=50)
    got = deflated_sharpe_ratio_from_trials(0.08, 750, -0.5, 5.0, trials)
    sr0 = ref_emax(trials.var(ddof=1), 50)
    assert got == pytest.approx(ref_psr(0.08, sr0, 750, -0.5, 5.0), abs=1e-12)
    more = deflated_sharpe_ratio_from_trials(0.08, 750, -0.5, 5.0, trials, n_trials=5000)
    assert more < got  # more trials deflate harder


def test_refuses_mixed_units():
    with pytest.raises(ValueError, match="looks annualized"):
        probabilistic_sharpe_ratio(2.5, 0.0, 1250)
    with pytest.raises(ValueError, match="looks annualized"):
        deflated_sharpe_ratio(2.5, 1250, -3.0, 10.0, 100, 0.5)
    with pytest.raises(ValueError, match="looks annualized"):
        expected_max_sharpe(2.0, 100)
    with pytest.raises(ValueError, match="periods_per_year"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1250, periods_per_year=365)
    with pytest.raises(ValueError, match="periods_per_year"):
        probabilistic_sharpe_ratio(2.5, 0.0, 1250, units=ANN)
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1)


def test_min_trl_infinite_when_below_benchmark_and_vectorized():
    assert min_track_record_length(0.05, 0.1) == math.inf
    srs = np.array([0.05, 0.1, 0.2])
    psr = probabilistic_sharpe_ratio(srs, 0.0, 400)
    assert psr.shape == (3,) and np.all(np.diff(psr) > 0)
