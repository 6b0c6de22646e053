"""Small NumPy building blocks shared by the engine. Arrays are laid out ``(columns, bars)``."""

from __future__ import annotations

import numpy as np


def last_true_index(mask: np.ndarray) -> np.ndarray:
    """For each ``(k, t)``, the largest ``s <= t`` with ``mask[k, s]``, or -1 if there is none."""
    bars = np.arange(mask.shape[-1], dtype=np.int64)
    return np.maximum.accumulate(np.where(mask, bars, -1), axis=-1)


def forward_fill(values: np.ndarray, valid: np.ndarray, initial: float = 0.0) -> np.ndarray:
    """Carry the last ``valid`` value forward along the bar axis; ``initial`` before the first valid one.

    When every value is valid the input itself is returned (callers treat the result as read-only).
    """
    if valid.all():
        return values
    idx = last_true_index(valid)
    out = np.take_along_axis(values, np.maximum(idx, 0), axis=-1)
    out[idx < 0] = initial
    return out


def prefix_sums_at(values: np.ndarray, at: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """``sum(values[:i])`` for each ``i`` of the sorted ``at`` (``0 <= i <= len(values)``), with the bits of
    ``np.cumsum`` (a sequential sum) but without its full-length array: the running total is carried from one
    cache-sized block to the next by adding it to the block's first value, which is the very addition
    ``np.cumsum`` makes there."""
    n = values.shape[0]
    out = np.zeros(at.shape[0])
    if n == 0:
        return out
    buf = np.empty(min(block, n))
    starts = np.arange(0, n, block)
    # block b holds the sums up to bars starts[b] .. starts[b] + block - 1, i.e. queries i in (start, start+block]
    cuts = np.searchsorted(at, np.r_[starts, n] + 1, side="left")
    carry = 0.0
    for b, lo in enumerate(starts.tolist()):
        part = buf[: min(block, n - lo)]
        np.copyto(part, values[lo : lo + part.shape[0]])
        if lo:
            part[0] += carry
        np.cumsum(part, out=part)
        carry = part[-1]
        out[cuts[b] : cuts[b + 1]] = part[at[cuts[b] : cuts[b + 1]] - 1 - lo]
    return out


def shift_bars(values: np.ndarray, lag: int, fill: float = 0.0) -> np.ndarray:
    """``out[:, t] = values[:, t - lag]`` (``fill`` for ``t < lag``)."""
    out = np.full_like(values, fill, dtype=np.float64)
    n_bars = values.shape[-1]
    if lag < n_bars:
        out[..., lag:] = values[..., : n_bars - lag]
    return out


def expand_segments(
    column: np.ndarray, bar: np.ndarray, value: np.ndarray, n_columns: int, n_bars: int, initial: float = 0.0
) -> np.ndarray:
    """Dense ``(n_columns, n_bars)`` step function: ``initial`` from each column's start, ``value[i]`` from
    ``(column[i], bar[i])`` until the next change point (k-major sorted; of equal points the last wins).

    Built with ``np.repeat`` so each held value is copied exactly (no cumulative-sum drift: a flat
    position is exactly 0).
    """
    starts = np.arange(n_columns, dtype=np.int64) * n_bars
    keys = column.astype(np.int64) * n_bars + bar
    if keys.size < 2 or (keys[1:] >= keys[:-1]).all():
        # already sorted (the usual case): merge each column's start in front of its first point, which is
        # where a stable sort of [starts, keys] puts it, without sorting
        at = np.searchsorted(keys, starts, side="left")
        all_keys = np.insert(keys, at, starts)
        all_values = np.insert(np.asarray(value, dtype=np.float64), at, initial)
    else:
        all_keys = np.concatenate([starts, keys])
        all_values = np.concatenate([np.full(n_columns, initial), value])
        order = np.argsort(all_keys, kind="stable")
        all_keys, all_values = all_keys[order], all_values[order]
    lengths = np.diff(all_keys, append=n_columns * n_bars)
    return np.repeat(all_values, lengths).reshape(n_columns, n_bars)


def as_columns(array: np.ndarray, name: str, n_bars: int | None = None) -> np.ndarray:
    """``[T]`` or ``[T, K]`` user array → float64 ``(K, T)`` C-contiguous (``K = 1`` for ``[T]``)."""
    arr = np.asarray(array)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D [T] or 2-D [T, K], got shape {arr.shape}")
    if n_bars is not None and arr.shape[0] != n_bars:
        raise ValueError(f"{name} has {arr.shape[0]} bars, expected {n_bars}")
    return np.ascontiguousarray(arr.T, dtype=np.float64)


def row_sum(values: np.ndarray) -> np.ndarray:
    """Sum of each row, computed row by row.

    ``values.sum(axis=1)`` may accumulate in a different order depending on the number of rows, which would
    make a sweep's results depend on its block size in the last bits; one 1-D reduction per row does not.
    """
    return np.array([row.sum() for row in values], dtype=np.float64)


def row_mean(values: np.ndarray) -> np.ndarray:
    return row_sum(values) / values.shape[1] if values.shape[1] else np.full(values.shape[0], np.nan)


def row_std(values: np.ndarray, ddof: int = 1) -> np.ndarray:
    """Sample standard deviation of each row (NaN with fewer than ``ddof + 1`` values)."""
    n = values.shape[1]
    if n <= ddof:
        return np.full(values.shape[0], np.nan)
    return np.array([row.std(ddof=ddof) for row in values], dtype=np.float64)
