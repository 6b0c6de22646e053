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
