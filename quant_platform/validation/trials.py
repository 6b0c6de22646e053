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
