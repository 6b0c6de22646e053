"""Compiled kernels for context_features: one sequential pass per cross-section or per symbol segment.

Conventions: missing values come in and go out as NaN (the caller maps null to NaN and back). A symbol is a
contiguous segment ``[start, end)`` of rows sorted by (symbol, ts); a trailing window of ``w`` rows at row
``t`` covers the segment's rows ``t-w+1..t`` (rows, not time: a gap row counts, as in Polars' row-based
``rolling_*``), and ``min_samples`` counts the valid values inside it. Every value at a row is computed from
rows at or before it, by additions in row order, so a truncated frame gives exactly the same past values.

``nogil=True`` lets callers run kernels from several threads; no ``parallel=True``: numba's workqueue
threading layer aborts when it is entered concurrently (e.g. from Polars' thread pool).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def cross_section_moments(
    values: np.ndarray, time_index: np.ndarray, n_times: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per timestamp: count of valid values, their sum and their sample standard deviation (ddof 1, NaN with
    fewer than two). Values are added in row order, which on a (symbol, ts)-sorted frame is symbol order, the
    same for every run whatever its length."""
    count = np.zeros(n_times, np.int64)
    total = np.zeros(n_times)
    for i in range(values.shape[0]):
        v = values[i]
        if v == v:
            t = time_index[i]
            count[t] += 1
            total[t] += v
    mean = np.empty(n_times)
    for t in range(n_times):
        mean[t] = total[t] / count[t] if count[t] > 0 else np.nan
    squares = np.zeros(n_times)  # two passes: deviations from the mean, no E[x^2] - E[x]^2 cancellation
    for i in range(values.shape[0]):
        v = values[i]
        if v == v:
            t = time_index[i]
            d = v - mean[t]
            squares[t] += d * d
    std = np.empty(n_times)
    for t in range(n_times):
        std[t] = math.sqrt(squares[t] / (count[t] - 1)) if count[t] > 1 else np.nan
    return count, total, std


@numba.njit(nogil=True, cache=True, inline="always")
def _add(total: float, compensation: float, value: float) -> tuple[float, float]:
    """Neumaier-compensated ``total + value`` (``compensation`` carries the lost low-order part): running
    window sums over tens of thousands of additions and removals stay as exact as a fresh sum of the window."""
    new_total = total + value
    if abs(total) >= abs(value):
        compensation += (total - new_total) + value
    else:
        compensation += (value - new_total) + total
    return new_total, compensation


@numba.njit(nogil=True, cache=True, inline="always")
def _clip_unit(value: float) -> float:
    """``value`` clipped to [-1, 1] (round-off can step just outside a correlation's range); NaN stays NaN."""
    if value > 1.0:
        return 1.0
    if value < -1.0:
        return -1.0
    return value


@numba.njit(nogil=True, cache=True)
def _corr_beta_segment(
    x: np.ndarray,
    y: np.ndarray,
    start: int,
    end: int,
    window: int,
    min_samples: int,
    corr_warmup: int,
    beta_warmup: int,
    corr: np.ndarray,
    beta: np.ndarray,
    beta_offset: int,
) -> None:
    """Trailing Pearson correlation and beta (cov / var(y)) of x on y over rows where both are valid, from
    running window sums of x, y, xy, x^2, y^2 (moments divided by the pair count, as population moments).
    Row i's beta goes to ``beta[i - beta_offset]`` (a segment-sized scratch array where it is not wanted)."""
    n = 0
    # compensated running sums (s_*) and their compensations (c_*), scalars so that they stay in registers
    s_x = s_y = s_xy = s_xx = s_yy = 0.0
    c_x = c_y = c_xy = c_xx = c_yy = 0.0
    for i in range(start, end):
        a, b = x[i], y[i]
        if a == a and b == b:
            n += 1
            s_x, c_x = _add(s_x, c_x, a)
            s_y, c_y = _add(s_y, c_y, b)
            s_xy, c_xy = _add(s_xy, c_xy, a * b)
            s_xx, c_xx = _add(s_xx, c_xx, a * a)
            s_yy, c_yy = _add(s_yy, c_yy, b * b)
        old = i - window
        if old >= start:
            a, b = x[old], y[old]
            if a == a and b == b:
                n -= 1
                if n == 0:  # restart the sums exactly instead of carrying round-off through an empty window
                    s_x = s_y = s_xy = s_xx = s_yy = 0.0
                    c_x = c_y = c_xy = c_xx = c_yy = 0.0
                else:
                    s_x, c_x = _add(s_x, c_x, -a)
                    s_y, c_y = _add(s_y, c_y, -b)
                    s_xy, c_xy = _add(s_xy, c_xy, -a * b)
                    s_xx, c_xx = _add(s_xx, c_xx, -a * a)
                    s_yy, c_yy = _add(s_yy, c_yy, -b * b)
        corr[i] = np.nan
        beta[i - beta_offset] = np.nan
        position = i - start
        if n < min_samples or n == 0 or (position < corr_warmup and position < beta_warmup):
            continue
        mean_x, mean_y = (s_x + c_x) / n, (s_y + c_y) / n
        cov = (s_xy + c_xy) / n - mean_x * mean_y
        var_x = (s_xx + c_xx) / n - mean_x * mean_x
        var_y = (s_yy + c_yy) / n - mean_y * mean_y
        if var_x > 0 and var_y > 0 and position >= corr_warmup:
            corr[i] = _clip_unit(cov / math.sqrt(var_x * var_y))
        if var_y > 0 and position >= beta_warmup:
            beta[i - beta_offset] = cov / var_y


@numba.njit(nogil=True, cache=True)
def _shifted_std_segment(
    x: np.ndarray, start: int, end: int, lag: int, window: int, min_samples: int, out: np.ndarray
) -> None:
    """Sample std (ddof 1) of x over the ``window`` rows ending ``lag`` rows before each row (written to
    ``out[i - start]``, a segment-sized scratch array), from compensated
    running sums of x and x^2 (no division in the loop-carried chain, unlike Welford updates); NaN with fewer
    than ``min_samples`` (or two) valid values."""
    n = 0
    s_x = s_xx = c_x = c_xx = 0.0
    for i in range(start, end):
        new = i - lag
        if new >= start:
            v = x[new]
            if v == v:
                n += 1
                s_x, c_x = _add(s_x, c_x, v)
                s_xx, c_xx = _add(s_xx, c_xx, v * v)
            old = new - window
            if old >= start:
                v = x[old]
                if v == v:
                    n -= 1
                    if n == 0:
                        s_x = s_xx = c_x = c_xx = 0.0
                    else:
                        s_x, c_x = _add(s_x, c_x, -v)
                        s_xx, c_xx = _add(s_xx, c_xx, -v * v)
        out[i - start] = np.nan
        if n >= min_samples and n > 1:
            total = s_x + c_x
            variance = ((s_xx + c_xx) - total * total / n) / (n - 1)
            out[i - start] = math.sqrt(max(variance, 0.0))


@numba.njit(nogil=True, cache=True)
def symbol_context(
    ret: np.ndarray,
    market: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    corr_short: tuple[int, int, int],
    corr_long: tuple[int, int, int],
    beta_warmup: int,
    residual_warmup: int,
    residual_z: tuple[int, int, int],
    residual_cum: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per symbol segment, against the leave-one-out market ``market``: the short and long correlation, the
    long beta, the residual ``ret_t - beta_{t-1} * market_t``, its z-score against the previous rows' std and
    the z-score of its ``horizon``-row sum against the std of the rows before that sum.

    ``corr_*`` and ``residual_z`` are ``(window, min_samples, warmup)``, ``residual_cum`` is
    ``(window, min_samples, warmup, horizon)``; the beta shares the long correlation's window with its own
    warm-up. A row whose position in its segment is below its feature's warm-up is NaN.
    """
    n = ret.shape[0]
    corr_s, corr_l, beta_l = np.empty(n), np.empty(n), np.empty(n)
    residual, z, cum_z = np.empty(n), np.empty(n), np.empty(n)
    longest = int((ends - starts).max()) if starts.shape[0] else 0
    # segment-sized scratch (the short window's unused beta, the two trailing stds), not three more columns
    unused = np.empty(longest)
    std_prev, std_before_sum = np.empty(longest), np.empty(longest)
    z_window, z_min, z_warmup = residual_z
    c_window, c_min, c_warmup, horizon = residual_cum
    root_horizon = math.sqrt(horizon)
    for k in range(starts.shape[0]):
        start, end = starts[k], ends[k]
        _corr_beta_segment(
            ret,
            market,
            start,
            end,
            corr_short[0],
            corr_short[1],
            corr_short[2],
            corr_short[2],
            corr_s,
            unused,
            start,
        )
        _corr_beta_segment(
            ret, market, start, end, corr_long[0], corr_long[1], corr_long[2], beta_warmup, corr_l, beta_l, 0
        )
        residual[start] = np.nan  # beta_{t-1} does not exist at the segment's first row
        for i in range(start + 1, end):
            if i - start < residual_warmup:
                residual[i] = np.nan
            else:
                residual[i] = ret[i] - beta_l[i - 1] * market[i]
        _shifted_std_segment(residual, start, end, 1, z_window, z_min, std_prev)
        _shifted_std_segment(residual, start, end, horizon, c_window, c_min, std_before_sum)
        for i in range(start, end):
            position = i - start
            z[i] = np.nan
            if position >= z_warmup and std_prev[position] > 0:
                z[i] = residual[i] / std_prev[position]
            cum_z[i] = np.nan
            if position >= c_warmup and position + 1 >= horizon and std_before_sum[position] > 0:
                total = 0.0  # a plain sum of the last ``horizon`` rows: NaN if any of them is missing
                for j in range(i - horizon + 1, i + 1):
                    total += residual[j]
                cum_z[i] = total / (std_before_sum[position] * root_horizon)
    return corr_s, corr_l, beta_l, residual, z, cum_z


@numba.njit(nogil=True, cache=True)
def leave_one_out_market(
    ret: np.ndarray, time_index: np.ndarray, count: np.ndarray, total: np.ndarray, min_other_symbols: int
) -> np.ndarray:
    """Mean ret of the other valid symbols at each row's bar, from the bar's valid ``count`` and ``total``:
    (total - own) / (count - 1), or total / count when the row's own return is missing; NaN with fewer than
    ``max(min_other_symbols, 1)`` others."""
    out = np.empty(ret.shape[0])
    least = max(min_other_symbols, 1)
    for i in range(ret.shape[0]):
        t = time_index[i]
        own = ret[i]
        if own == own:
            others = count[t] - 1
            rest = total[t] - own
        else:
            others = count[t]
            rest = total[t]
        out[i] = rest / others if others >= least else np.nan
    return out


@numba.njit(nogil=True, cache=True)
def pairwise_correlation(
    ret: np.ndarray,
    time_index: np.ndarray,
    column: np.ndarray,
    n_times: int,
    n_symbols: int,
    window: int,
    min_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Trailing average pairwise correlation of the symbols' returns and each symbol's average correlation
    to the others, from window moments of each symbol and of the bar's sum S, without forming the N x N pairs
    (O(N) per bar).

    With window variances v_i, volatilities s_i and S = sum_i x_i: var(S) - sum v_i = sum_{i!=j} s_i s_j rho_ij,
    so ``(var(S) - sum v) / ((sum s)^2 - sum v)`` is the average of the pairwise correlations weighted by
    s_i s_j (the realised form of the CBOE implied-correlation formula), and ``(cov(x_i, S) - v_i) /
    (s_i (sum s - s_i))`` is symbol i's average correlation to the others weighted by s_j. Both are exact
    identities; with equal volatilities they are the plain averages. The window counts only bars where every
    symbol of the frame has a return (a pair's window never mixes different bars).

    Rows are scattered to a bars x symbols matrix by (``time_index``, ``column``) (a later duplicate cell
    wins); only complete bars (every symbol valid, at least two symbols) enter the windows, the others count
    as zeros outside the window's bar count. Window sums are differences of running cumulative sums (the sum
    up to t minus the sum up to t - window, each added in bar order), so a truncated run gives the same
    values. Returns both statistics gathered back to the rows, NaN where undefined."""
    x = np.full((n_times, n_symbols), np.nan)
    for i in range(ret.shape[0]):
        x[time_index[i], column[i]] = ret[i]
    complete = np.zeros(n_times, np.bool_)
    total = np.zeros(n_times)
    for t in range(n_times):
        whole = n_symbols >= 2
        for j in range(n_symbols):
            if x[t, j] != x[t, j]:
                whole = False
                break
        complete[t] = whole
        if not whole:
            x[t, :] = 0.0
        row_sum = 0.0
        for j in range(n_symbols):
            row_sum += x[t, j]
        total[t] = row_sum
    avg_pair = np.full(n_times, np.nan)
    to_others = np.full((n_times, n_symbols), np.nan)
    # running cumulative sums up to t (cum_*) and up to t - window (lag_*) per symbol: x, x^2, x * S
    cum = np.zeros((3, n_symbols))
    lag = np.zeros((3, n_symbols))
    var = np.empty(n_symbols)
    cov_total = np.empty(n_symbols)
    cum_count = lag_count = cum_total = lag_total = cum_total2 = lag_total2 = 0.0
    for t in range(n_times):
        s = total[t]
        cum_count += 1.0 if complete[t] else 0.0
        cum_total += s
        cum_total2 += s * s
        for j in range(n_symbols):
            v = x[t, j]
            cum[0, j] += v
            cum[1, j] += v * v
            cum[2, j] += v * s
        old = t - window
        if old >= 0:
            s_old = total[old]
            lag_count += 1.0 if complete[old] else 0.0
            lag_total += s_old
            lag_total2 += s_old * s_old
            for j in range(n_symbols):
                v = x[old, j]
                lag[0, j] += v
                lag[1, j] += v * v
                lag[2, j] += v * s_old
        count = cum_count - lag_count
        if count < min_samples or count <= 0:
            continue
        mean_total = (cum_total - lag_total) / count
        var_total = (cum_total2 - lag_total2) / count - mean_total * mean_total
        sum_var = sum_vol = 0.0
        for j in range(n_symbols):
            mean_x = (cum[0, j] - lag[0, j]) / count
            var[j] = max((cum[1, j] - lag[1, j]) / count - mean_x * mean_x, 0.0)
            cov_total[j] = (cum[2, j] - lag[2, j]) / count - mean_x * mean_total
            sum_var += var[j]
            sum_vol += math.sqrt(var[j])
        pair_denominator = sum_vol * sum_vol - sum_var
        if pair_denominator > 0:
            avg_pair[t] = _clip_unit((var_total - sum_var) / pair_denominator)
        for j in range(n_symbols):
            vol = math.sqrt(var[j])
            others_denominator = vol * (sum_vol - vol)
            if others_denominator > 0:
                to_others[t, j] = _clip_unit((cov_total[j] - var[j]) / others_denominator)
    pair_rows = np.empty(ret.shape[0])
    others_rows = np.empty(ret.shape[0])
    for i in range(ret.shape[0]):
        pair_rows[i] = avg_pair[time_index[i]]
        others_rows[i] = to_others[time_index[i], column[i]]
    return pair_rows, others_rows
