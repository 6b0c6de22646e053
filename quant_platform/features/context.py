"""``context_features``: each symbol against a leave-one-out equal-weight market proxy (correlation, beta,
residuals: the symbol's own return is not part of the market it is compared with), its average pairwise
correlation to the other symbols, plus market-wide dispersion, volatility, average pairwise correlation and
correlation regime. Parameters come from
``spec/features/context.yaml``; states with ``table: context_features`` come from ``spec/states``.

Point-in-time: the market series at bar t aggregates bar t of every symbol (all known at its close);
every statistic is a trailing window; market columns reach symbol rows through a backward as-of join,
which, because the market frame has a row for every input timestamp, is the equality join on ts.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from quant_platform.core.ordering import is_sorted_by_symbol_ts
from quant_platform.features.builders import zscore_expr
from quant_platform.features.spec import FeatureDef, FeatureSpec, load_feature_spec
from quant_platform.features.states import state_columns

TABLE = "context_features"
_MARKET_POS = "_market_pos"
_MARKET_SEGMENT = "_market_segment"
_MARKET_N_VALID = "_market_n_valid"
_SYMBOL_POS = "_symbol_pos"
_SYMBOL_KEY = "_symbol_key"
_MARKET_SUM = "_market_sum"
_LOO_MARKET = "_market_ex_symbol"  # the equal-weight mean of the other symbols' ret_1 at the bar  # integer id per symbol on the sorted frame: cheaper to group by than strings


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


def _in_symbol_order(column: str) -> pl.Expr:
    """A group's values in symbol order, aggregated as a list and reduced with ``list.mean``/``list.std``:
    a plain group-by mean may combine partial sums in a size- and thread-dependent order, and float sums
    depend on order, so cross-sectional means would differ in the last bit between a truncated and a full
    run. A list in a fixed order is reduced the same way every time."""
    return pl.col(column).sort_by("symbol")


def _masked(expr: pl.Expr, f: FeatureDef, position: str) -> pl.Expr:
    return pl.when(pl.col(position) < f.warmup_bars).then(None).otherwise(expr).alias(f.name)


def _market_frame(features: pl.LazyFrame, defs: dict[str, FeatureDef], spec: FeatureSpec) -> pl.LazyFrame:
    min_symbols = int(spec.context_params["min_symbols"])
    cover = spec.min_coverage
    n_valid = pl.col("ret_1").is_not_null().sum()
    market = (
        features.group_by("ts", maintain_order=True)
        .agg(n_valid.alias("_n_valid_symbols"), _in_symbol_order("ret_1").alias("_cross_section"))
        .with_columns(
            pl.when(pl.col("_n_valid_symbols") >= min_symbols)
            .then(pl.col("_cross_section").list.mean())
            .alias("mkt_ret"),
            pl.when(pl.col("_n_valid_symbols") >= min_symbols)
            .then(pl.col("_cross_section").list.std())
            .alias("dispersion"),
            pl.col("_cross_section").list.sum().alias(_MARKET_SUM),
        )
        .drop("_cross_section")
        .sort("ts")
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
    return market.with_columns(_masked(rank / count, pct, _MARKET_POS))


def _leave_one_out_market(min_other_symbols: int) -> pl.Expr:
    """Mean ret_1 of the other valid symbols at the bar: (sum - own) / (n - 1), or sum / n when the symbol's
    own return is missing; null with fewer than ``min_other_symbols`` others."""
    own = pl.col("ret_1")
    others = pl.col("_n_valid_symbols").cast(pl.Int64) - own.is_not_null().cast(pl.Int64)
    total = pl.col(_MARKET_SUM) - own.fill_null(0.0)
    return pl.when(others >= max(min_other_symbols, 1)).then(total / others).alias(_LOO_MARKET)


def _rolling_corr_beta(window: int, min_samples: int) -> tuple[pl.Expr, pl.Expr]:
    both = pl.col("ret_1").is_not_null() & pl.col(_LOO_MARKET).is_not_null()
    x = pl.when(both).then(pl.col("ret_1"))
    y = pl.when(both).then(pl.col(_LOO_MARKET))

    def mean(e: pl.Expr) -> pl.Expr:
        return e.rolling_mean(window, min_samples=min_samples)

    cov = mean(x * y) - mean(x) * mean(y)
    var_x = mean(x * x) - mean(x) ** 2
    var_y = mean(y * y) - mean(y) ** 2
    corr = pl.when((var_x > 0) & (var_y > 0)).then(cov / (var_x * var_y).sqrt())
    beta = pl.when(var_y > 0).then(cov / var_y)
    return corr.clip(-1.0, 1.0), beta


def _pairwise_correlation(frame: pl.DataFrame, window: int, min_samples: int) -> tuple[pl.Series, pl.Series]:
    """Rolling average pairwise correlation of ret_1 without forming the N x N pairs (O(N) per bar).

    With window variances v_i, volatilities s_i and S = sum_i x_i: var(S) - sum v_i = sum_{i!=j} s_i s_j rho_ij,
    so ``(var(S) - sum v) / ((sum s)^2 - sum v)`` is the average of the pairwise correlations weighted by
    s_i s_j (the realised form of the CBOE implied-correlation formula), and ``(cov(x_i, S) - v_i) /
    (s_i (sum s - s_i))`` is symbol i's average correlation to the others weighted by s_j. Both are exact
    identities; with equal volatilities they are the plain averages. The window counts only bars where every
    symbol of the frame has a return (a pair's window never mixes different bars).
    Returns ``avg_pair_corr`` and ``corr_others`` aligned with the rows of ``frame`` (gathered from the T x N
    results by each row's (ts, symbol) cell: no join, no per-cell symbol strings)."""
    symbols = sorted(frame["symbol"].unique().to_list())
    stamps = frame["ts"].unique().sort()
    # NumPy on the T x N matrix (scattered, not pivoted: a 2,000-column pivot or O(N) polars expressions
    # do not scale to an equity panel).
    row = np.searchsorted(stamps.to_physical().to_numpy(), frame["ts"].to_physical().to_numpy())
    column = (
        frame["symbol"].replace_strict(symbols, list(range(len(symbols))), return_dtype=pl.Int64).to_numpy()
    )
    x = np.full((len(stamps), len(symbols)), np.nan)
    x[row, column] = frame["ret_1"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    complete = ~np.isnan(x).any(axis=1) & (len(symbols) >= 2)
    x = np.where(complete[:, None], x, 0.0)
    total = x.sum(axis=1)  # the same row sum (same order) in every run
    count = _rolling_sum(complete.astype(np.float64), window)
    enough = count >= min_samples
    with np.errstate(divide="ignore", invalid="ignore"):

        def mean(values: np.ndarray) -> np.ndarray:
            return _rolling_sum(values, window) / (count if values.ndim == 1 else count[:, None])

        mean_x, mean_total = mean(x), mean(total)
        var = np.clip(mean(x * x) - mean_x**2, 0.0, None)
        cov_total = mean(x * total[:, None]) - mean_x * mean_total[:, None]
        var_total = mean(total * total) - mean_total**2
        vol = np.sqrt(var)
        sum_var, sum_vol = var.sum(axis=1), vol.sum(axis=1)
        pair_denominator = sum_vol**2 - sum_var
        avg_pair = np.where(pair_denominator > 0, (var_total - sum_var) / pair_denominator, np.nan)
        others_denominator = vol * (sum_vol[:, None] - vol)
        to_others = np.where(others_denominator > 0, (cov_total - var) / others_denominator, np.nan)
    avg_pair = np.where(enough, np.clip(avg_pair, -1.0, 1.0), np.nan)
    to_others = np.where(enough[:, None], np.clip(to_others, -1.0, 1.0), np.nan)
    avg_pair_corr = pl.Series("avg_pair_corr_288", avg_pair[row], nan_to_null=True)
    corr_others = pl.Series("corr_others", to_others[row, column], nan_to_null=True)
    return avg_pair_corr, corr_others


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing sums over ``window`` rows (axis 0) by differences of one cumulative sum: a prefix of the
    rows gives exactly the same sums (point-in-time), and a later start differs only by float round-off."""
    cumulative = np.cumsum(values, axis=0)
    out = cumulative.copy()
    out[window:] -= cumulative[:-window]
    return out


def compute_context(features: pl.LazyFrame | pl.DataFrame, spec: FeatureSpec | None = None) -> pl.DataFrame:
    """context_features from features_v1: ``symbol, ts, warmup``, the context.yaml features (Float64),
    the context states (String) and ``ontology_hash``."""
    spec = spec or load_feature_spec()
    defs = _defs(spec)
    lazy = features.lazy().select("symbol", "ts", "warmup", "ret_1")
    presorted = is_sorted_by_symbol_ts(lazy)
    if not presorted:  # features_v1 comes sorted: one cheap pass instead of a sort
        lazy = lazy.sort("symbol", "ts")
    market = _market_frame(lazy, defs, spec)
    new_symbol = (pl.col("symbol") != pl.col("symbol").shift(1)).fill_null(True)
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    cover = spec.min_coverage
    frame = (
        # The market frame has one row per bar timestamp of the input, so the backward as-of match of every
        # row is the row with the same ts: an equality join gives exactly it, without re-sorting by ts.
        lazy.join(market, on="ts", how="left", maintain_order="left")
        .with_columns(new_symbol.cast(pl.Int64).cum_sum().alias(_SYMBOL_KEY))
        .with_columns(
            # position within the symbol as a difference of whole-column row numbers (no grouping by symbol)
            (row - pl.when(new_symbol).then(row).forward_fill()).alias(_SYMBOL_POS),
            _leave_one_out_market(int(spec.context_params["min_other_symbols"])),
        )
    )
    c48, c288, beta_def = defs["corr_mkt_48"], defs["corr_mkt_288"], defs["beta_mkt_288"]
    corr48, _ = _rolling_corr_beta(c48.params["window"], math.ceil(cover * c48.params["window"]))
    corr288, beta288 = _rolling_corr_beta(c288.params["window"], math.ceil(cover * c288.params["window"]))
    frame = frame.with_columns(
        _masked(corr48, c48, _SYMBOL_POS).over(_SYMBOL_KEY),
        _masked(corr288, c288, _SYMBOL_POS).over(_SYMBOL_KEY),
        _masked(beta288, beta_def, _SYMBOL_POS).over(_SYMBOL_KEY),
    )
    resid = defs["residual_ret"]
    frame = frame.with_columns(
        (pl.col("corr_mkt_48") - pl.col("corr_mkt_288")).alias("corr_gap"),
        _masked(
            pl.col("ret_1") - pl.col("beta_mkt_288").shift(1) * pl.col(_LOO_MARKET), resid, _SYMBOL_POS
        ).over(_SYMBOL_KEY),
    )
    rz, rcz = defs["residual_z"], defs["residual_cum_12_z"]
    rz_window, rcz_window, horizon = rz.params["window"], rcz.params["window"], rcz.params["horizon"]
    residual = pl.col("residual_ret")
    residual_std = residual.shift(1).rolling_std(rz_window, min_samples=math.ceil(cover * rz_window))
    cum_std = residual.shift(horizon).rolling_std(rcz_window, min_samples=math.ceil(cover * rcz_window))
    frame = frame.with_columns(
        _masked(pl.when(residual_std > 0).then(residual / residual_std), rz, _SYMBOL_POS).over(_SYMBOL_KEY),
        _masked(
            pl.when(cum_std > 0).then(
                residual.rolling_sum(horizon, min_samples=horizon) / (cum_std * math.sqrt(horizon))
            ),
            rcz,
            _SYMBOL_POS,
        ).over(_SYMBOL_KEY),
    )
    # Materialise once: the cross-sectional mean must read exactly the correlations that are returned.
    # Only what later steps read is kept (the market helpers and the leave-one-out proxy are dropped here).
    done = [name for name in defs if name in frame.collect_schema().names()]
    frame = frame.select("symbol", "ts", "warmup", "ret_1", _SYMBOL_POS, _MARKET_POS, *done).collect()
    average_corr = (
        frame.lazy()
        .group_by("ts", maintain_order=True)
        .agg(
            _in_symbol_order("corr_mkt_48").alias("avg_corr_48"),
            _in_symbol_order("corr_mkt_288").alias("avg_corr_288"),
        )
        .with_columns(pl.col("avg_corr_48").list.mean(), pl.col("avg_corr_288").list.mean())
        .with_columns((pl.col("avg_corr_48") - pl.col("avg_corr_288")).alias("avg_corr_jump"))
        .collect()
    )
    # Same-ts match (the as-of match, as above) as a per-timestamp lookup: adds three columns to the
    # materialised frame without a join copying its other columns.
    frame = frame.with_columns(
        pl.col("ts")
        .replace_strict(average_corr["ts"], average_corr[name], return_dtype=pl.Float64)
        .alias(name)
        for name in ("avg_corr_48", "avg_corr_288", "avg_corr_jump")
    )
    pair_def, others_def = defs["avg_pair_corr_288"], defs["corr_others_288"]
    pair_window = pair_def.params["window"]
    if others_def.params["window"] != pair_window:  # one pass computes both from the same window sums
        raise ValueError("context.yaml: avg_pair_corr_288 and corr_others_288 must share one window")
    avg_pair_corr, corr_others = _pairwise_correlation(frame, pair_window, math.ceil(cover * pair_window))
    frame = frame.with_columns(avg_pair_corr, corr_others).lazy()
    frame = frame.with_columns(
        _masked(pl.col("avg_pair_corr_288"), pair_def, _MARKET_POS),
        _masked(pl.col("corr_others"), others_def, _SYMBOL_POS),
    )
    names = list(defs)
    max_warmup = max(f.warmup_bars for f in defs.values())
    warmup = pl.col("warmup") | (pl.col(_SYMBOL_POS) < max_warmup) | (pl.col(_MARKET_POS) < max_warmup)
    states = state_columns(spec.table_states(TABLE), set(names))
    context = (
        frame.with_columns(warmup.alias("warmup"))
        .select(
            "symbol",
            "ts",
            "warmup",
            *names,
            *states,
            pl.lit(spec.ontology_hash, dtype=pl.String).alias("ontology_hash"),
        )
        .collect()
    )
    return _with_input_keys(context, features) if presorted else context


def _with_input_keys(context: pl.DataFrame, features: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """``context`` holding the in-memory sorted input's own ``symbol, ts`` columns (shared) instead of the
    join's copies (16 + 8 bytes a row): its rows are the input's rows in the same order. A horizontal concat,
    unlike ``hstack``, keeps the constant ``ontology_hash`` column unmaterialised."""
    if not isinstance(features, pl.DataFrame):
        return context
    keys = pl.DataFrame([features.get_column("symbol"), features.get_column("ts")])
    # A lazy drop: an eager one on a many-chunk frame copies the columns into one chunk.
    rest = context.lazy().drop("symbol", "ts").collect()
    return pl.concat([keys, rest], how="horizontal")


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
    """context_features of ``day`` computed on its lookback window of features_v1 (extra history is cut off)."""
    from quant_platform.features.compute import day_window, only_day

    spec = spec or load_feature_spec()
    window = day_window(features_window, day, context_lookback_days(spec, bar_minutes, sessions))
    return only_day(compute_context(window, spec), day)
