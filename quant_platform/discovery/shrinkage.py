"""Hierarchical James–Stein (empirical-Bayes) partial pooling: global -> family -> event -> symbol -> state.

Estimator (Efron & Morris 1973/1975, positive-part, unequal variances, method-of-moments prior variance).
Within each stratum (template, horizon — templates flip signs and horizons change scale, so pooling never
crosses them), every node ``c`` of a level has a raw mean ``x_c`` of net returns and a sampling variance
``v_c = s_c^2 / n_c``; its parent ``p`` (one level up) has a shrunken mean ``theta_p``. The spread of a
sibling group's raw means decomposes into between-node variance ``tau^2`` and sampling noise, so

    tau^2_g = max(0, sum_c (x_c - mean_g x)^2 / (k_g - 1) - mean_c v_c)      (siblings of group g, k_g of them)

(a group with fewer than ``min_children_for_own_tau2`` members uses the level's pooled estimate, the same
formula summed over all groups of the stratum). The adaptive weight the node's own data gets is
``lambda_c = tau^2 / (tau^2 + v_c)`` (James–Stein shrinkage factor ``B = 1 - lambda``), and

    theta_c = theta_p + lambda_c (x_c - theta_p),    se_c = sqrt(lambda_c * v_c)

(the normal–normal posterior sd, ignoring the uncertainty of ``tau^2`` and ``theta_p``: a known, slight
understatement). The decomposition needs siblings that share no data, so the tree is built from disjoint
cells only:

- every level above the leaf is built from the unconditional (state ``all``) rows, whose observations are
  disjoint across symbols, pooling their exact sufficient statistics; the level just above the leaf is the
  (event, symbol) cell, i.e. the unconditional candidate itself;
- the leaf level holds the state-conditioned candidates, each a child of its own symbol's unconditional
  cell (so its weight says how far its data move it from that cell); the cells of one state column partition
  the parent's trades while cells of different columns overlap, so the sibling group for ``tau^2`` is
  (parent, state column);
- an unconditional candidate's leaf result (``mean_net_shrunk_bps`` / ``se_net_shrunk_bps``) is its node
  one level up; its ``shrink_<leaf>_*`` columns are null (it has no state level).

Composite keys become dense integer ids once and every group statistic is an ``np.bincount``: no joins, no
loops over groups.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from quant_platform.discovery.config import UNCONDITIONAL
from quant_platform.discovery.keys import key_ids


def _node_stats(ids: np.ndarray, size: int, mask: np.ndarray, n, m, sd) -> tuple[np.ndarray, np.ndarray]:
    """Pooled mean and sampling variance of each node from the rows in ``mask`` (NaN for empty nodes)."""
    w = mask.astype(np.float64)
    total = np.bincount(ids, weights=n * w, minlength=size)
    s = np.bincount(ids, weights=np.where(mask, n * m, 0.0), minlength=size)
    within = np.bincount(ids, weights=np.where(mask, (n - 1) * sd**2, 0.0), minlength=size)
    sq = np.bincount(ids, weights=np.where(mask, n * m**2, 0.0), minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(total > 0, s / total, np.nan)
        var = (within + sq - total * x**2) / (total - 1)
        v = var / total
    return x, v


def _pool(x, v, group, n_groups, group_stratum, n_strata, theta_p, min_children):
    """One level of partial pooling: children (x, v) toward their parents' shrunken means ``theta_p`` (one
    per child), with ``tau^2`` from the child's sibling group."""
    out = [np.full(x.shape, np.nan) for _ in range(4)]
    present = np.flatnonzero(np.isfinite(x) & np.isfinite(v))
    x, v, g, theta_p = x[present], v[present], group[present], theta_p[present]
    k = np.bincount(g, minlength=n_groups).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_x = np.bincount(g, weights=x, minlength=n_groups) / k
        dev2 = (x - mean_x[g]) ** 2
        own = (
            np.bincount(g, weights=dev2, minlength=n_groups) / (k - 1)
            - np.bincount(g, weights=v, minlength=n_groups) / k
        )
        own = np.maximum(own, 0.0)
        k_child = k[g]
        multi = k_child >= 2
        s = group_stratum[g[multi]]
        pooled = np.bincount(s, weights=dev2[multi], minlength=n_strata) / np.bincount(
            s, weights=(k_child[multi] - 1) / k_child[multi], minlength=n_strata
        ) - np.bincount(s, weights=v[multi], minlength=n_strata) / np.bincount(s, minlength=n_strata)
        pooled = np.nan_to_num(np.maximum(pooled, 0.0), nan=0.0)
        tau2 = np.where(k_child >= min_children, own[g], pooled[group_stratum[g]])
        lam = np.nan_to_num(tau2 / (tau2 + v), nan=0.0)
        out[0][present] = theta_p + lam * (x - theta_p)
        out[1][present] = np.sqrt(lam * v)
    out[2][present] = lam
    out[3][present] = tau2
    return tuple(out)


def shrink_hierarchical(
    candidates: pl.DataFrame,
    strata: list[str],
    levels: list[tuple[str, list[str]]],
    min_children_for_own_tau2: int = 3,
) -> pl.DataFrame:
    """Add per level ``shrink_<level>_{mean_bps,se_bps,weight,tau2}``, ``shrink_global_{mean,se}_bps`` and the
    leaf results ``mean_net_shrunk_bps`` / ``se_net_shrunk_bps`` (see module docstring; null where a node
    has no usable data).

    ``candidates`` needs the stratum and level key columns, ``state_column``, ``n_observations``,
    ``mean_net_bps`` and ``std_net_bps``. The last level is the leaf: one node per state-conditioned
    candidate row, a child of the level above it, which must identify the unconditional candidate (its keys
    are the leaf's without ``state_column`` / ``state_value``).
    """
    leaf_name, leaf_keys = levels[-1]
    if len(levels) < 2 or [k for k in leaf_keys if k not in ("state_column", "state_value")] != list(
        levels[-2][1]
    ):
        raise ValueError(
            "shrinkage levels: the leaf must be the level above it plus state_column/state_value "
            f"(got {[name for name, _ in levels]}); state cells are children of their unconditional cell"
        )
    n = candidates["n_observations"].cast(pl.Float64).to_numpy()
    m = candidates["mean_net_bps"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    sd = candidates["std_net_bps"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    usable = (n >= 2) & np.isfinite(sd) & np.isfinite(m)
    is_unconditional = (candidates["state_column"] == UNCONDITIONAL).to_numpy()
    unconditional = usable & is_unconditional

    stratum_ids, _ = key_ids(candidates, list(strata))
    n_strata = int(stratum_ids.max(initial=-1)) + 1
    global_x, global_v = _node_stats(stratum_ids, n_strata, unconditional, n, m, sd)
    columns = {  # the top of the tree is not shrunk: its se is the pooled sampling se
        "shrink_global_mean_bps": global_x[stratum_ids],
        "shrink_global_se_bps": np.sqrt(global_v)[stratum_ids],
    }

    parent_ids, parent_stratum, theta_parent, prev_keys = (
        stratum_ids,
        np.arange(n_strata),
        global_x,
        list(strata),
    )
    for position, (name, keys) in enumerate(levels):
        leaf = position == len(levels) - 1
        new = [k for k in keys if k not in prev_keys]
        if leaf:
            conditional = usable & ~is_unconditional
            x = np.where(conditional, m, np.nan)
            v = np.where(conditional, sd**2 / n, np.nan)
            node_of_row = np.arange(len(n))
            # siblings sharing no data: the cells of one state column under one parent
            group, first = key_ids(candidates, ["state_column"], parent=parent_ids)
            group_stratum = parent_stratum[parent_ids[first]]
            theta_p = theta_parent[parent_ids]
        else:
            node_of_row, first = key_ids(candidates, new, parent=parent_ids)
            size = int(node_of_row.max(initial=-1)) + 1
            x, v = _node_stats(node_of_row, size, unconditional, n, m, sd)
            group = parent_ids[first]
            group_stratum = parent_stratum
            theta_p = theta_parent[group]
        theta, se, lam, tau2 = _pool(
            x,
            v,
            group,
            len(group_stratum),
            group_stratum,
            n_strata,
            theta_p,
            min_children_for_own_tau2,
        )
        columns |= {
            f"shrink_{name}_mean_bps": theta[node_of_row],
            f"shrink_{name}_se_bps": se[node_of_row],
            f"shrink_{name}_weight": lam[node_of_row],
            f"shrink_{name}_tau2": tau2[node_of_row],
        }
        if not leaf:
            parent_stratum = parent_stratum[group]
            parent_ids, theta_parent = node_of_row, theta
            prev_keys = list(dict.fromkeys([*prev_keys, *keys]))
    above = levels[-2][0]
    frame = candidates.with_columns(
        [pl.Series(name, values).fill_nan(None) for name, values in columns.items()]
    )
    unconditional_row = pl.col("state_column") == UNCONDITIONAL
    return frame.with_columns(
        mean_net_shrunk_bps=pl.when(unconditional_row)
        .then(pl.col(f"shrink_{above}_mean_bps"))
        .otherwise(pl.col(f"shrink_{leaf_name}_mean_bps")),
        se_net_shrunk_bps=pl.when(unconditional_row)
        .then(pl.col(f"shrink_{above}_se_bps"))
        .otherwise(pl.col(f"shrink_{leaf_name}_se_bps")),
    )
