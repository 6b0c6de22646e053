"""The compiled rolling kernels against straightforward references written here (a plain loop over each
group's window, Polars' own ``ewm_mean`` for the recursion), on random groups with missing values and ties;
and the point-in-time property: truncating the column after t leaves every value up to t bit-identical."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.features import kernels

# Values on a 1e-3 grid (ties and constant windows happen; a non-constant window has a spread well above
# round-off), None for missing.
_value = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.0, -2.0, 3.5]),
    st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3)),
)
_groups = st.lists(st.lists(_value, min_size=1, max_size=40), min_size=1, max_size=4)


@st.composite
def _case(draw) -> tuple[np.ndarray, np.ndarray, int, int]:
    groups = draw(_groups)
    window = draw(st.integers(1, 12))
    min_samples = draw(st.integers(1, window))
    x = np.array([np.nan if v is None else v for g in groups for v in g], dtype=np.float64)
    key = np.repeat(np.arange(len(groups), dtype=np.int64) * 3 + 7, [len(g) for g in groups])
    return x, key, window, min_samples


def _windows(x: np.ndarray, key: np.ndarray, window: int, lag: int = 0):
    """(t, valid values of the window ending at t - lag inside t's group) for every row."""
    for t in range(x.size):
        lo = int(np.searchsorted(key, key[t]))
        end = t - lag
        w = x[max(lo, end - window + 1) : end + 1] if end >= lo else x[:0]
        yield t, w[~np.isnan(w)]


def _reference(x, key, window, min_samples, stat, lag=0) -> np.ndarray:
    out = np.full(x.size, np.nan)
    for t, w in _windows(x, key, window, lag):
        if w.size >= min_samples:
            out[t] = stat(w, x[t])
    return out


def _std(w, _):
    return np.nan if w.size < 2 else 0.0 if (w == w[0]).all() else np.std(w, ddof=1)


def _zscore(w, now):
    std = _std(w, now)
    return (now - w.mean()) / std if std > 0 else np.nan


def _rank_fraction(w, now):
    return np.nan if np.isnan(now) else ((w < now).sum() + ((w == now).sum() + 1) / 2.0) / w.size


REFERENCES = {
    "rolling_sum": lambda w, _: w.sum(),
    "rolling_mean": lambda w, _: w.mean(),
    "rolling_std": _std,
    "rolling_max": lambda w, _: w.max(),
    "rolling_min": lambda w, _: w.min(),
    "rolling_rank_fraction": _rank_fraction,
}


@settings(max_examples=80, deadline=None)
@given(case=_case())
def test_rolling_kernels_match_a_plain_loop_per_group(case) -> None:
    x, key, window, min_samples = case
    bounds = kernels.group_bounds(key)
    for name, stat in REFERENCES.items():
        got = getattr(kernels, name)(x, bounds, window, min_samples)
        want = _reference(x, key, window, min_samples, stat)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=name)
    got = kernels.rolling_zscore(x, bounds, window, min_samples)
    want = _reference(x, key, window, min_samples, _zscore, lag=1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg="rolling_zscore")


@settings(max_examples=60, deadline=None)
@given(case=_case(), alpha=st.floats(0.01, 1.0))
def test_ewm_mean_matches_polars_adjust_false_ignore_nulls(case, alpha: float) -> None:
    x, key, _, _ = case
    frame = pl.DataFrame({"key": key, "x": x}).with_columns(pl.col("x").fill_nan(None))
    want = frame.select(
        pl.col("x").ewm_mean(alpha=alpha, adjust=False, ignore_nulls=True).over("key")
    ).to_series()
    got = kernels.ewm_mean(x, kernels.group_bounds(key), alpha)
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=_case(), cut_fraction=st.floats(0.0, 1.0))
def test_truncating_after_t_leaves_values_up_to_t_bit_identical(case, cut_fraction: float) -> None:
    x, key, window, min_samples = case
    cut = int(cut_fraction * (x.size - 1)) + 1
    full_bounds, cut_bounds = kernels.group_bounds(key), kernels.group_bounds(key[:cut])
    runs = [(name, (window, min_samples)) for name in (*REFERENCES, "rolling_zscore")]
    for name, params in [*runs, ("ewm_mean", (0.3,))]:
        kernel = getattr(kernels, name)
        full = kernel(x, full_bounds, *params)[:cut]
        truncated = kernel(x[:cut].copy(), cut_bounds, *params)
        np.testing.assert_array_equal(full, truncated, err_msg=name)


def test_kernel_expr_groups_by_the_key_column_and_returns_nulls_not_nan() -> None:
    frame = pl.LazyFrame({"key": [1, 1, 1, 2, 2, 2], "x": [1.0, None, 3.0, 10.0, 20.0, float("nan")]})
    got = frame.select(
        kernels.kernel_expr(kernels.rolling_sum, pl.col("x"), "key", 2, 1).alias("s")
    ).collect()["s"]
    # per key: 1, 1 (the missing value skipped), 3 | 10, 30, 20 (NaN counts as missing)
    assert got.to_list() == [1.0, 1.0, 3.0, 10.0, 30.0, 20.0]
    empty = frame.head(0).select(kernels.kernel_expr(kernels.rolling_sum, pl.col("x"), "key", 2, 1))
    assert empty.collect().height == 0
    undefined = frame.select(kernels.kernel_expr(kernels.rolling_std, pl.col("x"), "key", 3, 3)).collect()
    assert undefined.to_series().null_count() == 6 and undefined.to_series().is_nan().sum() == 0


def test_long_series_far_from_zero_keeps_its_moments_accurate() -> None:
    """Tens of thousands of add/remove steps on a level of 1e4 with a spread of 1e-3, seven orders of magnitude
    apart (log open interest is such a series): a drifting running sum or a wrong remove step would show
    here, where short random windows cannot reach it. Truth: a fresh two-pass mean/std of every window."""
    rng = np.random.default_rng(7)
    n, window = 30_000, 288
    x = 1e4 + rng.normal(0.0, 1e-3, n).cumsum() * 0.05 + rng.normal(0.0, 1e-3, n)
    x[rng.random(n) < 0.02] = np.nan
    bounds = kernels.group_bounds(np.zeros(n, dtype=np.int64))
    std = kernels.rolling_std(x, bounds, window, window // 2)
    zscore = kernels.rolling_zscore(x, bounds, window, window // 2)
    mean_ = kernels.rolling_mean(x - 1e4, bounds, window, window // 2)
    for t in range(window, n, 97):
        current = x[t - window + 1 : t + 1]
        current = current[~np.isnan(current)]
        previous = x[t - window : t]
        previous = previous[~np.isnan(previous)]
        np.testing.assert_allclose(std[t], current.std(ddof=1), rtol=1e-6)
        np.testing.assert_allclose(mean_[t], (current - 1e4).mean(), rtol=1e-6, atol=1e-9)
        if not np.isnan(x[t]):
            expected = (x[t] - previous.mean()) / previous.std(ddof=1)
            np.testing.assert_allclose(zscore[t], expected, rtol=1e-6, atol=1e-9)
