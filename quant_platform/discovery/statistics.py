"""Per-candidate statistics: aggregate trade samples and test the after-cost expectancy.

Test: one-sided t test of H0 "mean net (after-cost) return per trade <= 0" against H1 "> 0", with
``t = mean / (sd / sqrt(n))`` and ``p = scipy.stats.t.sf(t, n - 1)`` (vectorized). Testing the *net* mean
means a discovery is an effect that pays for its costs; candidates with fewer than the spec's
``min_observations`` or with zero variance are kept as rows but not tested (``tested = False``, with a reason).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from quant_platform.core.hashing import sha256_hex
from quant_platform.discovery.samples import KEY_COLUMNS


def aggregate_candidates(samples: pl.DataFrame) -> pl.DataFrame:
    """One row per candidate key with n, mean/sd of net returns and the two time halves' gross means."""
    first = pl.col("first_half")
    return (
        samples.group_by(KEY_COLUMNS, maintain_order=True)
        .agg(
            n_observations=pl.len().cast(pl.Int64),
            mean_net_bps=pl.col("net_bps").mean(),
            std_net_bps=pl.col("net_bps").std(ddof=1),
            mean_gross_signed_bps=pl.col("gross_signed_bps").mean(),
            n_first_half=first.sum().cast(pl.Int64),
            n_second_half=(~first).sum().cast(pl.Int64),
            mean_gross_first_half_bps=pl.col("gross_signed_bps").filter(first).mean(),
            mean_gross_second_half_bps=pl.col("gross_signed_bps").filter(~first).mean(),
            first_event_ts=pl.col("ts").min(),
            last_event_ts=pl.col("ts").max(),
        )
        .sort(KEY_COLUMNS)
    )


def t_test_candidates(candidates: pl.DataFrame, min_observations: int) -> pl.DataFrame:
    """Add ``se_net_bps``, ``t_statistic``, ``p_value`` (one-sided, NaN where untested), ``tested``, ``untested_reason``."""
    n = candidates["n_observations"].to_numpy().astype(np.float64)
    mean = candidates["mean_net_bps"].to_numpy()
    sd = candidates["std_net_bps"].fill_null(np.nan).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        se = sd / np.sqrt(n)
        t_stat = mean / se
    enough = n >= min_observations
    varies = np.isfinite(se) & (se > 0)
    tested = enough & varies
    p = np.full(len(n), np.nan)
    p[tested] = stats.t.sf(t_stat[tested], n[tested] - 1.0)
    reason = np.where(~enough, "too_few_observations", np.where(~varies, "zero_variance", ""))
    return candidates.with_columns(
        se_net_bps=pl.Series(se).fill_nan(None),
        t_statistic=pl.Series(np.where(tested, t_stat, np.nan)),
        p_value=pl.Series(p),
        tested=pl.Series(tested),
        untested_reason=pl.Series(reason).replace("", None),
    )


def candidate_ids(candidates: pl.DataFrame, ontology_hash: str) -> pl.Series:
    """``sha256(ontology_hash | family | event | symbol | horizon | template | state_column | state_value)``."""
    keys = candidates.select(
        pl.concat_str(
            [pl.lit(ontology_hash), *[pl.col(c).cast(pl.String) for c in KEY_COLUMNS]], separator="|"
        )
    )
    return pl.Series("candidate_id", [sha256_hex(k) for k in keys.to_series().to_list()], dtype=pl.String)
