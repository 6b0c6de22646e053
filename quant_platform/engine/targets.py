"""Sparse target representation: the bars where a column's requested weight changes.

Targets are step functions, so a run only needs their change points: ``(column, bar, weight)`` sorted
by column then bar, meaning "from the close of ``bar`` on, ``column`` requests ``weight``" (0 before the
first change). Working on change points keeps the replay's cost proportional to the number of orders
instead of bars × columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class TargetChanges:
    column: np.ndarray  # int64, sorted k-major
    bar: np.ndarray  # int64, signal bar
    weight: np.ndarray  # float64
    n_columns: int
    n_bars: int

    def select(self, keep: np.ndarray) -> TargetChanges:
        """The changes where ``keep`` is True (``self`` when it keeps them all: the arrays are never written)."""
        if keep.all():
            return self
        return TargetChanges(
            self.column[keep], self.bar[keep], self.weight[keep], self.n_columns, self.n_bars
        )

    def columns(self, start: int, stop: int) -> TargetChanges:
        """The changes of columns ``[start, stop)``, renumbered from 0."""
        lo, hi = np.searchsorted(self.column, [start, stop])
        sl = slice(lo, hi)
        return TargetChanges(
            self.column[sl] - start, self.bar[sl], self.weight[sl], stop - start, self.n_bars
        )

    def dense(self) -> np.ndarray:
        """``(K, T)`` requested weight at every bar."""
        from quant_platform.engine.arrays import expand_segments

        return expand_segments(self.column, self.bar, self.weight, self.n_columns, self.n_bars)


def _k_major(bar: np.ndarray, column: np.ndarray, n_bars: int) -> np.ndarray:
    return np.argsort(column.astype(np.int64) * n_bars + bar, kind="stable")


def drop_repeats(changes: TargetChanges) -> TargetChanges:
    """Drop changes equal to the column's previous weight (or to 0 for a column's first change)."""
    w, col = changes.weight, changes.column
    prev = np.empty_like(w)
    if w.size:
        prev[0] = 0.0
        prev[1:] = w[:-1]
        prev[np.r_[True, col[1:] != col[:-1]]] = 0.0
    return changes.select(w != prev)


def changes_from_dense(targets: np.ndarray, *, bars_axis: int = 0) -> TargetChanges:
    """Change points of dense targets (``[T, K]`` with ``bars_axis=0``, or ``(K, T)`` with ``bars_axis=1``).

    NaN means "no new instruction": the previous request stands. Infinite values are refused.
    """
    values = np.asarray(targets, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None] if bars_axis == 0 else values[None, :]
    if values.ndim != 2:
        raise ValueError(f"targets must be 1-D or 2-D, got shape {values.shape}")
    if bars_axis == 1:
        values = values.T  # a view: [T, K]
    n_bars, n_cols = values.shape
    finite = np.isfinite(values)
    if not finite.all():
        if np.isinf(values).any():
            raise ValueError("target weights must be finite (NaN means 'hold'); got an infinite value")
        idx = np.maximum.accumulate(np.where(finite, np.arange(n_bars)[:, None], -1), axis=0)
        filled = values[np.maximum(idx, 0), np.arange(n_cols)[None, :]]
        filled[idx < 0] = 0.0
        values = filled
    changed = np.empty(values.shape, dtype=bool)
    np.not_equal(values[0], 0.0, out=changed[0])
    np.not_equal(values[1:], values[:-1], out=changed[1:])
    bar, column = np.nonzero(changed)
    order = _k_major(bar, column, n_bars)
    bar, column = bar[order], column[order]
    return TargetChanges(column, bar, values[bar, column], n_cols, n_bars)


def changes_from_signals(
    entries: np.ndarray,
    exits: np.ndarray,
    *,
    size: float = 1.0,
    direction: Literal["long", "short"] = "long",
) -> TargetChanges:
    """Change points of the entry/exit state machine (see :func:`signals_to_targets`), without a dense pass
    over the state: events are sparse, and each event sets the state to a fixed value."""
    entries = np.asarray(entries)
    exits = np.asarray(exits)
    if entries.shape != exits.shape:
        raise ValueError(f"entries {entries.shape} and exits {exits.shape} must have the same shape")
    if entries.dtype != bool or exits.dtype != bool:
        raise ValueError("entries and exits must be boolean arrays")
    if direction not in ("long", "short"):
        raise ValueError(f"direction must be 'long' or 'short', got {direction!r}")
    if not np.isfinite(size) or size <= 0:
        raise ValueError(f"size must be a finite positive weight, got {size}")
    if entries.ndim == 1:
        entries, exits = entries[:, None], exits[:, None]
    n_bars, n_cols = entries.shape
    # an event is a bar with exactly one of entry/exit (both at once changes nothing); 1-D flatnonzero is
    # several times faster than a 2-D nonzero on long single-column inputs
    flat = np.flatnonzero(entries ^ exits)
    if n_cols == 1:
        bar, column = flat, np.zeros_like(flat)
    else:
        bar, column = np.divmod(flat, n_cols)
        order = _k_major(bar, column, n_bars)
        bar, column = bar[order], column[order]
    signed = size if direction == "long" else -size
    weight = np.where(entries[bar, column], signed, 0.0)
    return drop_repeats(TargetChanges(column, bar, weight, n_cols, n_bars))
