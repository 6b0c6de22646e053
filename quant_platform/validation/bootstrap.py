"""Stationary block bootstrap (Politis & Romano, 1994) of Sharpe ratio and maximum drawdown.

Resample ``b`` of a length-``T`` series is built from blocks with geometric lengths (mean
``mean_block_length`` = 1/p): each position starts a new block with probability ``p`` (the first always
does) at a uniform random index, and otherwise continues at the next index, wrapping circularly. All streams
share the same index arrays, so cross-stream dependence is kept. Index generation and the statistics are
vectorized over resamples and streams (no per-resample Python loop): the Sharpe through the resample count
matrix (one BLAS product), the drawdown by a time-major running pass over many series at once.

Max drawdown treats returns as additive (log returns, or P&L per unit of capital): the equity curve is the
cumulative sum starting at 0 and the drawdown is the largest fall from a running peak (a non-negative number).

No maintained scientific-Python package offers a seeded, multi-stream stationary bootstrap of these two
statistics (``arch.bootstrap.StationaryBootstrap`` resamples one dataset per Python-level iteration and is not
a dependency here), hence the hand-written index generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


def stationary_bootstrap_indices(
    n_obs: int, n_resamples: int, mean_block_length: float, rng: np.random.Generator
) -> np.ndarray:
    """``(n_resamples, n_obs)`` int index array of stationary-bootstrap resamples."""
    if n_obs < 2:
        raise ValueError(f"need at least 2 observations, got {n_obs}")
    if not mean_block_length >= 1.0:
        raise ValueError(f"mean_block_length must be >= 1, got {mean_block_length}")
    p = 1.0 / mean_block_length
    new_block = rng.random((n_resamples, n_obs)) < p
    new_block[:, 0] = True
    starts = rng.integers(0, n_obs, size=(n_resamples, n_obs))
    positions = np.broadcast_to(np.arange(n_obs), (n_resamples, n_obs))
    # Position of the most recent block start at or before t, and that block's random start index.
    last_start = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
    block_origin = np.take_along_axis(starts, last_start, axis=1)
    return (block_origin + (positions - last_start)) % n_obs


def sharpe_along_last_axis(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, x.mean(axis=-1) / np.where(std > 0, std, 1.0), np.nan)


def max_drawdown_along_last_axis(x: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Max drawdown of the additive equity curve ``cumsum(x)`` starting at 0 (``overwrite`` reuses ``x``)."""
    equity = np.cumsum(x, axis=-1, out=x if overwrite else None)
    peak = np.maximum.accumulate(equity, axis=-1)
    np.maximum(peak, 0.0, out=peak)  # the curve starts at 0
    np.subtract(peak, equity, out=peak)
    return peak.max(axis=-1)


def _running_bootstrap_drawdown(r: np.ndarray, index: np.ndarray, tile_elements: int) -> np.ndarray:
    """Max drawdown of every resample of every stream, ``(n_streams, n_resamples)``, equal bit for bit to
    :func:`max_drawdown_along_last_axis` on the gathered series.

    A cumulative sum or running max along a series is a chain of dependent operations (one add per few
    cycles). Here time is the outer loop instead: at each step the values of many (resample, stream) series
    are gathered as rows of the time-major returns, and equity, running peak (starting at 0) and drawdown
    are updated for all of them with independent vector operations. The additions happen in the same order
    as ``np.cumsum`` along each series and max/subtract are exact, so the numbers are identical; about 4x
    faster than gathering whole series. ``tile_elements`` bounds the series updated together (memory)."""
    n_streams, n_obs = r.shape
    n_resamples = index.shape[0]
    tile_streams = max(1, min(n_streams, tile_elements))
    tile_resamples = max(1, min(n_resamples, tile_elements // tile_streams))
    out = np.empty((n_streams, n_resamples))
    for s0 in range(0, n_streams, tile_streams):
        by_time = np.ascontiguousarray(r[s0 : s0 + tile_streams].T)  # (n_obs, streams): one row per step
        n_s = by_time.shape[1]
        for b0 in range(0, n_resamples, tile_resamples):
            steps = np.ascontiguousarray(index[b0 : b0 + tile_resamples].T)  # (n_obs, resamples)
            shape = (steps.shape[1], n_s)
            equity, peak, drawdown = np.zeros(shape), np.zeros(shape), np.zeros(shape)
            value, fall = np.empty(shape), np.empty(shape)  # scratch rows
            for t in range(n_obs):
                np.take(by_time, steps[t], axis=0, out=value)
                np.add(equity, value, out=equity)
                np.maximum(peak, equity, out=peak)  # peak starts at 0: the curve starts at 0
                np.subtract(peak, equity, out=fall)
                np.maximum(drawdown, fall, out=drawdown)
            out[s0 : s0 + n_s, b0 : b0 + shape[0]] = drawdown.T
    return out


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap draws: ``sharpe`` and ``max_drawdown`` are ``(n_streams, n_resamples)``."""

    sharpe: np.ndarray
    max_drawdown: np.ndarray
    sharpe_scale: float

    def summary(self, quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> pl.DataFrame:
        """One row per stream × statistic: mean, std, quantiles ``q05``…, and ``share_below_zero``."""
        frames = []
        for name, draws in (("sharpe", self.sharpe * self.sharpe_scale), ("max_drawdown", self.max_drawdown)):
            if np.isnan(draws).all():
                continue  # e.g. drawdown not requested
            qs = np.nanquantile(draws, quantiles, axis=1)  # (n_q, n_streams)
            columns = {
                "stream": np.arange(draws.shape[0], dtype=np.int64),
                "statistic": [name] * draws.shape[0],
                "mean": np.nanmean(draws, axis=1),
                "std": np.nanstd(draws, axis=1, ddof=1),
            }
            for q, values in zip(quantiles, qs, strict=True):
                columns[f"q{round(q * 100):02d}"] = values
            columns["share_below_zero"] = (draws < 0).mean(axis=1)
            frames.append(pl.DataFrame(columns))
        return pl.concat(frames)


def resample_counts(index: np.ndarray) -> np.ndarray:
    """``(n_resamples, n_obs)`` float matrix: how often each observation appears in each resample."""
    n_resamples, n_obs = index.shape
    flat = (np.arange(n_resamples)[:, None] * n_obs + index).ravel()
    return np.bincount(flat, minlength=n_resamples * n_obs).reshape(n_resamples, n_obs).astype(np.float64)


def bootstrap_sharpe_from_counts(returns: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of every resample of every stream, ``(n_streams, n_resamples)``.

    The mean and variance of a resample only depend on how often each observation is drawn, so the sums are
    one matrix product with the count matrix (BLAS), with no gather of the resampled series."""
    counts = resample_counts(index)
    n_obs = index.shape[1]
    total = returns @ counts.T
    total_sq = (returns * returns) @ counts.T
    mean = total / n_obs
    var = (total_sq - n_obs * mean * mean) / (n_obs - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, mean / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)


def stationary_bootstrap(
    returns: np.ndarray,
    n_resamples: int,
    mean_block_length: float,
    seed: int,
    *,
    annualization: float = 1.0,
    with_drawdown: bool = True,
    tile_elements: int = 1 << 18,
) -> BootstrapResult:
    """Bootstrap per-period Sharpe and max drawdown of ``returns`` ``(n_streams, n_obs)`` (or 1-D).

    Sharpe: count-matrix product (exact, BLAS speed). Max drawdown needs each resampled path in order: the
    drawdowns of up to ``tile_elements`` (resample, stream) series are advanced together one time step at a
    time (``with_drawdown=False`` skips it and leaves NaN). ``annualization`` multiplies the Sharpe in
    :meth:`BootstrapResult.summary` (e.g. ``sqrt(365)`` for daily returns); the raw draws stay per-period.
    """
    r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    if not np.isfinite(r).all():
        raise ValueError("returns contain NaN/inf; fill flat periods with 0 explicitly before bootstrapping")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be >= 2, got {n_resamples}")
    n_streams, n_obs = r.shape
    rng = np.random.default_rng(seed)
    index = stationary_bootstrap_indices(n_obs, n_resamples, mean_block_length, rng)
    sharpe = bootstrap_sharpe_from_counts(r, index)
    if with_drawdown:
        drawdown = _running_bootstrap_drawdown(r, index, tile_elements)
    else:
        drawdown = np.full((n_streams, n_resamples), np.nan)
    return BootstrapResult(sharpe=sharpe, max_drawdown=drawdown, sharpe_scale=float(annualization))
