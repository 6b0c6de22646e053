"""Hierarchical James–Stein (empirical-Bayes) partial pooling: global -> family -> event -> state cell.

Estimator (Efron & Morris 1973/1975, positive-part, unequal variances, method-of-moments prior variance).
Within each stratum (template, horizon — templates flip signs and horizons change scale, so pooling never
crosses them), every node ``c`` of a level has a raw mean ``x_c`` of net returns and a sampling variance
``v_c = s_c^2 / n_c``; its parent ``p`` (one level up) has a shrunken mean ``theta_p``. The spread of the
children's raw means around their parent decomposes into between-node variance ``tau^2`` and sampling
noise, so

    tau^2_p = max(0, sum_c (x_c - mean_p x)^2 / (k_p - 1) - mean_c v_c)      (children of p, k_p of them)

(a parent with fewer than ``min_children_for_own_tau2`` children uses the level's pooled estimate, the same
formula summed over all parents of the stratum). The adaptive weight the node's own data gets is
``lambda_c = tau^2 / (tau^2 + v_c)`` (James–Stein shrinkage factor ``B = 1 - lambda``), and

    theta_c = theta_p + lambda_c (x_c - theta_p),    se_c = sqrt(lambda_c * v_c)

(the normal–normal posterior sd, ignoring the uncertainty of ``tau^2`` and ``theta_p``: a known, slight
understatement). Nodes above the leaf are built from the unconditional (state ``all``) rows, whose
observations are disjoint across symbols; the leaf level is every candidate (symbol x state cell).
Everything is Polars group-bys and window expressions; no loops over groups.
"""

from __future__ import annotations

import polars as pl

from quant_platform.discovery.config import UNCONDITIONAL


def _node_stats(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Pool candidate sufficient statistics (n, mean, sd) into nodes: exact pooled mean and variance."""
    within = ((pl.col("n_observations") - 1) * pl.col("std_net_bps").fill_null(0.0) ** 2).sum()
    return (
        rows.group_by(keys)
        .agg(
            _n=pl.col("n_observations").sum(),
            _sum=(pl.col("n_observations") * pl.col("mean_net_bps")).sum(),
            _within=within,
            _sumsq_means=(pl.col("n_observations") * pl.col("mean_net_bps") ** 2).sum(),
        )
        .with_columns(_x=pl.col("_sum") / pl.col("_n"))
        .with_columns(
            _var=(pl.col("_within") + pl.col("_sumsq_means") - pl.col("_n") * pl.col("_x") ** 2)
            / (pl.col("_n") - 1)
        )
        .with_columns(_v=pl.col("_var") / pl.col("_n"))
        .select(*keys, "_x", "_v")
    )


def shrink_hierarchical(
    candidates: pl.DataFrame,
    strata: list[str],
    levels: list[tuple[str, list[str]]],
    min_children_for_own_tau2: int = 3,
) -> pl.DataFrame:
    """Add per level ``shrink_<level>_{mean_bps,se_bps,weight,tau2}``, ``shrink_global_mean_bps`` and the
    leaf results ``mean_net_shrunk_bps`` / ``se_net_shrunk_bps`` (see module docstring).

    ``candidates`` needs the stratum and level key columns, ``state_column``, ``n_observations``,
    ``mean_net_bps`` and ``std_net_bps``. The last level must be the candidate key (the leaf).
    """
    usable = candidates.filter(pl.col("n_observations") >= 2, pl.col("std_net_bps").is_not_null())
    unconditional = usable.filter(pl.col("state_column") == UNCONDITIONAL)
    glob = _node_stats(unconditional, strata).select(*strata, shrink_global_mean_bps=pl.col("_x"))
    out = candidates.join(glob, on=strata, how="left")
    parent_keys = list(strata)
    parents = glob.rename({"shrink_global_mean_bps": "_theta_p"})
    for position, (name, keys) in enumerate(levels):
        full = list(strata) + [k for k in keys if k not in strata]
        is_leaf = position == len(levels) - 1
        if is_leaf:
            nodes = usable.select(
                *full, _x=pl.col("mean_net_bps"), _v=pl.col("std_net_bps") ** 2 / pl.col("n_observations")
            )
        else:
            nodes = _node_stats(unconditional, full)
        dev = pl.col("_x") - pl.col("_x").mean().over(parent_keys)
        nodes = nodes.with_columns(
            _dev2=(dev**2),
            _k=pl.len().over(parent_keys),
        ).with_columns(
            _tau2_own=(
                pl.col("_dev2").sum().over(parent_keys) / (pl.col("_k") - 1)
                - pl.col("_v").mean().over(parent_keys)
            ).clip(lower_bound=0.0),
        )
        pooled = (
            nodes.filter(pl.col("_k") >= 2)
            .group_by(strata)
            .agg(
                # sum over nodes of (k-1)/k is sum over parents of (k_p - 1): the pooled degrees of freedom
                _tau2_pooled=(
                    pl.col("_dev2").sum() / ((pl.col("_k") - 1) / pl.col("_k")).sum() - pl.col("_v").mean()
                ).clip(lower_bound=0.0)
            )
        )
        nodes = (
            nodes.join(pooled, on=strata, how="left")
            .join(parents, on=parent_keys, how="left")
            .with_columns(
                _tau2=pl.when(pl.col("_k") >= min_children_for_own_tau2)
                .then(pl.col("_tau2_own"))
                .otherwise(pl.col("_tau2_pooled").fill_null(0.0))
            )
            .with_columns(
                _lambda=(pl.col("_tau2") / (pl.col("_tau2") + pl.col("_v"))).fill_nan(0.0).fill_null(0.0)
            )
            .with_columns(
                _theta=pl.col("_theta_p") + pl.col("_lambda") * (pl.col("_x") - pl.col("_theta_p")),
                _se=(pl.col("_lambda") * pl.col("_v")).sqrt(),
            )
        )
        level_cols = nodes.select(
            *full,
            pl.col("_theta").alias(f"shrink_{name}_mean_bps"),
            pl.col("_se").alias(f"shrink_{name}_se_bps"),
            pl.col("_lambda").alias(f"shrink_{name}_weight"),
            pl.col("_tau2").alias(f"shrink_{name}_tau2"),
        )
        out = out.join(level_cols, on=full, how="left")
        parents = nodes.select(*full, _theta_p=pl.col("_theta"))
        parent_keys = full
    leaf = levels[-1][0]
    return out.with_columns(
        mean_net_shrunk_bps=pl.col(f"shrink_{leaf}_mean_bps"),
        se_net_shrunk_bps=pl.col(f"shrink_{leaf}_se_bps"),
    )
