"""One Polars expression per feature *builder* named in ``spec/features``.

A builder returns an expression whose windows stay inside one group: a symbol (symbol-scope features:
trailing statistics over the valid observations only, with a coverage minimum) or, through the warm-up
mask of ``compute._feature_expr``, one gap-free segment (segment-scope features). Rolling statistics run as
compiled kernels per group (:mod:`quant_platform.features.kernels`); the formula around them stays here.
Parameters come from the feature's spec entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from quant_platform.features import kernels
from quant_platform.features.kernels import kernel_expr
from quant_platform.features.spec import FeatureDef

N_VALID = "_n_valid"  # valid (non-gap) bars so far in the current segment, 1 on the first valid bar
SEGMENT_GROUP = "_segment_key"  # one id per (symbol, gap-free segment): the group of every recursion
SYMBOL_GROUP = "_symbol_key"  # one id per symbol on the sorted frame


@dataclass(frozen=True)
class BuildContext:
    bar_minutes: int
    min_coverage: float

    def min_samples(self, feature: FeatureDef, window: int) -> int:
        """Segment scope needs the full window; symbol scope needs ``min_coverage`` of it to be valid."""
        if feature.scope == "segment":
            return window
        return max(1, math.ceil(self.min_coverage * window))


# A builder returns its expression, or (expression, helpers): helper columns computed in an earlier step on
# the whole column, so that a grouped recursion reads a materialised input instead of re-evaluating it
# group by group.
Built = pl.Expr | tuple[pl.Expr, dict[str, pl.Expr]]
Builder = Callable[[FeatureDef, BuildContext], Built]
BUILDERS: dict[str, Builder] = {}
# How far a builder's expression reaches, which decides how it is evaluated (see compute._feature_expr):
# "row": reads only its own row, so no window group is needed;
# "exact": reads earlier rows only through shifts or order statistics (max, min, rank, counts), whose
#          results do not depend on where the column starts, and never further back than the feature's
#          warm-up, so it runs on the whole sorted column and the warm-up mask keeps it inside its group;
# "kernel": rolling statistics computed by a compiled kernel that reads the group column itself (per symbol,
#          or per segment for segment scope, see _per_group): their float round-off depends only on the
#          group's own earlier rows (never on another symbol, never on later rows), hence run on the whole
#          column; shifts around it are kept in their group by the warm-up mask as for "exact";
# recursions (EWMA, Wilder) restart at every gap: their builders group the recursion per segment
# themselves and are registered "exact" for everything around it.
LOCALITY: dict[str, str] = {}


def builder(name: str, locality: str) -> Callable[[Builder], Builder]:
    if locality not in ("row", "exact", "kernel"):
        raise ValueError(f"unknown locality {locality!r}")

    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        LOCALITY[name] = locality
        return fn

    return register


def _col(feature: FeatureDef, i: int = 0) -> pl.Expr:
    return pl.col(feature.inputs[i])


def _positive_log(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr > 0).then(expr.log()).otherwise(None)


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den != 0).then(num / den).otherwise(None)


def _lagged(expr: pl.Expr, n: int) -> pl.Expr:
    """``expr`` n rows back within the symbol (null on its first n rows): a whole-column shift that never
    reads another symbol, for the inputs of per-symbol kernels."""
    return pl.when(pl.col(SYMBOL_GROUP) == pl.col(SYMBOL_GROUP).shift(n)).then(expr.shift(n))


def _per_group(f: FeatureDef, kernel: kernels.Kernel, values: pl.Expr, *params: int | float) -> pl.Expr:
    """``kernel`` per symbol for symbol-scope features, per gap-free segment for segment-scope ones (their
    windows never cross a gap anyway; restarting there makes a post-gap value independent of the bars
    before the gap, round-off included)."""
    group = SEGMENT_GROUP if f.scope == "segment" else SYMBOL_GROUP
    return kernel_expr(kernel, values, group, *params)


def wilder_seeded(values: pl.Expr, period: int, first_valid: int) -> pl.Expr:
    """The input of Wilder's recursion: null before the seed bar, the seed (simple mean of the first
    ``period`` values, a rolling mean per segment: its round-off depends only on the segment's rows) at it,
    the values after. ``first_valid`` is the segment bar (``_n_valid``) of the first defined value."""
    n_valid = pl.col(N_VALID)
    seed_at = first_valid + period - 1
    seed = kernel_expr(kernels.rolling_mean, values, SEGMENT_GROUP, period, period)
    return pl.when(n_valid == seed_at).then(seed).when(n_valid > seed_at).then(values).otherwise(None)


def wilder_recursion(seeded: pl.Expr, period: int) -> pl.Expr:
    """``avg_t = avg_{t-1} + (x_t - avg_{t-1}) / period`` from the seed on, restarted in every segment."""
    return kernel_expr(kernels.ewm_mean, seeded, SEGMENT_GROUP, 1.0 / period)


def zscore_expr(values: pl.Expr, window: int, min_samples: int) -> pl.Expr:
    """(x_t - mean) / std of the window's previous bars t-window..t-1 (the current bar is excluded), on a
    whole column (the market series of ``context``); features use the compiled per-group
    ``kernels.rolling_zscore``."""
    previous = values.shift(1)
    mean = previous.rolling_mean(window, min_samples=min_samples)
    std = previous.rolling_std(window, min_samples=min_samples)
    return _safe_div(values - mean, std)


# --- returns -------------------------------------------------------------------------------------------
@builder("log_return", locality="exact")
def log_return(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    close = _col(f)
    return (close / close.shift(f.params["horizon"])).log()


@builder("log_change", locality="exact")
def log_change(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    x = _col(f)
    return _positive_log(x / x.shift(f.params["horizon"]))


@builder("difference", locality="exact")
def difference(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    x = _col(f)
    return x - x.shift(f.params["horizon"])


# --- volatility ----------------------------------------------------------------------------------------
@builder("ewma_vol", locality="exact")
def ewma_vol(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    alpha = 2.0 / (f.params["span"] + 1.0)
    return kernel_expr(kernels.ewm_mean, _col(f) ** 2, SEGMENT_GROUP, alpha).sqrt()


@builder("rolling_std", locality="kernel")
def rolling_std(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_std, _col(f), window, ctx.min_samples(f, window))


@builder("rolling_std_of_log", locality="kernel")
def rolling_std_of_log(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_std, _positive_log(_col(f)), window, ctx.min_samples(f, window))


@builder("ratio", locality="row")
def ratio(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    return _safe_div(_col(f, 0), _col(f, 1))


@builder("ratio_bps", locality="row")
def ratio_bps(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    return 1e4 * _safe_div(_col(f, 0), _col(f, 1))


@builder("ratio_to_lagged", locality="exact")
def ratio_to_lagged(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    """x_t / y_{t-lag}: e.g. a short window against the long window just before it (disjoint windows)."""
    return _safe_div(_col(f, 0), _col(f, 1).shift(f.params["lag"]))


@builder("standardized_return", locality="exact")
def standardized_return(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    horizon = f.params["horizon"]
    return _safe_div(_col(f, 0), _col(f, 1).shift(horizon) * math.sqrt(horizon))


@builder("rolling_percentile", locality="kernel")
def rolling_percentile(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    """Average rank of x_t among the window's valid values (itself counted) over their count, per symbol."""
    window = f.params["window"]
    return _per_group(f, kernels.rolling_rank_fraction, _col(f), window, ctx.min_samples(f, window))


@builder("zscore", locality="kernel")
def zscore(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_zscore, _col(f), window, ctx.min_samples(f, window))


@builder("zscore_log", locality="kernel")
def zscore_log(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_zscore, _positive_log(_col(f)), window, ctx.min_samples(f, window))


@builder("zscore_log1p", locality="kernel")
def zscore_log1p(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_zscore, _col(f).log1p(), window, ctx.min_samples(f, window))


# --- momentum ------------------------------------------------------------------------------------------
@builder("wilder_rsi", locality="exact")
def wilder_rsi(f: FeatureDef, ctx: BuildContext) -> Built:
    period = f.params["period"]
    change = _col(f).diff()
    gain, loss = f"_{f.name}_gain", f"_{f.name}_loss"
    helpers = {
        gain: wilder_seeded(change.clip(lower_bound=0.0), period, first_valid=2),
        loss: wilder_seeded((-change).clip(lower_bound=0.0), period, first_valid=2),
    }
    avg_gain, avg_loss = wilder_recursion(pl.col(gain), period), wilder_recursion(pl.col(loss), period)
    rsi = pl.when(avg_loss == 0).then(pl.lit(100.0)).otherwise(100.0 - 100.0 / (1.0 + avg_gain / avg_loss))
    return rsi, helpers


@builder("range_position", locality="kernel")
def range_position(f: FeatureDef, ctx: BuildContext) -> Built:
    window = f.params["window"]
    x = _col(f)
    low, high = f"_{f.name}_low", f"_{f.name}_high"
    return _safe_div(x - pl.col(low), pl.col(high) - pl.col(low)), {
        low: _per_group(f, kernels.rolling_min, x, window, ctx.min_samples(f, window)),
        high: _per_group(f, kernels.rolling_max, x, window, ctx.min_samples(f, window)),
    }


# --- microstructure ------------------------------------------------------------------------------------
# Kernel inputs multiply by constants and never divide by a literal: Polars divides an array by a scalar
# either truly or as a multiplication by the reciprocal depending on where the row falls in the array, so
# the same row could differ in its last bit between a frame and its truncation (a point-in-time break).
_CS_K = 3.0 - 2.0 * math.sqrt(2.0)
_CS_K_INVERSE = 1.0 / _CS_K


def corwin_schultz_pair(high: pl.Expr, low: pl.Expr) -> pl.Expr:
    """Corwin-Schultz (2012) spread of the bar pair (t-1, t), negative estimates set to zero."""
    prev_high, prev_low = _lagged(high, 1), _lagged(low, 1)
    beta = (prev_high / prev_low).log() ** 2 + (high / low).log() ** 2
    gamma = (pl.max_horizontal(high, prev_high) / pl.min_horizontal(low, prev_low)).log() ** 2
    # max/min_horizontal ignore nulls; the pair is undefined without the previous bar.
    gamma = pl.when(prev_high.is_null()).then(None).otherwise(gamma)
    alpha = ((2.0 * beta).sqrt() - beta.sqrt()) * _CS_K_INVERSE - (gamma * _CS_K_INVERSE).sqrt()
    spread = 2.0 * (alpha.exp() - 1.0) / (1.0 + alpha.exp())
    return spread.clip(lower_bound=0.0)


@builder("corwin_schultz", locality="kernel")
def corwin_schultz(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    pair = corwin_schultz_pair(_col(f, 0), _col(f, 1))
    return _per_group(f, kernels.rolling_mean, pair, window, ctx.min_samples(f, window))


@builder("abdi_ranaldo", locality="kernel")
def abdi_ranaldo(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    high, low, close = _col(f, 0), _col(f, 1), _col(f, 2)
    eta = (high.log() + low.log()) * 0.5
    prev_close = _lagged(close.log(), 1)
    s2 = 4.0 * (prev_close - _lagged(eta, 1)) * (prev_close - eta)
    mean_s2 = _per_group(f, kernels.rolling_mean, s2, window, ctx.min_samples(f, window))
    return mean_s2.clip(lower_bound=0.0).sqrt()


@builder("taker_imbalance", locality="kernel")
def taker_imbalance(f: FeatureDef, ctx: BuildContext) -> Built:
    window = f.params["window"]
    taker_buy, volume = _col(f, 0), _col(f, 1)
    min_samples = ctx.min_samples(f, window)
    net = _per_group(f, kernels.rolling_sum, 2.0 * taker_buy - volume, window, min_samples)
    total = f"_{f.name}_volume"
    return _safe_div(net, pl.col(total)), {
        total: _per_group(f, kernels.rolling_sum, volume, window, min_samples)
    }


@builder("amihud", locality="kernel")
def amihud(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    per_bar = _safe_div(_col(f, 0).abs(), _col(f, 1)) * f.params["scale"]
    return _per_group(f, kernels.rolling_mean, per_bar, window, ctx.min_samples(f, window))


# --- carry and positioning -----------------------------------------------------------------------------
@builder("passthrough", locality="row")
def passthrough(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    return _col(f).cast(pl.Float64)


@builder("boolean_as_float", locality="row")
def boolean_as_float(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    return _col(f).cast(pl.Float64)


@builder("sign_run_length", locality="exact")
def sign_run_length(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    cap_bars = f.params["cap_bars"]
    bars_per_print = f.params["funding_interval_minutes"] / ctx.bar_minutes
    sign = _col(f).sign()
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    # A run starts where the sign changes or is unknown, or at a symbol's first row: integer positions on
    # the whole column, exactly what the per-symbol computation gives.
    new_symbol = (pl.col(SYMBOL_GROUP) != pl.col(SYMBOL_GROUP).shift(1)).fill_null(True)
    new_run = (sign != sign.shift(1)).fill_null(True) | new_symbol
    run_start = pl.when(new_run).then(index).otherwise(None).forward_fill()
    run_bars = (index - run_start + 1).clip(upper_bound=cap_bars).cast(pl.Float64)
    return pl.when(sign.is_null()).then(None).when(sign == 0).then(0.0).otherwise(run_bars / bars_per_print)


@builder("rolling_sign_mean", locality="kernel")
def rolling_sign_mean(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    sign = _col(f).sign().cast(pl.Float64)
    return _per_group(f, kernels.rolling_mean, sign, window, ctx.min_samples(f, window))


@builder("sum_of", locality="row")
def sum_of(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    return _col(f, 0) + _col(f, 1)


@builder("normalized_difference", locality="row")
def normalized_difference(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    a, b = _col(f, 0), _col(f, 1)
    return _safe_div(a - b, a + b)


# --- price structure -----------------------------------------------------------------------------------
@builder("vwap_distance", locality="kernel")
def vwap_distance(f: FeatureDef, ctx: BuildContext) -> Built:
    window = f.params["window"]
    high, low, close, volume = (_col(f, i) for i in range(4))
    min_samples = ctx.min_samples(f, window)
    # sum(typical * volume) / sum(volume) with typical = (high + low + close) / 3 (the 3 moved to the
    # denominator: see _CS_K_INVERSE)
    total = f"_{f.name}_volume"
    vwap = _safe_div(
        _per_group(f, kernels.rolling_sum, (high + low + close) * volume, window, min_samples),
        3.0 * pl.col(total),
    )
    return 1e4 * (close / vwap - 1.0), {
        total: _per_group(f, kernels.rolling_sum, volume, window, min_samples)
    }


@builder("rolling_max", locality="kernel")
def rolling_max(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_max, _col(f), window, ctx.min_samples(f, window))


@builder("rolling_min", locality="kernel")
def rolling_min(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    window = f.params["window"]
    return _per_group(f, kernels.rolling_min, _col(f), window, ctx.min_samples(f, window))


@builder("price_range_position", locality="row")
def price_range_position(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    close, high, low = _col(f, 0), _col(f, 1), _col(f, 2)
    return _safe_div(close - low, high - low)


@builder("efficiency_ratio", locality="kernel")
def efficiency_ratio(f: FeatureDef, ctx: BuildContext) -> Built:
    window = f.params["window"]
    close, ret_1 = _col(f, 0), _col(f, 1)
    net = (close / _lagged(close, window)).log().abs()
    path = f"_{f.name}_path"
    return _safe_div(net, pl.col(path)), {
        path: _per_group(f, kernels.rolling_sum, ret_1.abs(), window, ctx.min_samples(f, window))
    }


@builder("wilder_atr", locality="exact")
def wilder_atr(f: FeatureDef, ctx: BuildContext) -> Built:
    high, low, close = _col(f, 0), _col(f, 1), _col(f, 2)
    prev_close = close.shift(1)
    true_range = (
        pl.when(prev_close.is_null())
        .then(None)
        .otherwise(pl.max_horizontal(high - low, (high - prev_close).abs(), (low - prev_close).abs()))
    )
    seeded = f"_{f.name}_seeded"
    return wilder_recursion(pl.col(seeded), f.params["period"]), {
        seeded: wilder_seeded(true_range, f.params["period"], first_valid=2)
    }


# --- calendar ------------------------------------------------------------------------------------------
@builder("minute_of_day", locality="row")
def minute_of_day(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    """UTC minute of the day (plus the offset), from whole minutes since the epoch with integer floor
    arithmetic: the same numbers as hour * 60 + minute, without decomposing every stamp into a calendar."""
    minutes = _col(f).dt.epoch("ms") // 60_000 + f.params["offset_bars"] * ctx.bar_minutes
    return (minutes - (minutes // 1440) * 1440).cast(pl.Float64)


@builder("day_of_week", locality="row")
def day_of_week(f: FeatureDef, ctx: BuildContext) -> pl.Expr:
    return _col(f).dt.weekday().cast(pl.Float64)
