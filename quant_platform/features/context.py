"""``context_features``: each symbol against a leave-one-out equal-weight market proxy (correlation, beta,
residuals: the symbol's own return is not part of the market it is compared with), its average pairwise
correlation to the other symbols, plus market-wide dispersion, volatility, average pairwise correlation and
correlation regime. Parameters come from
``spec/features/context.yaml``; states with ``table: context_features`` come from ``spec/states``.

Point-in-time: the market series at bar t aggregates bar t of every symbol (all known at its close);
every statistic is a trailing window; market columns reach symbol rows through a backward as-of join,
which, because the market frame has a row for every input timestamp, is a lookup by the row's timestamp.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from quant_platform.core.collect import IN_MEMORY
from quant_platform.core.ordering import is_sorted_by_symbol_ts
from quant_platform.features.builders import zscore_expr
from quant_platform.features.context_kernels import (
    cross_section_moments,
    leave_one_out_market,
    pairwise_correlation,
    symbol_context,
)
from quant_platform.features.spec import FeatureDef, FeatureSpec, load_feature_spec
from quant_platform.features.states import state_columns

TABLE = "context_features"
_MARKET_POS = "_market_pos"
_MARKET_SEGMENT = "_market_segment"
_MARKET_N_VALID = "_market_n_valid"
_MARKET_SUM = "_market_sum"


def _defs(spec: FeatureSpec) -> dict[str, FeatureDef]:
    defs = {f.name: f for f in spec.table_features(TABLE)}
    expected = {
        "mkt_ret", "dispersion", "dispersion_z", "mkt_vol", "mkt_vol_percentile", "corr_mkt_48", "corr_mkt_288",
        "corr_gap", "beta_mkt_288", "avg_corr_48", "avg_corr_288", "avg_corr_jump", "residual_ret", "residual_z",
        "residual_cum_12_z", "avg_pair_corr_288", "corr_others_288",
    }  # fmt: skip
    if set(defs) != expected:
        raise ValueError(
            f"spec/features/context.yaml must define exactly {sorted(expected)}, got {sorted(defs)}"
        )
    return defs


def _market_frame(
    cross_section: pl.DataFrame, defs: dict[str, FeatureDef], spec: FeatureSpec
) -> pl.DataFrame:
    """The market series on one row per bar timestamp (``ts`` sorted, with ``_n_valid_symbols``, ``mkt_ret``,
    ``dispersion``): its EWMA volatility, dispersion z-score and volatility percentile (T rows, not T x N)."""
    cover = spec.min_coverage
    market = (
        cross_section.lazy()
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(_MARKET_POS))
        # The market EWMA restarts wherever the proxy is undefined, exactly like a symbol segment after a gap.
        .with_columns(pl.col("mkt_ret").is_null().cast(pl.Int64).cum_sum().alias(_MARKET_SEGMENT))
        .with_columns(
            pl.col("mkt_ret")
            .is_not_null()
            .cast(pl.Int64)
            .cum_sum()
            .over(_MARKET_SEGMENT)
            .alias(_MARKET_N_VALID)
        )
    )
    vol = defs["mkt_vol"]
    alpha = 2.0 / (vol.params["span"] + 1.0)
    ewma = (pl.col("mkt_ret") ** 2).ewm_mean(alpha=alpha, adjust=False, ignore_nulls=True).sqrt()
    disp_z, pct = defs["dispersion_z"], defs["mkt_vol_percentile"]
    disp_window, pct_window = disp_z.params["window"], pct.params["window"]
    market = market.with_columns(
        pl.when(pl.col(_MARKET_N_VALID) >= vol.warmup_bars).then(ewma).over(_MARKET_SEGMENT).alias("mkt_vol"),
        _masked(
            zscore_expr(pl.col("dispersion"), disp_window, math.ceil(cover * disp_window)),
            disp_z,
            _MARKET_POS,
        ),
    )
    rank = pl.col("mkt_vol").rolling_rank(
        pct_window, method="average", min_samples=math.ceil(cover * pct_window)
    )
    count = pl.col("mkt_vol").is_not_null().cast(pl.Float64).rolling_sum(pct_window, min_samples=1)
    return market.with_columns(_masked(rank / count, pct, _MARKET_POS)).collect(engine=IN_MEMORY)


def _masked(expr: pl.Expr, f: FeatureDef, position: str) -> pl.Expr:
    return pl.when(pl.col(position) < f.warmup_bars).then(None).otherwise(expr).alias(f.name)


def _cross_section(
    ret: np.ndarray, time_index: np.ndarray, stamps: pl.Series, min_symbols: int
) -> pl.DataFrame:
    """mkt_ret and dispersion per bar (null below ``min_symbols`` valid symbols), plus the valid count and the
    sum the leave-one-out proxy is taken from. Sums run in symbol order (the rows' order), so a truncated run
    gives bit-identical past values (a plain group-by sum may combine partial sums in a size- and
    thread-dependent order)."""
    count, total, std = cross_section_moments(ret, time_index, len(stamps))
    enough = count >= min_symbols
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(enough, total / count, np.nan)
    return pl.DataFrame(
        {
            "ts": stamps,
            "_n_valid_symbols": count,
            "mkt_ret": pl.Series(mean, nan_to_null=True),
            "dispersion": pl.Series(np.where(enough, std, np.nan), nan_to_null=True),
        }
    ).with_columns(pl.Series(_MARKET_SUM, total))


def _window(f: FeatureDef, cover: float, *extra: int) -> tuple[int, ...]:
    """A rolling feature's ``(window, min_samples, warmup, *extra)`` for the kernels."""
    window = int(f.params["window"])
    return (window, math.ceil(cover * window), int(f.warmup_bars), *extra)


def _masked_array(values: np.ndarray, position: np.ndarray, f: FeatureDef) -> pl.Series:
    return pl.Series(f.name, np.where(position < f.warmup_bars, np.nan, values), nan_to_null=True)


def compute_context(features: pl.LazyFrame | pl.DataFrame, spec: FeatureSpec | None = None) -> pl.DataFrame:
    """context_features from features_v1: ``symbol, ts, warmup``, the context.yaml features (Float64),
    the context states (String) and ``ontology_hash``.

    Computed eagerly on NumPy arrays of the (symbol, ts)-sorted rows: cross-sections by a per-timestamp
    kernel, per-symbol rolling statistics by one compiled pass per symbol segment (context_kernels)."""
    spec = spec or load_feature_spec()
    defs = _defs(spec)
    cover = spec.min_coverage
    lazy = features.lazy().select("symbol", "ts", "warmup", "ret_1")
    if not is_sorted_by_symbol_ts(lazy):  # features_v1 comes sorted: one cheap pass instead of a sort
        lazy = lazy.sort("symbol", "ts")
    frame = lazy.collect(engine=IN_MEMORY)
    ret = frame["ret_1"].cast(pl.Float64).to_numpy()  # null -> NaN
    new_symbol = (frame["symbol"] != frame["symbol"].shift(1)).fill_null(True).to_numpy()
    starts = np.flatnonzero(new_symbol)
    ends = np.append(starts[1:], len(frame))
    symbol_pos = np.arange(len(frame), dtype=np.int64) - np.repeat(starts, ends - starts)
    column = np.cumsum(new_symbol) - 1  # symbol index in sorted order
    stamps = frame["ts"].unique().sort()
    # The market frame has one row per bar timestamp of the input, so the backward as-of match of every
    # row is the row with the same ts: a lookup by the row's timestamp index.
    time_index = np.searchsorted(stamps.to_physical().to_numpy(), frame["ts"].to_physical().to_numpy())

    market = _market_frame(
        _cross_section(ret, time_index, stamps, int(spec.context_params["min_symbols"])), defs, spec
    )
    count = market["_n_valid_symbols"].to_numpy()
    total = market[_MARKET_SUM].to_numpy()
    loo = leave_one_out_market(ret, time_index, count, total, int(spec.context_params["min_other_symbols"]))

    rcz = defs["residual_cum_12_z"]
    if defs["beta_mkt_288"].params["window"] != defs["corr_mkt_288"].params["window"]:
        raise ValueError("context.yaml: beta_mkt_288 and corr_mkt_288 must share one window (one pass)")
    corr48, corr288, beta288, residual, residual_z, residual_cum_z = symbol_context(
        ret,
        loo,
        starts,
        ends,
        _window(defs["corr_mkt_48"], cover),
        _window(defs["corr_mkt_288"], cover),
        int(defs["beta_mkt_288"].warmup_bars),
        int(defs["residual_ret"].warmup_bars),
        _window(defs["residual_z"], cover),
        _window(rcz, cover, int(rcz.params["horizon"])),
    )

    n_times = len(stamps)
    mean_corr = {}
    for name, values in (("avg_corr_48", corr48), ("avg_corr_288", corr288)):
        n, sums, _ = cross_section_moments(values, time_index, n_times)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_corr[name] = np.where(n > 0, sums / n, np.nan)[time_index]

    pair_def, others_def = defs["avg_pair_corr_288"], defs["corr_others_288"]
    pair_window = pair_def.params["window"]
    if others_def.params["window"] != pair_window:  # one pass computes both from the same window sums
        raise ValueError("context.yaml: avg_pair_corr_288 and corr_others_288 must share one window")
    avg_pair, to_others = pairwise_correlation(
        ret, time_index, column, n_times, len(starts), pair_window, math.ceil(cover * pair_window)
    )

    market_columns = ("mkt_ret", "dispersion", "dispersion_z", "mkt_vol", "mkt_vol_percentile")
    gather = pl.Series(time_index)
    columns = [market[name].gather(gather) for name in market_columns]
    columns += [
        pl.Series("corr_mkt_48", corr48, nan_to_null=True),
        pl.Series("corr_mkt_288", corr288, nan_to_null=True),
        pl.Series("corr_gap", corr48 - corr288, nan_to_null=True),
        pl.Series("beta_mkt_288", beta288, nan_to_null=True),
        pl.Series("residual_ret", residual, nan_to_null=True),
        pl.Series("residual_z", residual_z, nan_to_null=True),
        pl.Series("residual_cum_12_z", residual_cum_z, nan_to_null=True),
        pl.Series("avg_corr_48", mean_corr["avg_corr_48"], nan_to_null=True),
        pl.Series("avg_corr_288", mean_corr["avg_corr_288"], nan_to_null=True),
        pl.Series("avg_corr_jump", mean_corr["avg_corr_48"] - mean_corr["avg_corr_288"], nan_to_null=True),
        _masked_array(avg_pair, time_index, pair_def),
        _masked_array(to_others, symbol_pos, others_def),
    ]
    # The Series above hold their own buffers (nan_to_null copies), so the NumPy arrays (8 bytes a row each)
    # are released before the output frame is assembled: that assembly is this step's peak.
    del (
        ret,
        loo,
        corr48,
        corr288,
        beta288,
        residual,
        residual_z,
        residual_cum_z,
        avg_pair,
        to_others,
        mean_corr,
    )
    names = list(defs)
    max_warmup = max(f.warmup_bars for f in defs.values())
    warmup = pl.col("warmup") | pl.Series((symbol_pos < max_warmup) | (time_index < max_warmup))
    states = state_columns(spec.table_states(TABLE), set(names))
    return (
        frame.select("symbol", "ts", warmup.alias("warmup"))
        .with_columns(columns)
        .select(
            "symbol",
            "ts",
            "warmup",
            *names,
            *states,
            pl.lit(spec.ontology_hash, dtype=pl.String).alias("ontology_hash"),
        )
    )


def context_lookback_days(
    spec: FeatureSpec | None = None, bar_minutes: int | None = None, sessions: str = "continuous"
) -> int:
    """``k`` for the context asset's ``lookback(k)`` on features_v1."""
    return (spec or load_feature_spec()).lookback_days(TABLE, bar_minutes, sessions)


def compute_context_for_day(
    features_window: pl.LazyFrame | pl.DataFrame,
    day: str,
    spec: FeatureSpec | None = None,
    *,
    bar_minutes: int | None = None,
    sessions: str = "continuous",
) -> pl.DataFrame:
    """context_features of ``day`` computed on its anchored window of features_v1 (extra history is cut off;
    see :mod:`quant_platform.core.day_blocks`)."""
    return compute_context_for_days(features_window, [day], spec, bar_minutes=bar_minutes, sessions=sessions)[
        day
    ]


def compute_context_for_days(
    features_window: pl.LazyFrame | pl.DataFrame,
    days: list[str],
    spec: FeatureSpec | None = None,
    *,
    bar_minutes: int | None = None,
    sessions: str = "continuous",
) -> dict[str, pl.DataFrame]:
    """``{day: context_features}`` computed once per block of days, each day the bytes it has alone."""
    from quant_platform.core.day_blocks import compute_by_block, only_day

    spec = spec or load_feature_spec()
    return compute_by_block(
        [features_window],
        days,
        context_lookback_days(spec, bar_minutes, sessions),
        lambda window: compute_context(window, spec),
        only_day,
    )
