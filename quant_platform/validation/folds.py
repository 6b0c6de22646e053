"""Fold generators for samples whose labels span time intervals (purging + embargo).

Every splitter follows the scikit-learn shape: ``split(X=None, y=None, groups=None, *, label_start=None,
label_end=None)`` yields ``(train_idx, test_idx)`` position arrays, ``get_n_splits()`` says how many.

Samples are *positions* ``0..n-1`` ordered by label start. Sample ``i``'s label covers the closed interval
``[label_start[i], label_end[i]]`` (timestamps, or integer positions; any ordered numeric/datetime64 dtype).
Without label arrays, each label covers only its own position (``label_start = label_end = i``), which is
what plain scikit-learn callers get through ``split(X)``.

Purging: every training sample whose label interval overlaps any test label interval is removed. Test blocks
are contiguous runs of positions; because ``label_start`` is sorted, a training sample before a block overlaps
one of its labels iff its ``label_end >= min(label_start of block)``, and one after a block iff its
``label_start <= max(label_end of block)`` (so checking the block hull is exact, not an approximation).

Embargo: ``embargo`` is either an ``int`` (a count of samples) or a ``float`` in ``[0, 1)`` (a fraction of
the number of samples, rounded *up*, so any positive fraction embargoes at least one sample). It follows
López de Prado (*Advances in Financial Machine Learning*, sect. 7.4.2, ``PurgedKFold``): the embargo starts
where the test block's *labels* end, not at its last position. For K-fold style splitters
(:class:`PurgedKFold`, and CPCV in ``cpcv.py``) training resumes after a test block only at the first sample
whose label starts after the block's latest label end (``max(label_end)`` over the block), plus ``embargo``
samples: positions ``last+1 .. resume+embargo-1`` are removed, with ``resume = searchsorted(label_start,
max label end, side="right")``. So with labels longer than the embargo it still removes ``embargo`` samples
beyond those purging drops (serial dependence leaks test information into the labels that follow).
With purging switched off (CPCV's ``purge=False``) a positive embargo still covers ``last+1 .. resume-1``.
Forward-only splitters (:class:`AnchoredTemporalFolds`, :class:`WalkForward`) never train after the test
block; there the same rule is mirrored: the gap of ``embargo`` samples is counted back from the purge
boundary (the last sample whose label ends before the block's first label starts), so training stops
``embargo`` samples before the last label that could be kept, again beyond purging.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

Embargo = int | float


def embargo_count(embargo: Embargo, n_samples: int) -> int:
    """Number of samples an embargo spec covers (see module docstring for the rule)."""
    if isinstance(embargo, bool) or not isinstance(embargo, (int, float, np.integer, np.floating)):
        raise ValueError(f"embargo must be an int (samples) or a float fraction in [0, 1), got {embargo!r}")
    if isinstance(embargo, (int, np.integer)):
        if embargo < 0:
            raise ValueError(f"embargo count must be >= 0, got {embargo}")
        return int(embargo)
    if not 0.0 <= float(embargo) < 1.0:
        raise ValueError(f"embargo fraction must be in [0, 1), got {embargo}")
    return math.ceil(float(embargo) * n_samples)


def resolve_label_spans(
    X: Any = None, label_start: Any = None, label_end: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(label_start, label_end)`` arrays; defaults to one position per label."""
    if label_start is None and label_end is None:
        if X is None:
            raise ValueError("pass X or label_start/label_end so the number of samples is known")
        n = len(X)
        positions = np.arange(n)
        return positions, positions
    if label_start is None or label_end is None:
        raise ValueError("label_start and label_end must be given together")
    start, end = np.asarray(label_start), np.asarray(label_end)
    if start.ndim != 1 or start.shape != end.shape:
        raise ValueError(
            f"label_start/label_end must be 1-D of equal length, got {start.shape} and {end.shape}"
        )
    if X is not None and len(X) != len(start):
        raise ValueError(f"X has {len(X)} samples but the label spans have {len(start)}")
    if len(start) and np.any(start[1:] < start[:-1]):
        raise ValueError("label_start must be sorted ascending (samples are ordered by label start)")
    if np.any(end < start):
        bad = int(np.flatnonzero(end < start)[0])
        raise ValueError(f"label_end < label_start at position {bad}")
    return start, end


def contiguous_blocks(positions: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[first, last]`` (inclusive) of sorted unique positions."""
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1)
    firsts = np.concatenate(([positions[0]], positions[breaks + 1]))
    lasts = np.concatenate((positions[breaks], [positions[-1]]))
    return list(zip(firsts.tolist(), lasts.tolist(), strict=True))


def purge_and_embargo(
    train_mask: np.ndarray,
    test_positions: np.ndarray,
    label_start: np.ndarray,
    label_end: np.ndarray,
    *,
    purge: bool = True,
    embargo_after: int = 0,
    gap_before: int = 0,
) -> np.ndarray:
    """Return ``train_mask`` minus purged samples and embargoed positions around every test block (the
    embargo counted from the test block's label end, see the module docstring)."""
    mask = train_mask.copy()
    n = mask.size
    for first, last in contiguous_blocks(test_positions):
        if purge:
            block_start = label_start[first]
            block_end = label_end[first : last + 1].max()
            # Before the block (positions < first): overlap iff label_end >= block_start. Sorted starts mean
            # the candidates are a suffix of [0, first); after the block: label_start <= block_end, a prefix.
            mask[:first] &= label_end[:first] < block_start
            mask[last + 1 :] &= label_start[last + 1 :] > block_end
        if embargo_after:
            # First sample whose label starts after every test label has ended; training resumes
            # embargo_after samples later (López de Prado's embargo, counted from the label end).
            resume = int(np.searchsorted(label_start, label_end[first : last + 1].max(), side="right"))
            mask[last + 1 : min(n, resume + embargo_after)] = False
        if gap_before:
            # Mirror image for forward-only folds: count the gap back from the last sample whose label ends
            # before the block's first label starts (everything after it up to the block overlaps the block).
            clear = np.flatnonzero(label_end[:first] < label_start[first])
            boundary = int(clear[-1]) + 1 if clear.size else 0
            mask[max(0, boundary - gap_before) : first] = False
    return mask


class _Splitter:
    """Shared sklearn-style plumbing."""

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        raise NotImplementedError

    def split(
        self,
        X: Any = None,
        y: Any = None,
        groups: Any = None,
        *,
        label_start: Any = None,
        label_end: Any = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        start, end = resolve_label_spans(X, label_start, label_end)
        yield from self._split(start, end)

    def _split(self, start: np.ndarray, end: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError


def _check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class AnchoredTemporalFolds(_Splitter):
    """Expanding-window folds: the samples are cut into ``n_folds + 1`` contiguous chunks; fold ``k``
    (1-based) tests on chunk ``k`` and trains on everything before it, minus purged samples and minus an
    embargo gap of ``embargo`` samples counted back from the purge boundary before the test chunk."""

    def __init__(self, n_folds: int = 3, embargo: Embargo = 0) -> None:
        self.n_folds = _check_positive_int("n_folds", n_folds)
        embargo_count(embargo, 1)  # validate the type/range early
        self.embargo = embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_folds

    def test_chunks(self, n_samples: int) -> list[np.ndarray]:
        if n_samples < self.n_folds + 1:
            raise ValueError(f"need at least n_folds + 1 = {self.n_folds + 1} samples, got {n_samples}")
        return np.array_split(np.arange(n_samples), self.n_folds + 1)[1:]

    def _split(self, start: np.ndarray, end: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = start.size
        gap = embargo_count(self.embargo, n)
        for test in self.test_chunks(n):
            train_mask = np.zeros(n, dtype=bool)
            train_mask[: test[0]] = True
            train_mask = purge_and_embargo(train_mask, test, start, end, gap_before=gap)
            yield np.flatnonzero(train_mask), test


class WalkForward(_Splitter):
    """Rolling window: train on ``train_size`` samples, test on the next ``test_size``, move by ``step``
    (default ``test_size``). The embargo is a gap counted back from the purge boundary before each test window;
    purging as everywhere."""

    def __init__(
        self, train_size: int, test_size: int, step: int | None = None, embargo: Embargo = 0
    ) -> None:
        self.train_size = _check_positive_int("train_size", train_size)
        self.test_size = _check_positive_int("test_size", test_size)
        self.step = _check_positive_int("step", step if step is not None else test_size)
        embargo_count(embargo, 1)
        self.embargo = embargo

    def _windows(self, n_samples: int) -> list[int]:
        """Test-window start positions."""
        first = self.train_size
        if first + self.test_size > n_samples:
            return []
        return list(range(first, n_samples - self.test_size + 1, self.step))

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        if X is None:
            raise ValueError("WalkForward.get_n_splits needs X (the number of splits depends on its length)")
        return len(self._windows(len(X)))

    def _split(self, start: np.ndarray, end: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = start.size
        gap = embargo_count(self.embargo, n)
        windows = self._windows(n)
        if not windows:
            raise ValueError(
                f"{n} samples cannot hold train_size={self.train_size} + test_size={self.test_size}"
            )
        for test_start in windows:
            test = np.arange(test_start, test_start + self.test_size)
            train_mask = np.zeros(n, dtype=bool)
            train_mask[test_start - self.train_size : test_start] = True
            train_mask = purge_and_embargo(train_mask, test, start, end, gap_before=gap)
            yield np.flatnonzero(train_mask), test


class PurgedKFold(_Splitter):
    """K contiguous folds (no shuffling); train on the others minus purged samples and minus the
    ``embargo`` samples that follow the test fold's last label end (López de Prado's embargo)."""

    def __init__(self, n_splits: int = 5, embargo: Embargo = 0) -> None:
        self.n_splits = _check_positive_int("n_splits", n_splits, minimum=2)
        embargo_count(embargo, 1)
        self.embargo = embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _split(self, start: np.ndarray, end: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = start.size
        if n < self.n_splits:
            raise ValueError(f"need at least n_splits = {self.n_splits} samples, got {n}")
        after = embargo_count(self.embargo, n)
        for test in np.array_split(np.arange(n), self.n_splits):
            train_mask = np.ones(n, dtype=bool)
            train_mask[test] = False
            train_mask = purge_and_embargo(train_mask, test, start, end, embargo_after=after)
            yield np.flatnonzero(train_mask), test
