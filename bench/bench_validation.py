"""Validation benchmarks: CPCV path Sharpes and the stationary block bootstrap, each against a straightforward
reference implementation measured in the same run (ratio > 1 means the library is faster).

1. ``cpcv_path_sharpe``: CPCV with N=10 groups, k=2 test groups (45 splits, 9 paths), embargo 288 bars,
   over a 5-year 5-minute series (525,600 samples) for 1,000 candidate return streams, with the decision
   Stage B uses: per split a stream is taken (+1) when its after-cost return per trade over the purged and
   embargoed training samples reaches the bridge's minimum expectancy, else flat; every stream gets its 9
   path Sharpes. The 1,000 streams are 20 distinct seeded chunks of 50 (memory), each generated outside the
   timer. Reference: Python loop over splits and streams (training sums of returns and trade entries, the
   take-or-flat decision times the test gather), then the per-path series assembled with
   ``assemble_path_returns`` and a Sharpe per path; run on a tenth of the streams (100 of 1,000, in groups of
   10 for memory), each group checked equal to the library on the same streams, and the reference time
   scaled ×10 (stated in the metric name).
2. ``bootstrap_sharpe``: stationary bootstrap (mean block 5 days) with 10,000 resamples of 1,000 daily
   streams of 5 years (1,826 days), Sharpe per resample. Reference: loop per stream and per resample over
   the same index array (gather, then mean/std), on a tenth of the streams (100 × all 10,000 resamples),
   checked equal to the library's result for those streams, time scaled ×10.
3. ``bootstrap_sharpe_and_drawdown``: the same with the max drawdown too, over all 1,000 streams; the
   reference (cumulative sum and running peak per resample) runs on 100 of them, checked equal, scaled ×10.
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
MIN_TRAIN_EXPECTANCY = (
    2e-5  # after-cost return per trade (0.2 bps): about half the streams are taken per split
)


def _stream_chunk(n_streams: int, n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0, 2e-5, size=(n_streams, 1))
    return drift + rng.normal(0.0, 1e-3, size=(n_streams, n_samples))


def _candidate_chunk(n_streams: int, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """After-cost candidate streams: a trade opens on ~1% of bars (entries) and returns follow a random
    walk with a per-stream drift."""
    returns = _stream_chunk(n_streams, n_samples, seed)
    entries = (np.random.default_rng(seed + 10_000).random((n_streams, n_samples)) < 0.01).astype(np.float64)
    return returns, entries


def _cpcv(returns: np.ndarray, entries: np.ndarray, cv: CombinatorialPurgedKFold) -> np.ndarray:
    return cpcv_path_sharpes(returns, cv, trade_entries=entries, min_train_expectancy=MIN_TRAIN_EXPECTANCY)


def _cpcv_timed(n_samples: int, chunk_streams: int, n_chunks: int, cv: CombinatorialPurgedKFold) -> float:
    """Seconds spent in the library over ``n_chunks`` distinct chunks (generation not timed)."""
    seconds = 0.0
    for chunk in range(n_chunks):
        returns, entries = _candidate_chunk(chunk_streams, n_samples, 1_000 + chunk)
        start = time.perf_counter()
        _cpcv(returns, entries, cv)
        seconds += time.perf_counter() - start
    return seconds


def _cpcv_reference(
    returns: np.ndarray, entries: np.ndarray, cv: CombinatorialPurgedKFold, splits: list
) -> np.ndarray:
    n_streams, n = returns.shape
    per_split = []
    for train, test in splits:
        oos = np.empty((n_streams, test.size))
        for s in range(n_streams):
            trades = entries[s, train].sum()
            taken = trades > 0 and returns[s, train].sum() >= MIN_TRAIN_EXPECTANCY * trades
            oos[s] = float(taken) * returns[s, test]
        per_split.append(oos)
    paths = assemble_path_returns(cv, n, per_split)
    result = np.empty((n_streams, cv.n_paths))
    for p in range(cv.n_paths):
        for s in range(n_streams):
            x = paths[p, s]
            sd = x.std(ddof=1)
            result[s, p] = x.mean() / sd if sd > 0 else np.nan
    return result


def _cpcv_job(n_samples: int, chunk_streams: int, n_chunks: int) -> None:
    cv = CombinatorialPurgedKFold(N_GROUPS, N_TEST_GROUPS, embargo=EMBARGO_BARS)
    _cpcv_timed(n_samples, chunk_streams, n_chunks, cv)


def _bootstrap_reference(
    returns: np.ndarray, n_resamples: int, seed: int, with_drawdown: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Loop per stream and per resample over the library's index array (same seed, so the results compare)."""
    n_streams, n_obs = returns.shape
    index = stationary_bootstrap_indices(n_obs, n_resamples, MEAN_BLOCK_DAYS, np.random.default_rng(seed))
    sharpe = np.empty((n_streams, n_resamples))
    drawdown = np.full((n_streams, n_resamples), np.nan)
    for s in range(n_streams):
        for b in range(n_resamples):
            x = returns[s, index[b]]
            sharpe[s, b] = x.mean() / x.std(ddof=1)
            if with_drawdown:
                equity = np.cumsum(x)
                drawdown[s, b] = (np.maximum(np.maximum.accumulate(equity), 0.0) - equity).max()
    return sharpe, drawdown


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
    ref_streams = n_streams // 10  # a tenth of the workload, run for real
    cv = CombinatorialPurgedKFold(N_GROUPS, N_TEST_GROUPS, embargo=EMBARGO_BARS)
    splits = list(cv.split(np.empty(n_samples)))
    ref_seconds = 0.0
    for group_start in range(0, ref_streams, 10):  # groups of 10 streams bound the reference's memory
        returns, entries = _candidate_chunk(min(10, ref_streams - group_start), n_samples, 100 + group_start)
        start = time.perf_counter()
        ref = _cpcv_reference(returns, entries, cv, splits)
        ref_seconds += time.perf_counter() - start
        np.testing.assert_allclose(_cpcv(returns, entries, cv), ref, rtol=1e-8, atol=1e-12)
    ref_seconds *= n_streams / ref_streams
    fast_seconds = _cpcv_timed(n_samples, chunk_streams, n_chunks, cv)
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
    ref_s = boot_streams // 10  # a tenth of the streams, every resample
    fast_seconds, fast = best_of(
        lambda: stationary_bootstrap(daily, n_resamples, MEAN_BLOCK_DAYS, 3, with_drawdown=False), repeat=1
    )
    start = time.perf_counter()
    ref_sharpe, _ = _bootstrap_reference(daily[:ref_s], n_resamples, 3, with_drawdown=False)
    ref_seconds = (time.perf_counter() - start) * boot_streams / ref_s
    np.testing.assert_allclose(fast.sharpe[:ref_s], ref_sharpe, rtol=1e-9)
    _, peak = isolated(_bootstrap_job, boot_streams, n_obs, n_resamples, False)
    rows.append(
        row(
            "validation",
            f"bootstrap_sharpe {n_resamples:,} resamples x {boot_streams:,} streams x {n_obs:,} days "
            f"(reference: {ref_s} streams x {n_resamples:,} resamples, scaled x{boot_streams // ref_s})",
            fast_seconds,
            "s",
            reference=ref_seconds,
            reference_name="loop per stream and per resample",
            higher_is_better=False,
            peak_rss_mb=peak,
        )
    )
    # --- bootstrap: Sharpe + max drawdown ---------------------------------------------------------------------
    dd_streams = boot_streams  # every stream
    ref_s = dd_streams // 10
    # The full 1,000-stream run is timed once, in a fresh process (also its peak memory): it is the costliest
    # section. The index array depends only on (seed, days, resamples), so the library's result on the first
    # ref_s streams is the same rows as in the full run and is what the reference is checked against.
    fast_seconds, peak = isolated(_bootstrap_job, dd_streams, n_obs, n_resamples, True)
    fast = stationary_bootstrap(daily[:ref_s], n_resamples, MEAN_BLOCK_DAYS, 3)
    start = time.perf_counter()
    ref_sharpe, ref_drawdown = _bootstrap_reference(daily[:ref_s], n_resamples, 3, with_drawdown=True)
    ref_seconds = (time.perf_counter() - start) * dd_streams / ref_s
    np.testing.assert_allclose(fast.sharpe, ref_sharpe, rtol=1e-9)
    np.testing.assert_allclose(fast.max_drawdown, ref_drawdown, rtol=1e-9)
    rows.append(
        row(
            "validation",
            f"bootstrap_sharpe_and_drawdown {n_resamples:,} resamples x {dd_streams:,} streams x {n_obs:,} days "
            f"(reference: {ref_s} streams x {n_resamples:,} resamples, scaled x{dd_streams // ref_s})",
            fast_seconds,
            "s",
            reference=ref_seconds,
            reference_name="loop per stream and per resample",
            higher_is_better=False,
            peak_rss_mb=peak,
        )
    )
    return rows
