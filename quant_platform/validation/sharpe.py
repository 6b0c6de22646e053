"""Sharpe-ratio statistics of Bailey & López de Prado: PSR, MinTRL ("The Sharpe Ratio Efficient Frontier",
J. of Risk 2012) and the expected maximum Sharpe / DSR ("The Deflated Sharpe Ratio", JPM 2014).

Units. The formulas hold for the *per-period* (non-annualized) Sharpe ratio of the sampled returns, with
``n_obs`` counted in the same periods, and *non-excess* kurtosis (3 for a normal). Every public function
requires the keyword ``units`` (there is no default, so a caller must say which units its numbers are in):
``SharpeUnits.PER_PERIOD`` or ``SharpeUnits.ANNUALIZED`` together with an explicit ``periods_per_year``;
annualized inputs are converted (SR / sqrt(ppy), V[SR] / ppy) before use. Leaving ``units`` out is a
``TypeError``; a plain string or anything but a ``SharpeUnits`` member is a ``ValueError``. Mixing is also
refused where it can be detected: in per-period units an ``|SR| > MAX_PER_PERIOD_SHARPE`` (1.0: a mean return larger than one standard
deviation *every period*, i.e. an annualized daily Sharpe above 19) is taken to be an annualized number and
raises ``ValueError``; ``periods_per_year`` without ``ANNUALIZED`` (or the reverse) raises too.

Everything broadcasts over NumPy arrays. scipy supplies the normal CDF/quantile; the formulas themselves are
a few lines and are written out because no maintained library exposes them with explicit units.
"""

from __future__ import annotations

import enum
import math

import numpy as np
from scipy import stats

EULER_GAMMA = float(np.euler_gamma)
MAX_PER_PERIOD_SHARPE = 1.0


class SharpeUnits(enum.Enum):
    PER_PERIOD = "per_period"
    ANNUALIZED = "annualized"


def _scale(units: SharpeUnits, periods_per_year: float | None) -> float:
    """Divisor that turns the given Sharpe into per-period units (1 for per-period input)."""
    if not isinstance(units, SharpeUnits):
        raise ValueError(f"units must be a SharpeUnits member, got {units!r}")
    if units is SharpeUnits.ANNUALIZED:
        if periods_per_year is None or not periods_per_year > 0:
            raise ValueError("annualized Sharpe inputs need periods_per_year > 0 (e.g. 365 for daily crypto)")
        return math.sqrt(periods_per_year)
    if periods_per_year is not None:
        raise ValueError("periods_per_year was given but units=PER_PERIOD; say units=SharpeUnits.ANNUALIZED")
    return 1.0


def _per_period(name: str, sr: np.ndarray | float, scale: float) -> np.ndarray:
    value = np.asarray(sr, dtype=np.float64) / scale
    if np.any(np.abs(value[np.isfinite(value)]) > MAX_PER_PERIOD_SHARPE):
        raise ValueError(
            f"{name}={sr!r} is not a plausible per-period Sharpe (|SR| > {MAX_PER_PERIOD_SHARPE}); it looks "
            "annualized: pass units=SharpeUnits.ANNUALIZED with periods_per_year"
        )
    return value


def _check_obs(n_obs: np.ndarray | float) -> np.ndarray:
    n = np.asarray(n_obs, dtype=np.float64)
    if np.any(n < 2):
        raise ValueError(f"n_obs must be >= 2, got {n_obs!r}")
    return n


def sharpe_standard_error_term(
    sr: np.ndarray, skew: np.ndarray | float, kurtosis: np.ndarray | float
) -> np.ndarray:
    """``1 - γ3·SR + (γ4 - 1)/4·SR²`` (per-period SR, non-excess kurtosis): T-1 times the SR estimator variance."""
    term = 1.0 - np.asarray(skew) * sr + (np.asarray(kurtosis) - 1.0) / 4.0 * sr**2
    if np.any(term <= 0):
        raise ValueError(
            "1 - skew*SR + (kurtosis-1)/4*SR^2 must be > 0 (check skew/kurtosis; kurtosis is non-excess)"
        )
    return term


def probabilistic_sharpe_ratio(
    sr: np.ndarray | float,
    sr_benchmark: np.ndarray | float,
    n_obs: np.ndarray | float,
    skew: np.ndarray | float = 0.0,
    kurtosis: np.ndarray | float = 3.0,
    *,
    units: SharpeUnits,
    periods_per_year: float | None = None,
) -> np.ndarray | float:
    """PSR(SR*) = Φ[(SR - SR*)·sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4·SR²)]."""
    scale = _scale(units, periods_per_year)
    s = _per_period("sr", sr, scale)
    b = _per_period("sr_benchmark", sr_benchmark, scale)
    n = _check_obs(n_obs)
    z = (s - b) * np.sqrt(n - 1.0) / np.sqrt(sharpe_standard_error_term(s, skew, kurtosis))
    return _unwrap(stats.norm.cdf(z))


def min_track_record_length(
    sr: np.ndarray | float,
    sr_benchmark: np.ndarray | float,
    skew: np.ndarray | float = 0.0,
    kurtosis: np.ndarray | float = 3.0,
    prob: float = 0.95,
    *,
    units: SharpeUnits,
    periods_per_year: float | None = None,
) -> np.ndarray | float:
    """MinTRL = 1 + (1 - γ3·SR + (γ4 - 1)/4·SR²)·(Φ⁻¹(prob) / (SR - SR*))², in observations (periods).

    ``inf`` where SR <= SR*: no track record length makes such a Sharpe significant above the benchmark.
    """
    if not 0.0 < prob < 1.0:
        raise ValueError(f"prob must be in (0, 1), got {prob}")
    scale = _scale(units, periods_per_year)
    s = _per_period("sr", sr, scale)
    b = _per_period("sr_benchmark", sr_benchmark, scale)
    term = sharpe_standard_error_term(s, skew, kurtosis)
    edge = s - b
    with np.errstate(divide="ignore"):
        trl = 1.0 + term * (stats.norm.ppf(prob) / np.where(edge > 0, edge, np.nan)) ** 2
    return _unwrap(np.where(edge > 0, trl, np.inf))


def expected_max_sharpe(
    sr_variance: np.ndarray | float,
    n_trials: np.ndarray | float,
    sr_mean: np.ndarray | float = 0.0,
    *,
    units: SharpeUnits,
    periods_per_year: float | None = None,
) -> np.ndarray | float:
    """False Strategy Theorem: E[max SR] ≈ E[SR] + sqrt(V[SR])·((1-γ)Φ⁻¹(1 - 1/N) + γΦ⁻¹(1 - 1/(N·e))).

    Returned in the input units. ``n_trials`` may be fractional (an effective number of trials); N = 1 means
    no selection and gives ``sr_mean``.
    """
    scale = _scale(units, periods_per_year)
    v = np.asarray(sr_variance, dtype=np.float64)
    if np.any(v < 0):
        raise ValueError(f"sr_variance must be >= 0, got {sr_variance!r}")
    if np.any(v / scale**2 > MAX_PER_PERIOD_SHARPE**2):
        raise ValueError(
            f"sr_variance={sr_variance!r} is not a plausible per-period variance; it looks annualized: pass "
            "units=SharpeUnits.ANNUALIZED with periods_per_year"
        )
    n = np.asarray(n_trials, dtype=np.float64)
    if np.any(n < 1):
        raise ValueError(f"n_trials must be >= 1, got {n_trials!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * stats.norm.ppf(
            1.0 - 1.0 / (n * math.e)
        )
    z = np.where(n > 1, z, 0.0)
    return _unwrap(np.asarray(sr_mean, dtype=np.float64) + np.sqrt(v) * z)


def deflated_sharpe_ratio(
    sr: np.ndarray | float,
    n_obs: np.ndarray | float,
    skew: np.ndarray | float,
    kurtosis: np.ndarray | float,
    n_trials: np.ndarray | float,
    sr_variance: np.ndarray | float,
    *,
    units: SharpeUnits,
    periods_per_year: float | None = None,
) -> np.ndarray | float:
    """DSR = PSR(SR* = E[max SR over n_trials trials with variance sr_variance]) (benchmark mean 0)."""
    benchmark = expected_max_sharpe(sr_variance, n_trials, units=units, periods_per_year=periods_per_year)
    return probabilistic_sharpe_ratio(
        sr, benchmark, n_obs, skew, kurtosis, units=units, periods_per_year=periods_per_year
    )


def deflated_sharpe_ratio_from_trials(
    sr: float,
    n_obs: float,
    skew: float,
    kurtosis: float,
    trial_sharpes: np.ndarray,
    *,
    n_trials: float | None = None,
    units: SharpeUnits,
    periods_per_year: float | None = None,
) -> float:
    """DSR with V[SR] estimated (ddof=1) from the Sharpes of the trials (same units as ``sr``).

    ``n_trials`` defaults to ``len(trial_sharpes)``; pass the full count (or an effective count from
    ``effective_number_of_trials``) when only some trials' Sharpes are at hand.
    """
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    if trials.ndim != 1 or trials.size < 2 or not np.isfinite(trials).all():
        raise ValueError("trial_sharpes must be a 1-D array of at least 2 finite Sharpe ratios")
    n = float(trials.size if n_trials is None else n_trials)
    return float(
        deflated_sharpe_ratio(
            sr, n_obs, skew, kurtosis, n, trials.var(ddof=1), units=units, periods_per_year=periods_per_year
        )
    )


def sample_moments(returns: np.ndarray, axis: int = -1) -> dict[str, np.ndarray]:
    """Per-period Sharpe (mean / std with ddof=1), skewness and non-excess kurtosis (bias-uncorrected, as in
    the papers' code), and the observation count, along ``axis``."""
    r = np.asarray(returns, dtype=np.float64)
    n = r.shape[axis]
    std = r.std(axis=axis, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = np.where(std > 0, r.mean(axis=axis) / np.where(std > 0, std, 1.0), np.nan)
        skew = stats.skew(r, axis=axis, bias=True)
        kurt = stats.kurtosis(r, axis=axis, fisher=False, bias=True)
    return {"sharpe": sr, "skew": skew, "kurtosis": kurt, "n_obs": np.full(np.shape(sr), n)}


def _unwrap(value: np.ndarray) -> np.ndarray | float:
    return float(value) if np.ndim(value) == 0 else value
