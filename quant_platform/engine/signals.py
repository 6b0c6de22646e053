"""Entry/exit signals → target weights, with the state machine of vectorbt's ``from_signals`` defaults.

An entry sets the target to ``size`` (``-size`` for ``direction="short"``), an exit sets it to 0; an entry
while already in the position and an exit while flat change nothing; an entry and an exit on the same bar
cancel out (both ignored). Because each event sets the state to a fixed value, the state is the last event
carried forward, which is a vectorized forward fill rather than a loop over bars.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from quant_platform.engine.arrays import forward_fill


def signals_to_targets(
    entries: np.ndarray,
    exits: np.ndarray,
    *,
    size: float = 1.0,
    direction: Literal["long", "short"] = "long",
) -> np.ndarray:
    """Boolean ``entries``/``exits`` ``[T]`` or ``[T, K]`` → target weights of the same shape (float64)."""
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
    signed = size if direction == "long" else -size
    enter = entries & ~exits
    leave = exits & ~entries
    event = enter | leave
    value = np.where(enter, signed, 0.0)
    # forward_fill works along the last axis: move bars last, then back.
    filled = forward_fill(np.moveaxis(value, 0, -1), np.moveaxis(event, 0, -1), initial=0.0)
    return np.ascontiguousarray(np.moveaxis(filled, -1, 0))
