"""Validation benchmarks: CPCV path Sharpes and the stationary block bootstrap, each against a straightforward
reference implementation measured in the same run (ratio > 1 means the library is faster).

1. ``cpcv_path_sharpe``: CPCV with N=10 groups, k=2 test groups (45 splits, 9 paths), embargo 288 bars,
   over a 5-year 5-minute series (525,600 samples) for 1,000 candidate return streams: per split the
   direction is fitted on the purged/embargoed training samples, every stream gets its 9 path Sharpes.
   The streams are processed in chunks of 50 (memory); one chunk of 50 seeded streams is generated once and
   evaluated 20 times (the library keeps no state between calls, so each pass does the full work).
   Reference: Python loop over splits and streams (mean of the training gather, sign × test gather), then
   the per-path series assembled with ``assemble_path_returns`` and a Sharpe per path; run on a subset of
   streams and scaled linearly to 1,000 (stated in the metric name). Results are checked equal first.
2. ``bootstrap_sharpe``: stationary bootstrap (mean block 5 days) with 10,000 resamples of 1,000 daily
   streams of 5 years (1,826 days), Sharpe per resample. Reference: loop per stream and per resample
   (index generation vectorized per resample, then a gather and mean/std), subset scaled to the full count.
3. ``bootstrap_sharpe_and_drawdown``: the same with the max drawdown too, on 100 streams (the drawdown needs
   each resampled path in order, so it is bound by gathering 10,000 × 1,826 values per stream).
``--quick`` shrinks every size.
"""

from __future__ import annotations

import time

import numpy as np

from bench.common import best_of, isolated, row
from quant_platform.validation.bootstrap import (
    max_drawdown_along_last_axis,
    stationary_bootstrap,
    stationary_bootstrap_indices,
)
from quant_platform.validation.cpcv import CombinatorialPurgedKFold, assemble_path_returns, cpcv_path_sharpes

N_GROUPS, N_TEST_GROUPS, EMBARGO_BARS = 10, 2, 288
MEAN_BLOCK_DAYS = 5.0


def _stream_chunk(n_streams: int, n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0, 2e-5, size=(n_streams, 1))
    return drift + rng.normal(0.0, 1e-3, size=(n_streams, n_samples))


def _cpcv_fast(chunk: np.ndarray, n_chunks: int, cv: CombinatorialPurgedKFold) -> np.ndarray:
    out = None
    for _ in range(n_chunks):
        out = cpcv_path_sharpes(chunk, cv)
    return out


def _cpcv_reference(returns: np.ndarray, cv: CombinatorialPurgedKFold, splits: list) -> np.ndarray:
    n_streams, n = returns.shape
    per_split = []
    for train, test in splits:
        oos = np.empty((n_streams, test.size))
        for s in range(n_streams):
            oos[s] = np.sign(returns[s, train].mean()) * returns[s, test]
        per_split.append(oos)
    paths = assemble_path_returns(cv, n, per_split)
    result = np.empty((n_streams, cv.n_paths))
    for p in range(cv.n_paths):
        for s in range(n_streams):
            x = paths[p, s]
            result[s, p] = x.mean() / x.std(ddof=1)
    return result


def _cpcv_job(n_samples: int, chunk_streams: int, n_chunks: int) -> None:
    cv = CombinatorialPurgedKFold(N_GROUPS, N_TEST_GROUPS, embargo=EMBARGO_BARS)
    _cpcv_fast(_stream_chunk(chunk_streams, n_samples, 1), n_chunks, cv)


def _bootstrap_reference(returns: np.ndarray, n_resamples: int, seed: int, with_drawdown: bool) -> None:
    n_streams, n_obs = returns.shape
    rng = np.random.default_rng(seed)
    for s in range(n_streams):
        for _ in range(n_resamples):
            index = stationary_bootstrap_indices(n_obs, 1, MEAN_BLOCK_DAYS, rng)[0]
            x = returns[s, index]
            _ = x.mean() / x.std(ddof=1)
            if with_drawdown:
                equity = np.cumsum(x)
                _ = (np.maximum(np.maximum.accumulate(equity), 0.0) - equity).max()


def _bootstrap_job(n_streams: int, n_obs: int, n_resamples: int, with_drawdown: bool) -> None:
    stationary_bootstrap(
        _stream_chunk(n_streams, n_obs, 2) * 10, n_resamples, MEAN_BLOCK_DAYS, 3, with_drawdown=with_drawdown
    )


def _check_bootstrap_exact(returns: np.ndarray) -> None:
    """The vectorized statistics equal a per-resample loop on the same index array."""
    result = stationary_bootstrap(returns, 20, MEAN_BLOCK_DAYS, 5)
    index = stationary_bootstrap_indices(returns.shape[1], 20, MEAN_BLOCK_DAYS, np.random.default_rng(5))
    for b in range(20):
        x = returns[:, index[b]]
        np.testing.assert_allclose(result.sharpe[:, b], x.mean(axis=1) / x.std(axis=1, ddof=1), rtol=1e-9)
        np.testing.assert_allclose(
            result.max_drawdown[:, b], max_drawdown_along_last_axis(x.copy()), rtol=1e-9
        )


def run(quick: bool = False) -> list[dict]:
    rows: list[dict] = []
    # --- CPCV ------------------------------------------------------------------------------------------------
    n_samples = 52_560 if quick else 525_600
    n_streams, chunk_streams = (100, 50) if quick else (1_000, 50)
    n_chunks = n_streams // chunk_streams
    ref_streams = 2 if quick else 3
    cv = CombinatorialPurgedKFold(N_GROUPS, N_TEST_GROUPS, embargo=EMBARGO_BARS)
    chunk = _stream_chunk(chunk_streams, n_samples, 1)
    splits = list(cv.split(np.empty(n_samples)))
    fast_one = cpcv_path_sharpes(chunk[:ref_streams], cv)
    start = time.perf_counter()
    ref = _cpcv_reference(chunk[:ref_streams], cv, splits)
    ref_seconds = (time.perf_counter() - start) * n_streams / ref_streams
    np.testing.assert_allclose(fast_one, ref, rtol=1e-8, atol=1e-12)
    fast_seconds, _ = best_of(lambda: _cpcv_fast(chunk, n_chunks, cv), repeat=1 if not quick else 2)
    _, peak = isolated(_cpcv_job, n_samples, chunk_streams, n_chunks)
    rows.append(
        row(
            "validation",
            f"cpcv_path_sharpe N={N_GROUPS} k={N_TEST_GROUPS} {n_samples:,} samples x {n_streams:,} streams "
            f"(reference: {ref_streams} streams scaled x{n_streams // ref_streams})",
            fast_seconds,
            "s",
            reference=ref_seconds,
            reference_name="loop over splits and streams + assemble_path_returns",
            higher_is_better=False,
            peak_rss_mb=peak,
        )
    )
    # --- bootstrap: Sharpe ------------------------------------------------------------------------------------
    n_obs = 365 if quick else 1_826
    boot_streams, n_resamples = (100, 1_000) if quick else (1_000, 10_000)
    daily = _stream_chunk(boot_streams, n_obs, 2) * 10
    _check_bootstrap_exact(daily[:5])
    ref_s, ref_b = 4, 50
    start = time.perf_counter()
    _bootstrap_reference(daily[:ref_s], ref_b, 9, with_drawdown=False)
    ref_seconds = (time.perf_counter() - start) * (boot_streams * n_resamples) / (ref_s * ref_b)
    fast_seconds, _ = best_of(
        lambda: stationary_bootstrap(daily, n_resamples, MEAN_BLOCK_DAYS, 3, with_drawdown=False), repeat=1
    )
    _, peak = isolated(_bootstrap_job, boot_streams, n_obs, n_resamples, False)
    rows.append(
        row(
            "validation",
            f"bootstrap_sharpe {n_resamples:,} resamples x {boot_streams:,} streams x {n_obs:,} days "
            f"(reference: {ref_s} streams x {ref_b} resamples scaled)",
            fast_seconds,
            "s",
            reference=ref_seconds,
            reference_name="loop per stream and per resample",
            higher_is_better=False,
            peak_rss_mb=peak,
        )
    )
    # --- bootstrap: Sharpe + max drawdown ---------------------------------------------------------------------
    dd_streams = 20 if quick else 100
    start = time.perf_counter()
    _bootstrap_reference(daily[:ref_s], ref_b, 9, with_drawdown=True)
    ref_seconds = (time.perf_counter() - start) * (dd_streams * n_resamples) / (ref_s * ref_b)
    fast_seconds, _ = best_of(
        lambda: stationary_bootstrap(daily[:dd_streams], n_resamples, MEAN_BLOCK_DAYS, 3), repeat=1
    )
    _, peak = isolated(_bootstrap_job, dd_streams, n_obs, n_resamples, True)
    rows.append(
        row(
            "validation",
            f"bootstrap_sharpe_and_drawdown {n_resamples:,} resamples x {dd_streams:,} streams x {n_obs:,} days "
            f"(reference: {ref_s} streams x {ref_b} resamples scaled)",
            fast_seconds,
            "s",
            reference=ref_seconds,
            reference_name="loop per stream and per resample",
            higher_is_better=False,
            peak_rss_mb=peak,
        )
    )
    return rows
