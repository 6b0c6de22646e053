"""Population stability index (PSI): how far a live distribution (a model input or its predictions) has moved
from the training window's.

PSI = sum_i (a_i - e_i) * ln(a_i / e_i) over bins, with e_i / a_i the expected (training) and actual shares.
Bins are the training sample's quantiles (equal expected mass), the usual credit-scoring construction; an
empty bin gets a floor share of ``epsilon`` so the logarithm stays finite. Common reading: < 0.1 stable,
0.1–0.25 moderate shift, > 0.25 a significant shift. Written here because neither scipy nor numpy has it and
it is ten lines; tests check it against hand-computed bins.
"""

from __future__ import annotations

import numpy as np


def psi_from_shares(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-6) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    expected = np.clip(np.asarray(expected, dtype=float), epsilon, None)
    actual = np.clip(np.asarray(actual, dtype=float), epsilon, None)
    if expected.shape != actual.shape:
        raise ValueError(f"share vectors differ in shape: {expected.shape} vs {actual.shape}")
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def population_stability_index(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference`` on ``bins`` quantile bins of ``reference`` (NaNs dropped)."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if reference.size < bins or current.size == 0:
        raise ValueError(
            f"PSI needs at least {bins} reference values and one current value "
            f"(got {reference.size} and {current.size})"
        )
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    return psi_from_shares(expected / reference.size, actual / current.size)
