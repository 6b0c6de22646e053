"""Effective number of independent trials from the correlation of the trials' return streams.

The DSR's expected-maximum benchmark assumes ``N`` independent trials; a search that tries 200 near-copies of
one rule has far fewer. Default estimate (``method="clustering"``): hierarchical clustering (scipy, average
linkage) on the correlation distance ``d = sqrt((1 - ρ) / 2)`` and the number of clusters when the dendrogram
is cut at ``distance_threshold`` (default 0.5, i.e. streams correlated above ρ = 0.5 count as one trial). It is
what López de Prado recommends for DSR trial counting (cluster, then count clusters), gives an integer count
that is easy to explain ("these 40 variants are one idea"), and is robust to many tiny correlations, which
would otherwise add up.

Alternative (``method="eigen"``): the participation ratio of the correlation matrix's eigenvalues,
``(Σλ)² / Σλ²``; equals K for K uncorrelated streams and 1 for identical ones, and is smooth in ρ. It is kept
as a cross-check: with finite samples, spurious sample correlations pull it below K for independent streams.

:func:`per_period_sharpe_from_trades` puts a trial known only by its per-trade statistics (discovery's
t statistic and trade count) into the per-period Sharpe units the DSR uses, so V[SR] can be estimated over
every tested hypothesis rather than only over those that were replayed.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform


def correlation_distance(corr: np.ndarray) -> np.ndarray:
    """``sqrt((1 - ρ) / 2)``, clipped into [0, 1], with an exact-zero diagonal."""
    d = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))
    np.fill_diagonal(d, 0.0)
    return d


def trial_correlation(trial_returns: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``(n_trials, n_obs)`` return streams; a constant stream is refused."""
    r = np.asarray(trial_returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] < 3:
        raise ValueError(f"trial_returns must be (n_trials, n_obs >= 3), got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("trial_returns contain NaN/inf; align the trials on a common timeline first")
    if np.any(r.std(axis=1) == 0):
        raise ValueError("a trial return stream is constant; its correlation is undefined")
    return np.atleast_2d(np.corrcoef(r))


def effective_number_of_trials(
    trial_returns: np.ndarray, *, method: str = "clustering", distance_threshold: float = 0.5
) -> float:
    """Effective number of independent trials among ``(n_trials, n_obs)`` return streams (see module doc)."""
    corr = trial_correlation(trial_returns)
    k = corr.shape[0]
    if k == 1:
        return 1.0
    if method == "clustering":
        if not 0.0 < distance_threshold < 1.0:
            raise ValueError(f"distance_threshold must be in (0, 1), got {distance_threshold}")
        condensed = squareform(correlation_distance(corr), checks=False)
        labels = fcluster(linkage(condensed, method="average"), t=distance_threshold, criterion="distance")
        return float(np.unique(labels).size)
    if method == "eigen":
        eigenvalues = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
        return float(eigenvalues.sum() ** 2 / (eigenvalues**2).sum())
    raise ValueError(f"unknown method {method!r}; use 'clustering' or 'eigen'")


def per_period_sharpe_from_trades(
    trade_sharpe: np.ndarray | float, n_trades: np.ndarray | float, n_periods: float
) -> np.ndarray:
    """Per-period Sharpe of a strategy whose ``n_trades`` trades over ``n_periods`` periods have per-trade
    Sharpe ``trade_sharpe`` = mean / sd of the trade returns (= t statistic / sqrt(n_trades)).

    Model: trades arrive as a Poisson process of rate ``λ = n_trades / n_periods`` per period with i.i.d.
    returns of mean μ and sd σ, each booked in one period, and a period without a trade returns 0 (as a flat
    day of a replayed stream). The period return is then compound Poisson with mean ``λμ`` and variance
    ``λ(σ² + μ²)``, so ``SR_period = sqrt(λ) · s / sqrt(1 + s²)`` with ``s = μ / σ``: the familiar
    ``s · sqrt(trades per period)`` for small ``s``, bounded by ``sqrt(λ)`` for large ``s``. Trades that
    overlap or span periods make the true figure differ somewhat; it is the same for every trial, so the
    spread of the trials (V[SR]) is what this is for.
    """
    s = np.asarray(trade_sharpe, dtype=np.float64)
    n = np.asarray(n_trades, dtype=np.float64)
    if not (np.isfinite(n_periods) and n_periods > 0):
        raise ValueError(f"n_periods must be a positive number, got {n_periods!r}")
    if np.any(~np.isfinite(s)) or np.any(~np.isfinite(n)) or np.any(n < 1):
        raise ValueError("trade_sharpe must be finite and n_trades finite and >= 1")
    return np.sqrt(n / n_periods) * s / np.sqrt(1.0 + s**2)
