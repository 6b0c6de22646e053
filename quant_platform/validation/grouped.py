"""Deterministic grouped float reductions: the same rows always add in the same order.

Polars' group-by ``sum`` / ``mean`` / ``std`` over a large frame combine per-thread partial results in an
order that depends on thread scheduling, so one frame can aggregate to numbers that differ in the last bit
from call to call (seen on ``daily_returns`` over 2M rows). The platform promises that the same inputs give
the same bytes, so the validation statistics reduce here instead: the frame is sorted by its group keys and
a tie-breaking order column (every group becomes one contiguous run, in a fixed row order) and NumPy reduces
each run left to right with ``np.add.reduceat``, single-threaded. Moments are computed in two passes
(mean, then sums of powers of the deviations), which is also the numerically careful way.

Written by hand because no maintained library offers order-fixed grouped reductions over a Polars frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Moments:
    """Per-group sample moments; ``std`` uses ddof=1 (NaN for a single value), ``skew`` and ``kurtosis``
    are the biased (population) estimates, kurtosis non-excess (3 for a normal), NaN for a constant group."""

    n: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    skew: np.ndarray
    kurtosis: np.ndarray


@dataclass(frozen=True)
class SortedRuns:
    """The groups of a frame sorted by its keys: ``keys`` has one row per group (sorted), ``starts`` the first
    row of each group in the sorted frame and ``sizes`` its row count."""

    keys: pl.DataFrame
    starts: np.ndarray
    sizes: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.starts.size)

    def broadcast(self, per_group: np.ndarray) -> np.ndarray:
        """A per-group array repeated onto the rows of the sorted frame."""
        return np.repeat(per_group, self.sizes)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-group sums, each group's rows added in sorted-row order."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        if self.n_groups == 0:
            return np.empty(0, dtype=np.float64)
        return np.add.reduceat(values, self.starts)

    def mean_skipping_missing(self, values: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Mean over the rows where ``present`` (NaN for a group with none), like a null-skipping mean."""
        present = np.asarray(present, dtype=bool)
        sums = self.sum(np.where(present, values, 0.0))
        counts = self.sum(present.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)

    def deviations(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-group means and each row's deviation from its group's mean. A group whose values are all equal
        gets exactly zero deviations (two-pass summation would otherwise leave round-off, e.g. for a constant
        0.1, and a round-off std would turn into a huge finite Sharpe instead of an undefined one)."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        mean = self.sum(values) / self.sizes
        if self.n_groups == 0:
            return mean, values.copy()
        constant = np.maximum.reduceat(values, self.starts) == np.minimum.reduceat(values, self.starts)
        dev = values - self.broadcast(mean)
        dev[self.broadcast(constant)] = 0.0
        return mean, dev

    def moments(self, values: np.ndarray) -> Moments:
        mean, dev = self.deviations(values)
        n = self.sizes.astype(np.float64)
        sq = dev * dev
        ss = self.sum(sq)
        m2 = ss / n
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.where(n > 1, np.sqrt(ss / np.maximum(n - 1.0, 1.0)), np.nan)
            skew = (self.sum(sq * dev) / n) / m2**1.5
            kurtosis = (self.sum(sq * sq) / n) / m2**2
        return Moments(n=self.sizes.copy(), mean=mean, std=std, skew=skew, kurtosis=kurtosis)

    def pearson(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-group Pearson correlation (NaN where either side is constant), clipped into [-1, 1] against
        round-off."""
        _, dx = self.deviations(x)
        _, dy = self.deviations(y)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.sum(dx * dy) / np.sqrt(self.sum(dx * dx) * self.sum(dy * dy))
        return np.clip(r, -1.0, 1.0)


def sorted_runs(
    frame: pl.DataFrame, keys: Sequence[str], order_by: Sequence[str] = ()
) -> tuple[pl.DataFrame, SortedRuns]:
    """Sort ``frame`` by ``keys`` then ``order_by`` (give columns that make the row order total, e.g. ``ts``)
    and find its groups' contiguous runs. Returns the sorted frame and its :class:`SortedRuns`.

    The columns become dense integer codes (strings by their sorted distinct values, integers and temporals
    by offset from their minimum) packed into one int64 where they fit, and NumPy's stable argsort orders
    the rows: a multi-column polars sort with a string key is an order of magnitude slower on unsorted input
    (seconds for 2M rows)."""
    keys, columns = list(keys), [*keys, *order_by]
    nulls = [c for c in columns if frame[c].null_count()]
    if nulls:
        raise ValueError(f"sorted_runs needs non-null key/order columns; nulls in {nulls}")
    if frame.height == 0:
        starts = np.empty(0, dtype=np.int64)
        return frame, SortedRuns(keys=frame.select(keys), starts=starts, sizes=starts.copy())
    codes, cardinalities = zip(*(_dense_codes(frame[c]) for c in columns), strict=True)
    order = _lexicographic_order(list(codes), list(cardinalities))
    in_order = bool(np.all(order[1:] > order[:-1]))
    ordered = frame if in_order else frame[order]
    boundary = np.zeros(frame.height, dtype=bool)
    boundary[0] = True
    for code in codes[: len(keys)]:
        sorted_code = code if in_order else code[order]
        boundary[1:] |= sorted_code[1:] != sorted_code[:-1]
    starts = np.flatnonzero(boundary).astype(np.int64)
    sizes = np.diff(np.append(starts, ordered.height)).astype(np.int64)
    group_keys = ordered.select(pl.col(keys).gather(starts))
    return ordered, SortedRuns(keys=group_keys, starts=starts, sizes=sizes)


def _dense_codes(series: pl.Series) -> tuple[np.ndarray, int]:
    """Non-negative int64 codes that order like ``series`` and their number of possible values."""
    if series.dtype.is_integer() or series.dtype.is_temporal():
        physical = series.to_physical().cast(pl.Int64)
        low, high = int(physical.min()), int(physical.max())
        return (physical - low).to_numpy(), high - low + 1
    distinct = series.unique().sort()
    codes = series.replace_strict(distinct, pl.int_range(distinct.len(), eager=True), return_dtype=pl.Int64)
    return codes.to_numpy(), distinct.len()


def _lexicographic_order(codes: list[np.ndarray], cardinalities: list[int]) -> np.ndarray:
    """Row order by ``codes[0]``, then ``codes[1]``, …: one stable argsort of the packed key when the
    cardinalities' product fits in an int64, else ``np.lexsort``."""
    if math.prod(cardinalities) < 2**62:
        packed = np.zeros(codes[0].size, dtype=np.int64)
        for code, cardinality in zip(codes, cardinalities, strict=True):
            packed = packed * cardinality + code
        if np.all(packed[1:] >= packed[:-1]):  # already in order (the usual case): skip the sort
            return np.arange(packed.size)
        return np.argsort(packed, kind="stable")
    return np.lexsort(codes[::-1])
