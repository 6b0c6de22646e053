"""Combinatorial purged cross-validation (López de Prado, *Advances in Financial Machine Learning*, ch. 12).

The ``n_samples`` positions are cut into ``N = n_groups`` contiguous groups; every one of the ``C(N, k)``
choices of ``k = n_test_groups`` groups is one split (test = those groups; train = the rest, purged and
embargoed exactly as in ``folds.py``). Each group is tested in ``C(N-1, k-1)`` splits, so the out-of-sample
predictions assemble into ``φ(N, k) = k/N · C(N, k) = C(N-1, k-1)`` complete backtest paths: path ``p`` takes,
for every group, the ``p``-th split (in split order) that tests that group.

Besides the splitter, this module assembles per-path out-of-sample series from per-split results, and has a
vectorized path-Sharpe routine for many return streams at once (``cpcv_path_sharpes``): per split, a decision
is fitted on the (purged, embargoed) training samples only and applied to the test samples, so the path
Sharpes are the out-of-sample performance of the decision procedure, not of the stream with hindsight.
Two decisions are available:
- economic (``trade_entries`` and ``min_train_expectancy`` given; what Stage B uses): take the stream (+1) when
  its after-cost return per trade over the training samples reaches ``min_train_expectancy``, else stay flat
  (0). The stream is never flipped: its returns are after costs, and the negated after-cost stream is not the
  reverse rule (that would pay its costs again), so a negative training expectancy means "not taken".
- sign (default): the direction of the training mean, for raw (cost-free) return streams.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from math import comb
from typing import Any

import numpy as np

from quant_platform.validation.folds import (
    Embargo,
    _check_positive_int,
    _Splitter,
    embargo_count,
    purge_and_embargo,
    resolve_label_spans,
)


class CombinatorialPurgedKFold(_Splitter):
    """All ``C(n_groups, n_test_groups)`` purged/embargoed splits plus the ``φ(N, k)`` backtest paths."""

    def __init__(
        self, n_groups: int = 6, n_test_groups: int = 2, purge: bool = True, embargo: Embargo = 0
    ) -> None:
        self.n_groups = _check_positive_int("n_groups", n_groups, minimum=2)
        self.n_test_groups = _check_positive_int("n_test_groups", n_test_groups)
        if self.n_test_groups >= self.n_groups:
            raise ValueError(f"n_test_groups ({n_test_groups}) must be < n_groups ({n_groups})")
        embargo_count(embargo, 1)
        self.purge = bool(purge)
        self.embargo = embargo

    # -- combinatorics -------------------------------------------------------------------------------------
    def test_group_sets(self) -> list[tuple[int, ...]]:
        """The test groups of every split, in split order (lexicographic combinations)."""
        return list(itertools.combinations(range(self.n_groups), self.n_test_groups))

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """φ(N, k) = k/N · C(N, k) = C(N-1, k-1)."""
        return comb(self.n_groups - 1, self.n_test_groups - 1)

    def path_split_matrix(self) -> np.ndarray:
        """``(n_paths, n_groups)`` int array: entry ``[p, g]`` is the split whose test set supplies group ``g``
        to path ``p``."""
        occurrences: list[list[int]] = [[] for _ in range(self.n_groups)]
        for split_index, test_groups in enumerate(self.test_group_sets()):
            for g in test_groups:
                occurrences[g].append(split_index)
        return np.array(occurrences, dtype=np.int64).T

    def backtest_paths(self) -> list[list[tuple[int, int]]]:
        """For each path, the ``(split index, group)`` pairs that form it, in group (time) order."""
        matrix = self.path_split_matrix()
        return [[(int(matrix[p, g]), g) for g in range(self.n_groups)] for p in range(self.n_paths)]

    # -- splitting -----------------------------------------------------------------------------------------
    def group_bounds(self, n_samples: int) -> np.ndarray:
        """``(n_groups, 2)`` half-open ``[start, stop)`` positions of each group."""
        if n_samples < self.n_groups:
            raise ValueError(f"need at least n_groups = {self.n_groups} samples, got {n_samples}")
        sizes = np.full(self.n_groups, n_samples // self.n_groups)
        sizes[: n_samples % self.n_groups] += 1  # same cut as np.array_split
        stops = np.cumsum(sizes)
        return np.stack([stops - sizes, stops], axis=1)

    def _split(self, start: np.ndarray, end: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = start.size
        bounds = self.group_bounds(n)
        after = embargo_count(self.embargo, n)
        for test_groups in self.test_group_sets():
            test = np.concatenate([np.arange(*bounds[g]) for g in test_groups])
            train_mask = np.ones(n, dtype=bool)
            train_mask[test] = False
            train_mask = purge_and_embargo(
                train_mask, test, start, end, purge=self.purge, embargo_after=after
            )
            yield np.flatnonzero(train_mask), test

    def train_ranges(
        self, n_samples: int, label_start: Any = None, label_end: Any = None
    ) -> list[np.ndarray]:
        """Per split, the training set as ``(n_ranges, 2)`` half-open position ranges (for prefix sums)."""
        start, end = resolve_label_spans(np.empty(n_samples), label_start, label_end)
        out = []
        for train, _ in self._split(start, end):
            if train.size == 0:
                out.append(np.zeros((0, 2), dtype=np.int64))
                continue
            breaks = np.flatnonzero(np.diff(train) != 1)
            firsts = np.concatenate(([train[0]], train[breaks + 1]))
            lasts = np.concatenate((train[breaks], [train[-1]])) + 1
            out.append(np.stack([firsts, lasts], axis=1))
        return out


def assemble_path_returns(
    cv: CombinatorialPurgedKFold, n_samples: int, split_test_values: Sequence[np.ndarray]
) -> np.ndarray:
    """Per-path out-of-sample series from per-split results.

    ``split_test_values[s]`` holds split ``s``'s out-of-sample values (predictions or strategy returns) on its
    test positions, in ascending position order, with time on the last axis: shape ``(..., n_test_s)``.
    Returns ``(n_paths, ..., n_samples)``: path ``p`` at position ``t`` (in group ``g``) is the value that
    split ``path_split_matrix[p, g]`` produced for ``t``.
    """
    n_splits = cv.get_n_splits()
    if len(split_test_values) != n_splits:
        raise ValueError(f"expected {n_splits} per-split arrays, got {len(split_test_values)}")
    bounds = cv.group_bounds(n_samples)
    sets = cv.test_group_sets()
    lead_shape = np.asarray(split_test_values[0]).shape[:-1]
    # Where each group sits inside each split's concatenated test array.
    offset_in_split: dict[tuple[int, int], int] = {}
    for s, groups in enumerate(sets):
        expected = int(sum(bounds[g, 1] - bounds[g, 0] for g in groups))
        got = np.asarray(split_test_values[s]).shape[-1]
        if got != expected:
            raise ValueError(f"split {s} has {got} test values, expected {expected}")
        offset = 0
        for g in groups:
            offset_in_split[(s, g)] = offset
            offset += int(bounds[g, 1] - bounds[g, 0])
    matrix = cv.path_split_matrix()
    out = np.empty((cv.n_paths, *lead_shape, n_samples), dtype=np.result_type(*split_test_values))
    for p in range(cv.n_paths):
        for g in range(cv.n_groups):
            s = int(matrix[p, g])
            lo, hi = bounds[g]
            o = offset_in_split[(s, g)]
            out[p, ..., lo:hi] = np.asarray(split_test_values[s])[..., o : o + (hi - lo)]
    return out


def sharpe_from_moments(total: np.ndarray, total_sq: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """Per-period Sharpe (mean / sample std, ddof=1) from sums; NaN where undefined (count < 2 or zero var)."""
    count = np.asarray(count, dtype=np.float64)
    mean = total / count
    var = (total_sq - count * mean**2) / (count - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = mean / np.sqrt(var)
    return np.where((count > 1) & (var > 0), sr, np.nan)


def cpcv_path_sharpes(
    returns: np.ndarray,
    cv: CombinatorialPurgedKFold,
    *,
    label_start: Any = None,
    label_end: Any = None,
    fit_sign: bool = True,
    trade_entries: np.ndarray | None = None,
    min_train_expectancy: float | None = None,
) -> np.ndarray:
    """Per-period Sharpe of every backtest path for every stream: ``(n_streams, n_paths)``.

    ``returns`` is ``(n_streams, n_samples)`` (or 1-D for one stream), samples on a shared timeline. Per split
    the position applied to the test samples is fitted on the training samples (module docstring): with
    ``trade_entries`` (trades opened per sample, same shape as ``returns``) and ``min_train_expectancy``
    (after-cost return per trade, in return units) the economic take-or-flat decision; otherwise with
    ``fit_sign`` the direction of the training mean (no position if it is exactly 0); without either the
    path returns are the raw returns (all paths then coincide). A path on which the procedure never trades
    has no defined Sharpe (NaN).
    Vectorized: one pass of segment sums between the group/training-range cut points and one pass of
    per-group sums of squares, O(n_streams · n_samples); then O(n_streams · ranges) per split.
    """
    r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    n_streams, n = r.shape
    if not np.isfinite(r).all():
        raise ValueError("returns contain NaN/inf; fill flat periods with 0 explicitly before CPCV")
    economic = trade_entries is not None or min_train_expectancy is not None
    if economic:
        if trade_entries is None or min_train_expectancy is None:
            raise ValueError("the economic decision needs both trade_entries and min_train_expectancy")
        entries = np.atleast_2d(np.asarray(trade_entries, dtype=np.float64))
        if entries.shape != r.shape or not np.isfinite(entries).all() or (entries < 0).any():
            raise ValueError(f"trade_entries must be finite counts >= 0 shaped like returns {r.shape}")
    bounds = cv.group_bounds(n)
    ranges = cv.train_ranges(n, label_start, label_end) if (fit_sign or economic) else []
    # Every sum needed starts and ends on a group bound or a training-range edge: one pass of segment sums
    # between those cut points (np.add.reduceat) replaces a full-length cumulative sum.
    cuts = np.unique(np.concatenate([bounds.ravel(), *(rg.ravel() for rg in ranges), [0, n]]))

    def prefix_of(values: np.ndarray) -> np.ndarray:
        prefix = np.zeros((n_streams, cuts.size))
        np.cumsum(np.add.reduceat(values, cuts[:-1], axis=1), axis=1, out=prefix[:, 1:])
        return prefix

    prefix = prefix_of(r)
    entry_prefix = prefix_of(entries) if economic else None

    def range_sum(lo: np.ndarray, hi: np.ndarray, table: np.ndarray = prefix) -> np.ndarray:
        return table[:, np.searchsorted(cuts, hi)] - table[:, np.searchsorted(cuts, lo)]

    group_sum = range_sum(bounds[:, 0], bounds[:, 1])  # (n_streams, N)
    group_sq = np.stack([np.einsum("ij,ij->i", r[:, lo:hi], r[:, lo:hi]) for lo, hi in bounds], axis=1)
    group_n = (bounds[:, 1] - bounds[:, 0]).astype(np.float64)

    sets = cv.test_group_sets()
    signs = np.ones((n_streams, len(sets)))
    for s, split_ranges in enumerate(ranges):
        if split_ranges.shape[0] == 0:
            raise ValueError(f"split {s} has an empty training set (too much purging/embargo)")
        train_sum = range_sum(split_ranges[:, 0], split_ranges[:, 1]).sum(axis=1)
        if economic:
            trades = range_sum(split_ranges[:, 0], split_ranges[:, 1], entry_prefix).sum(axis=1)
            taken = (trades > 0) & (train_sum >= min_train_expectancy * trades)
            signs[:, s] = taken.astype(np.float64)
        else:
            signs[:, s] = np.sign(train_sum)
    matrix = cv.path_split_matrix()  # (n_paths, N)
    path_signs = signs[:, matrix]  # (n_streams, n_paths, N)
    total = (path_signs * group_sum[:, None, :]).sum(axis=2)
    total_sq = ((path_signs**2) * group_sq[:, None, :]).sum(axis=2)
    return sharpe_from_moments(total, total_sq, group_n.sum())
