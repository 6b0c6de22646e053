"""PSR / MinTRL / expected max Sharpe / DSR against the published worked examples and an independent
arbitrary-precision implementation of the papers' equations (mpmath at 30 digits, no NumPy/SciPy)."""

from __future__ import annotations

import math

import mpmath
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

ANN = SharpeUnits.ANNUALIZED
PP = SharpeUnits.PER_PERIOD
mpmath.mp.dps = 30


def _phi(x):
    return mpmath.ncdf(x)


def _phi_inv(p):
    return mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(p) - 1)


def ref_psr(sr, sr_star, n, skew, kurt) -> float:
    """Bailey & López de Prado (2012), eq. for PSR(SR*) = Z[(SR - SR*)·sqrt(T-1) / sqrt(1 - γ3·SR + (γ4-1)/4·SR²)]."""
    sr, sr_star, n, skew, kurt = map(mpmath.mpf, (sr, sr_star, n, skew, kurt))
    return float(
        _phi((sr - sr_star) * mpmath.sqrt(n - 1) / mpmath.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    )


def ref_min_trl(sr, sr_star, skew, kurt, prob) -> float:
    """Bailey & López de Prado (2012): MinTRL = 1 + (1 - γ3·SR + (γ4-1)/4·SR²)·(Z_α / (SR - SR*))²."""
    sr, sr_star, skew, kurt = map(mpmath.mpf, (sr, sr_star, skew, kurt))
    return float(1 + (1 - skew * sr + (kurt - 1) / 4 * sr**2) * (_phi_inv(prob) / (sr - sr_star)) ** 2)


def ref_emax(v, n) -> float:
    """Bailey & López de Prado (2014), eq. (2) with E[SR] = 0: sqrt(V)·((1-γ)Z⁻¹[1-1/N] + γZ⁻¹[1-1/(N·e)])."""
    v, n, gamma = mpmath.mpf(v), mpmath.mpf(n), mpmath.euler
    return float(
        mpmath.sqrt(v) * ((1 - gamma) * _phi_inv(1 - 1 / n) + gamma * _phi_inv(1 - 1 / (n * mpmath.e)))
    )


def test_deflated_sharpe_paper_example():
    """Bailey & López de Prado, "The Deflated Sharpe Ratio" (J. Portfolio Management 40(5), 2014), section
    "A numerical example": N = 100 trials with V[SR] = 1/2 of the annualized trial Sharpes, best annualized
    SR = 2.5 over T = 1250 daily observations (5 years of 250 days), skew -3, kurtosis 10. The paper prints
    E[max SR] ≈ 0.1132 (non-annualized) and DSR ≈ 0.9004. Those printed figures are asserted at their printed
    precision (4 decimals, i.e. the rounded value equals the print), and the exact values to 1e-6 against
    the 30-digit mpmath evaluation of the paper's equations written above."""
    emax_pp = expected_max_sharpe(0.5 / 250, 100, units=PP)
    assert round(emax_pp, 4) == 0.1132
    assert emax_pp == pytest.approx(ref_emax(0.5 / 250, 100), abs=1e-6)
    # Annualized inputs give the same benchmark, returned annualized.
    emax_ann = expected_max_sharpe(0.5, 100, units=ANN, periods_per_year=250)
    assert emax_ann / math.sqrt(250) == pytest.approx(emax_pp, abs=1e-12)

    dsr = deflated_sharpe_ratio(2.5, 1250, -3.0, 10.0, 100, 0.5, units=ANN, periods_per_year=250)
    assert round(dsr, 4) == 0.9004
    sr0 = ref_emax(0.5 / 250, 100)
    assert dsr == pytest.approx(ref_psr(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0), abs=1e-6)
    assert deflated_sharpe_ratio(2.5 / math.sqrt(250), 1250, -3.0, 10.0, 100, 0.5 / 250, units=PP) == (
        pytest.approx(dsr, abs=1e-12)
    )


def test_sharpe_efficient_frontier_appendix_inputs():
    """Bailey & López de Prado, "The Sharpe Ratio Efficient Frontier" (J. of Risk 15(2), 2012): PSR and MinTRL
    with 2, 3 and 4 moments at the inputs of the paper's appendix code (per-period SR 1.5/sqrt(12), benchmark
    1/sqrt(12), skew -0.72, kurtosis 5.78, 59.895 observations, 95% confidence), exact to 1e-6 against the
    mpmath evaluation of the paper's equations.

    Not asserted: a printed figure of the 2012 paper. The texts reachable from this project (abstract pages
    and mirrors' front matter) do not show the numerical section, so no printed PSR/MinTRL value could be
    confirmed; rather than invent one, only the equations are checked here, plus MinTRL's defining
    property (PSR at T = MinTRL equals the confidence level)."""
    sr, sr_star, obs, prob = 1.5 / math.sqrt(12), 1 / math.sqrt(12), 59.895, 0.95
    for skew, kurt in [(0.0, 3.0), (-0.72, 3.0), (-0.72, 5.78)]:
        assert probabilistic_sharpe_ratio(sr, sr_star, obs, skew, kurt, units=PP) == pytest.approx(
            ref_psr(sr, sr_star, obs, skew, kurt), abs=1e-6
        )
        trl = min_track_record_length(sr, sr_star, skew, kurt, prob, units=PP)
        assert trl == pytest.approx(ref_min_trl(sr, sr_star, skew, kurt, prob), abs=1e-6)
        # MinTRL is exactly the track record at which PSR reaches the confidence level.
        assert probabilistic_sharpe_ratio(sr, sr_star, trl, skew, kurt, units=PP) == pytest.approx(
            prob, abs=1e-9
        )
    # Negative skew and fat tails lengthen the required track record (the paper's central point).
    trls = [
        min_track_record_length(sr, sr_star, s, k, prob, units=PP)
        for s, k in [(0, 3), (-0.72, 3), (-0.72, 5.78)]
    ]
    assert trls[0] < trls[1] < trls[2]


def test_normal_psr_matches_lo_asymptotics_and_simulation():
    """For iid normal returns PSR(0) = Φ(SR·sqrt(T-1)/sqrt(1 + SR²/2)); and the share of simulated samples
    whose estimated SR exceeds the truth's benchmark is the PSR's complement at the true SR."""
    sr, n = 0.1, 500
    assert probabilistic_sharpe_ratio(sr, 0.0, n, units=PP) == pytest.approx(
        float(_phi(sr * math.sqrt(n - 1) / math.sqrt(1 + sr * sr / 2))), abs=1e-12
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
    assert expected_max_sharpe(v, n, units=PP) == pytest.approx(maxima.mean(), rel=0.02)
    assert expected_max_sharpe(v, 1, units=PP) == 0.0
    assert expected_max_sharpe(v, 1000, units=PP) > expected_max_sharpe(v, 100, units=PP)


def test_dsr_from_trials_uses_trial_variance():
    rng = np.random.default_rng(5)
    trials = rng.normal(0, 0.03, size=50)
    got = deflated_sharpe_ratio_from_trials(0.08, 750, -0.5, 5.0, trials, units=PP)
    sr0 = ref_emax(trials.var(ddof=1), 50)
    assert got == pytest.approx(ref_psr(0.08, sr0, 750, -0.5, 5.0), abs=1e-12)
    more = deflated_sharpe_ratio_from_trials(0.08, 750, -0.5, 5.0, trials, n_trials=5000, units=PP)
    assert more < got  # more trials deflate harder


def test_units_are_required_and_mixing_is_refused():
    """Truth: the units contract in quant_platform/validation/sharpe.py — no function guesses the units."""
    # Unspecified units: every public function refuses to run (no default to fall back on).
    for call in (
        lambda: probabilistic_sharpe_ratio(0.1, 0.0, 1250),
        lambda: min_track_record_length(0.1, 0.0),
        lambda: expected_max_sharpe(0.002, 100),
        lambda: deflated_sharpe_ratio(0.1, 1250, -3.0, 10.0, 100, 0.002),
        lambda: deflated_sharpe_ratio_from_trials(0.1, 1250, 0.0, 3.0, np.array([0.01, 0.03])),
    ):
        with pytest.raises(TypeError, match="units"):
            call()
    # A bare string is not a unit declaration.
    with pytest.raises(ValueError, match="SharpeUnits"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1250, units="per_period")
    # The case the old default let through: an annualized SR of 0.3-1.0 is within the per-period plausibility
    # bound, so only the explicit declaration tells them apart, and the two readings differ materially.
    as_per_period = probabilistic_sharpe_ratio(0.5, 0.0, 1250, units=PP)
    as_annualized = probabilistic_sharpe_ratio(0.5, 0.0, 1250, units=ANN, periods_per_year=250)
    assert as_per_period > 0.999 and as_annualized < 0.9
    # Numbers that cannot be per-period are refused when declared per-period.
    with pytest.raises(ValueError, match="looks annualized"):
        probabilistic_sharpe_ratio(2.5, 0.0, 1250, units=PP)
    with pytest.raises(ValueError, match="looks annualized"):
        deflated_sharpe_ratio(2.5, 1250, -3.0, 10.0, 100, 0.5, units=PP)
    with pytest.raises(ValueError, match="looks annualized"):
        expected_max_sharpe(2.0, 100, units=PP)
    # Mixed declarations: periods_per_year with per-period units, or annualized without periods_per_year.
    with pytest.raises(ValueError, match="periods_per_year"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1250, units=PP, periods_per_year=365)
    with pytest.raises(ValueError, match="periods_per_year"):
        probabilistic_sharpe_ratio(2.5, 0.0, 1250, units=ANN)
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, units=PP)


def test_min_trl_infinite_when_below_benchmark_and_vectorized():
    assert min_track_record_length(0.05, 0.1, units=PP) == math.inf
    srs = np.array([0.05, 0.1, 0.2])
    psr = probabilistic_sharpe_ratio(srs, 0.0, 400, units=PP)
    assert psr.shape == (3,) and np.all(np.diff(psr) > 0)
