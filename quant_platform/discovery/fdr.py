"""Benjamini–Hochberg FDR: a NaN-safe wrapper over scipy, a vectorized grouped version, and the two-level
(groups, then hypotheses inside selected groups) procedure of spec/multiplicity/taxonomy.yaml.

``scipy.stats.false_discovery_control`` adjusts one family at a time; looping it over hundreds of groups of
a million rows is slow, so :func:`grouped_bh` computes the same step-up adjustment for every group at once
(sort by group and p, ``p * m / rank``, reverse cumulative minimum inside each group). The tests check it
against scipy group by group.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from quant_platform.discovery.keys import key_ids


def bh_adjust(pvalues: np.ndarray | list[float] | pl.Series) -> np.ndarray:
    """BH-adjusted q-values; NaN (or null) p-values stay NaN and do not count in the number of tests."""
    if isinstance(pvalues, pl.Series):
        pvalues = pvalues.cast(pl.Float64).fill_null(np.nan).to_numpy()
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"bh_adjust expects a 1-d array of p-values, got shape {p.shape}")
    finite = np.isfinite(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    q = np.full(p.shape, np.nan)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q


def grouped_bh(pvalues: np.ndarray, group_ids: np.ndarray) -> np.ndarray:
    """BH q-values computed separately inside each group (any integer labels); NaN-safe like :func:`bh_adjust`."""
    p = np.asarray(pvalues, dtype=np.float64)
    g = np.asarray(group_ids)
    if p.shape != g.shape:
        raise ValueError("pvalues and group_ids must have the same shape")
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if not finite.any():
        return q
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    idx = np.flatnonzero(finite)
    _, gid = np.unique(g[idx], return_inverse=True)
    order = np.lexsort((p[idx], gid))
    ps, gs = p[idx][order], gid[order]
    n = len(ps)
    start = np.ones(n, dtype=bool)
    start[1:] = gs[1:] != gs[:-1]
    starts = np.flatnonzero(start)
    sizes = np.diff(np.append(starts, n))
    seg = np.repeat(np.arange(len(starts)), sizes)
    rank = np.arange(n) - starts[seg] + 1
    raw = np.minimum(ps * sizes[seg] / rank, 1.0)
    # Reverse cumulative min per segment: process back to front, offsetting each segment below every
    # earlier-processed one (values lie in [0, 1]) so the running min never crosses a segment boundary.
    shifted = raw - 2.0 * (len(starts) - 1 - seg)
    cm = np.minimum.accumulate(shifted[::-1])[::-1]
    adjusted = cm + 2.0 * (len(starts) - 1 - seg)
    out = np.empty(n)
    out[order] = adjusted
    q[idx] = out
    return q


def two_level_fdr(candidates: pl.DataFrame, group_by: list[str], alpha: float) -> pl.DataFrame:
    """Benjamini–Bogomolov two-level BH (see spec/multiplicity/taxonomy.yaml).

    Adds ``q_value`` (BH within the group), ``group_p_value`` (Simes: the group's smallest BH q-value),
    ``group_q_value`` (BH over groups), ``fdr_level_within`` (``alpha * R / G``) and ``passes_fdr``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    gid, _ = key_ids(candidates, list(group_by))
    p = candidates["p_value"].fill_null(np.nan).to_numpy()
    q_within = grouped_bh(p, gid)
    n_ids = int(gid.max(initial=-1)) + 1
    simes = np.full(n_ids, np.inf)
    np.fmin.at(simes, gid, q_within)  # fmin skips NaN: untested rows never set their group's p-value
    simes[~np.isfinite(simes)] = np.nan
    group_q = bh_adjust(simes)  # groups without a tested row stay NaN and are not counted
    n_groups = int(np.isfinite(simes).sum())
    n_selected = int((group_q <= alpha).sum())
    level = alpha * n_selected / n_groups if n_groups else 0.0
    passes = (group_q[gid] <= alpha) & (q_within <= level)
    return candidates.with_columns(
        q_value=pl.Series(q_within),
        group_p_value=pl.Series(simes[gid]).fill_nan(None),
        group_q_value=pl.Series(group_q[gid]).fill_nan(None),
        fdr_level_within=pl.lit(level, dtype=pl.Float64),
        passes_fdr=pl.Series(passes),
    )
