"""Stationary block bootstrap (Politis & Romano, 1994) of Sharpe ratio and maximum drawdown.

Resample ``b`` of a length-``T`` series is built from blocks with geometric lengths (mean
``mean_block_length`` = 1/p): each position starts a new block with probability ``p`` (the first always
does) at a uniform random index, and otherwise continues at the next index, wrapping circularly. All streams
share the same index arrays, so cross-stream dependence is kept. Index generation and the statistics are
vectorized over resamples and streams (NumPy gathers in chunks of resamples; no per-resample Python loop).

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


def block_lengths(new_block_flags: np.ndarray) -> np.ndarray:
    """Lengths of the blocks in a boolean block-start row (helper for tests and diagnostics)."""
    starts = np.flatnonzero(new_block_flags)
    return np.diff(np.append(starts, new_block_flags.size))


def sharpe_along_last_axis(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, x.mean(axis=-1) / np.where(std > 0, std, 1.0), np.nan)


def max_drawdown_along_last_axis(x: np.ndarray) -> np.ndarray:
    equity = np.cumsum(x, axis=-1)
    peak = np.maximum(np.maximum.accumulate(equity, axis=-1), 0.0)  # the curve starts at 0
    return (peak - equity).max(axis=-1)


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


def stationary_bootstrap(
    returns: np.ndarray,
    n_resamples: int,
    mean_block_length: float,
    seed: int,
    *,
    annualization: float = 1.0,
    chunk_elements: int = 20_000_000,
) -> BootstrapResult:
    """Bootstrap per-period Sharpe and max drawdown of ``returns`` ``(n_streams, n_obs)`` (or 1-D).

    ``annualization`` multiplies the Sharpe in :meth:`BootstrapResult.summary` (e.g. ``sqrt(365)`` for daily);
    the raw draws stay per-period. ``chunk_elements`` bounds the size of one gathered block of resamples.
    """
    r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    if not np.isfinite(r).all():
        raise ValueError("returns contain NaN/inf; fill flat periods with 0 explicitly before bootstrapping")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be >= 2, got {n_resamples}")
    n_streams, n_obs = r.shape
    rng = np.random.default_rng(seed)
    index = stationary_bootstrap_indices(n_obs, n_resamples, mean_block_length, rng)
    sharpe = np.empty((n_streams, n_resamples))
    drawdown = np.empty((n_streams, n_resamples))
    step = max(1, chunk_elements // (n_streams * n_obs))
    for lo in range(0, n_resamples, step):  # loop over memory-sized chunks, not over resamples
        block = r[:, index[lo : lo + step]]  # (n_streams, chunk, n_obs)
        sharpe[:, lo : lo + step] = sharpe_along_last_axis(block)
        drawdown[:, lo : lo + step] = max_drawdown_along_last_axis(block)
    return BootstrapResult(sharpe=sharpe, max_drawdown=drawdown, sharpe_scale=float(annualization))
