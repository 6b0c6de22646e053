"""Entry/exit signals → target weights, with the state machine of vectorbt's ``from_signals`` defaults.

An entry sets the target to ``size`` (``-size`` for ``direction="short"``), an exit sets it to 0; an entry
while already in the position and an exit while flat change nothing; an entry and an exit on the same bar
cancel out (both ignored). Because each event sets the state to a fixed value, the state is the last event
carried forward: sparse events expanded to a step function, not a loop over bars.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from quant_platform.engine.targets import changes_from_signals


def signals_to_targets(
    entries: np.ndarray,
    exits: np.ndarray,
    *,
    size: float = 1.0,
    direction: Literal["long", "short"] = "long",
) -> np.ndarray:
    """Boolean ``entries``/``exits`` ``[T]`` or ``[T, K]`` → target weights of the same shape (float64)."""
    changes = changes_from_signals(entries, exits, size=size, direction=direction)
    dense = changes.dense().T
    return np.ascontiguousarray(dense[:, 0] if np.asarray(entries).ndim == 1 else dense)


def crossovers(fast: np.ndarray, slow: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(up, down)`` crosses of ``fast`` over ``slow`` (``[T]`` or ``[T, K]``; ``slow`` may be a
    scalar level). ``up[t]``: ``fast[t-1] < slow[t-1]`` and ``fast[t] > slow[t]``; ``down`` mirrored. This is
    backtesting.py's ``crossover()`` rule: touching (equality) is not crossing, and a NaN (a warm-up) on
    either bar is no cross. Bar 0 never crosses."""
    fast = np.asarray(fast, dtype=np.float64)
    slow = np.broadcast_to(np.asarray(slow, dtype=np.float64), fast.shape)
    up = np.zeros(fast.shape, dtype=bool)
    down = np.zeros(fast.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        up[1:] = (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])
        down[1:] = (fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])
    return up, down


def long_short_targets(fast: np.ndarray, slow: np.ndarray | float, *, size: float = 1.0) -> np.ndarray:
    """Always-in-the-market long/short targets from crosses: ``+size`` from a bar where ``fast`` crosses above
    ``slow``, ``-size`` from a cross below, the previous target held otherwise, 0 before the first cross.

    The explicit form of what ``np.sign(fast - slow)`` only approximates: ``np.sign`` is 0 (flat) on a tie and
    NaN ("hold" to the engine) in a warm-up, and enters on the first bar instead of waiting for a cross.
    Signals are known at the bar's close; the engine fills them ``entry_lag_bars`` later. A flip is one order
    (see :mod:`quant_platform.engine.round_trips` for how it splits into two round trips).
    """
    if not np.isfinite(size) or size <= 0:
        raise ValueError(f"size must be a finite positive weight, got {size}")
    up, down = crossovers(fast, slow)
    event = np.where(up, size, np.where(down, -size, np.nan))
    flat = event.reshape(event.shape[0], -1)
    bars = np.arange(flat.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(np.isnan(flat), -1, bars), axis=0)
    held = np.where(last >= 0, flat[np.maximum(last, 0), np.arange(flat.shape[1])[None, :]], 0.0)
    return np.ascontiguousarray(held.reshape(event.shape))
