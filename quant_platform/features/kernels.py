"""Compiled group-wise rolling kernels behind the costly ``features_v1`` builders.

Why hand-written: Polars runs every rolling op as its own pass with a group gather per ``.over(...)``, and
has no fused z-score (mean and std of the *previous* window in one pass) and no sub-linear exact rolling
rank. One numba loop per group does each feature in a single pass: the z-score as Welford add/remove
moments, sums Kahan-compensated (both as pandas' ``roll_var`` / ``roll_sum``), min/max with a monotonic
deque, the average rank with a Fenwick tree over the group's compressed values, EWMA recursions restarted
per group.

Conventions of every kernel: ``x`` is float64 with NaN for a missing value (a NaN produced upstream counts
as missing too, like a null: no feature input yields one by construction, e.g. logs are of positive values); ``bounds`` holds the group
start offsets of the sorted column plus its length (see :func:`group_bounds`); a window is ``window``
rows, missing values are skipped and ``min_samples`` non-missing values are required; the output is NaN
where undefined. A value at row t reads only rows of its own group up to t, left to right, so truncating the
column after t leaves it bit-identical.

Kernels are ``nogil`` (Polars may run several at once on its threads) and never ``parallel``: numba's
default threading layer aborts when entered concurrently from foreign threads.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import polars as pl

_jit = numba.njit(nogil=True, cache=True)


def group_bounds(key: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal ``key`` followed by its length. ``key`` must give every group its own
    id (the running-count ids ``_symbol_key`` / ``_segment_key`` do): two adjacent groups sharing an id would
    be read as one."""
    n = key.size
    changes = np.flatnonzero(key[1:] != key[:-1]) + 1
    return np.concatenate(([0], changes, [n])).astype(np.int64) if n else np.zeros(1, np.int64)


# --- running moments (pandas' roll_sum / roll_var add and remove steps) ----------------------------------
@_jit
def _rolling_sum_group(x, out, lo, hi, window, min_samples, mean):
    nobs = 0
    total = 0.0
    compensation = 0.0
    same_run = 0  # consecutive equal values added last: a constant window's mean is that value exactly
    previous = np.nan
    for t in range(lo, hi):
        v = x[t]
        if v == v:
            nobs += 1
            y = v - compensation
            s = total + y
            compensation = s - total - y
            total = s
            if v == previous:
                same_run += 1
            else:
                same_run = 1
                previous = v
        if t - window >= lo:
            v = x[t - window]
            if v == v:
                nobs -= 1
                if nobs == 0:  # nothing left: drop the round-off residue too
                    total = 0.0
                    compensation = 0.0
                else:
                    y = -v - compensation
                    s = total + y
                    compensation = s - total - y
                    total = s
        if nobs >= min_samples and nobs > 0:
            if not mean:
                out[t] = total
            elif same_run >= nobs:
                out[t] = previous
            else:
                out[t] = total / nobs
        else:
            out[t] = np.nan


@_jit
def rolling_sum(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _rolling_sum_group(x, out, bounds[g], bounds[g + 1], window, min_samples, False)
    return out


@_jit
def rolling_mean(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _rolling_sum_group(x, out, bounds[g], bounds[g + 1], window, min_samples, True)
    return out


@_jit
def _moments_group(x, out, lo, hi, window, min_samples, zscore):
    """Sample std (ddof=1) of the window ending at t, or with ``zscore`` the z-score of x_t against the
    mean and std of the previous window t-window..t-1 (the window ending at t-1). The moments run on values
    shifted by the group's first valid value (an earlier row, so point-in-time), which keeps x_t - mean
    accurate for series far from zero with a small spread (e.g. log open interest)."""
    lag = 1 if zscore else 0
    shift = 0.0
    for t in range(lo, hi):
        if x[t] == x[t]:
            shift = x[t]
            break
    nobs = 0
    mean = 0.0
    ssqdm = 0.0
    same_run = 0
    previous = np.nan
    for t in range(lo, hi):
        newest = t - lag
        if newest >= lo:
            v = x[newest] - shift
            if v == v:
                nobs += 1
                delta = v - mean
                mean += delta / nobs
                ssqdm += ((nobs - 1) * delta * delta) / nobs
                if v == previous:
                    same_run += 1
                else:
                    same_run = 1
                    previous = v
            if newest - window >= lo:
                v = x[newest - window] - shift
                if v == v:
                    nobs -= 1
                    if nobs:
                        delta = v - mean
                        mean -= delta / nobs
                        ssqdm -= ((nobs + 1) * delta * delta) / nobs
                    else:
                        mean = 0.0
                        ssqdm = 0.0
        result = np.nan
        if nobs >= min_samples and nobs > 1:
            var = 0.0 if same_run >= nobs else max(ssqdm / (nobs - 1), 0.0)
            if not zscore:
                result = np.sqrt(var)
            elif var > 0.0:  # a constant previous window leaves the z-score undefined
                result = (x[t] - shift - mean) / np.sqrt(var)  # NaN when x_t is missing
        out[t] = result


@_jit
def rolling_std(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _moments_group(x, out, bounds[g], bounds[g + 1], window, min_samples, False)
    return out


@_jit
def rolling_zscore(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _moments_group(x, out, bounds[g], bounds[g + 1], window, min_samples, True)
    return out


# --- order statistics -------------------------------------------------------------------------------------
@_jit
def _rank_fraction_group(x, out, lo, hi, window, min_samples):
    """Average rank of x_t among the window's values (itself counted) over their count. Values are coded
    by their order within the whole group; the counts read back are exact integers, so a later row (which
    only changes codes, never the order) cannot change an earlier result."""
    m = hi - lo
    values = x[lo:hi]
    order = np.argsort(values)  # NaN last
    code = np.empty(m, np.int64)
    distinct = 0
    last = np.nan
    for j in range(m):
        v = values[order[j]]
        if v != v:
            code[order[j]] = 0
        else:
            if distinct == 0 or v != last:
                distinct += 1
                last = v
            code[order[j]] = distinct
    tree = np.zeros(distinct + 1, np.int64)  # Fenwick tree of counts per code in the window
    count = np.zeros(distinct + 1, np.int64)
    nobs = 0
    for i in range(m):
        k = code[i]
        if k > 0:
            j = k
            while j <= distinct:
                tree[j] += 1
                j += j & (-j)
            count[k] += 1
            nobs += 1
        if i - window >= 0:
            k_old = code[i - window]
            if k_old > 0:
                j = k_old
                while j <= distinct:
                    tree[j] -= 1
                    j += j & (-j)
                count[k_old] -= 1
                nobs -= 1
        if k > 0 and nobs >= min_samples:
            less = 0
            j = k - 1
            while j > 0:
                less += tree[j]
                j -= j & (-j)
            out[lo + i] = (less + (count[k] + 1) / 2.0) / nobs
        else:
            out[lo + i] = np.nan


@_jit
def rolling_rank_fraction(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _rank_fraction_group(x, out, bounds[g], bounds[g + 1], window, min_samples)
    return out


@_jit
def _extreme_group(x, out, lo, hi, window, min_samples, is_max):
    deque = np.empty(hi - lo, np.int64)  # row indices whose values are monotonic from head to tail
    head = 0
    tail = 0
    nobs = 0
    for t in range(lo, hi):
        v = x[t]
        if v == v:
            nobs += 1
            while tail > head and (x[deque[tail - 1]] <= v if is_max else x[deque[tail - 1]] >= v):
                tail -= 1
            deque[tail] = t
            tail += 1
        if t - window >= lo:
            if x[t - window] == x[t - window]:
                nobs -= 1
            if tail > head and deque[head] <= t - window:
                head += 1
        out[t] = x[deque[head]] if nobs >= min_samples and nobs > 0 else np.nan


@_jit
def rolling_max(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _extreme_group(x, out, bounds[g], bounds[g + 1], window, min_samples, True)
    return out


@_jit
def rolling_min(x, bounds, window, min_samples):
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        _extreme_group(x, out, bounds[g], bounds[g + 1], window, min_samples, False)
    return out


# --- recursions -------------------------------------------------------------------------------------------
@_jit
def ewm_mean(x, bounds, alpha):
    """y_t = (1 - alpha) y_prev + alpha x_t over the group's non-missing values (Polars' ``ewm_mean`` with
    ``adjust=False, ignore_nulls=True``): the first value starts it, missing rows stay missing."""
    out = np.empty_like(x)
    for g in range(bounds.size - 1):
        state = np.nan
        for t in range(bounds[g], bounds[g + 1]):
            v = x[t]
            if v != v:
                out[t] = np.nan
                continue
            state = v if state != state else (1.0 - alpha) * state + alpha * v
            out[t] = state
    return out


# --- Polars glue -------------------------------------------------------------------------------------------
Kernel = Callable[..., np.ndarray]


def kernel_expr(kernel: Kernel, values: pl.Expr, group: str, *params: int | float) -> pl.Expr:
    """``kernel`` on the whole column of ``values`` grouped by the sorted id column ``group``: nulls go in as
    NaN and come out as null (so no NaN leaks into a feature). Runs on the full column (not elementwise),
    keeping the surrounding plan lazy."""

    def run(batch: pl.Series) -> pl.Series:
        key = batch.struct.field("group").to_numpy()
        # null -> NaN: filling first and then viewing the buffer is ~5x faster than to_numpy's own conversion
        x = batch.struct.field("values").cast(pl.Float64).fill_null(np.nan).to_numpy()
        out = kernel(np.ascontiguousarray(x, dtype=np.float64), group_bounds(key), *params)
        return pl.Series(values=out, dtype=pl.Float64, nan_to_null=True)

    return pl.struct(pl.col(group).alias("group"), values.alias("values")).map_batches(
        run, return_dtype=pl.Float64
    )
