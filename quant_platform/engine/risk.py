"""Pre-trade risk: hard constraints reject orders, soft exposure caps scale targets deterministically.

An *order* is submitted at a signal bar whenever the requested target differs from the previous request
(NaN means "no new instruction": the previous request stands). A request that breaks a hard constraint
(``|w| > hard_max_abs_weight``, or ``w < 0`` with ``allow_short=False``) is rejected: it is counted, and
the last *accepted* target stays in force until a valid request arrives.

Accepted targets are then capped, in this order (deterministic, no optimisation involved):
1. per symbol/column: ``w ← sign(w) · min(|w|, max_symbol_weight)``;
2. gross, across the symbols of one portfolio at each bar: ``w ← w · min(1, max_gross_weight / Σ|w|)``.
   Independent sweep columns are separate one-asset portfolios, so for them the gross cap is a per-column cap.

An accepted order whose weight is scaled down by either cap at its own bar is counted as *clipped*
(``n_orders_clipped``; a gross scale-down of the other symbols held at that bar is a consequence, not an
order, and is not counted). Both caps bound target weights when an order is placed; nothing here rebalances a held position as prices
move, so marked exposure may drift past the caps between orders. The backtest reports such drift as
``gross_cap_breach_steps`` (steps whose marked gross exposure, relative to initial capital as
``max_gross_exposure`` is, exceeds ``max_gross_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_platform.engine.config import EngineConfig
from quant_platform.engine.targets import TargetChanges, changes_from_dense, drop_repeats

REJECT_ABOVE_HARD_MAX = "abs_weight_above_hard_max"
REJECT_SHORT_NOT_ALLOWED = "short_not_allowed"


@dataclass(frozen=True)
class RiskOutcome:
    accepted: TargetChanges  # capped accepted targets (change points)
    submitted: np.ndarray  # (K,) orders submitted per column
    rejected: np.ndarray  # (K,) orders rejected per column
    rejected_column: np.ndarray  # sparse list of rejected orders (k-major)
    rejected_bar: np.ndarray
    rejected_weight: np.ndarray
    rejected_reason: np.ndarray  # str array of reason codes
    # (K,) accepted orders whose weight in force was scaled down by a cap (per symbol or gross)
    clipped: np.ndarray


def apply_risk_limits(requests: TargetChanges, config: EngineConfig, *, portfolio: bool) -> RiskOutcome:
    """Reject, then cap, requested target changes (see module docstring)."""
    n_cols = requests.n_columns
    w = requests.weight
    above = np.abs(w) > config.hard_max_abs_weight
    bad = above | ((w < 0.0) & (not config.allow_short))
    rejected = requests.select(bad)
    per_symbol_cap = (
        config.max_symbol_weight if portfolio else min(config.max_symbol_weight, config.max_gross_weight)
    )
    kept = requests.select(~bad)
    capped = TargetChanges(
        kept.column, kept.bar, np.clip(kept.weight, -per_symbol_cap, per_symbol_cap), n_cols, requests.n_bars
    )
    was_clipped = capped.weight != kept.weight
    accepted = drop_repeats(capped)
    if portfolio and n_cols > 1 and accepted.weight.size:
        dense = accepted.dense()
        gross = np.abs(dense).sum(axis=0)
        if (gross > config.max_gross_weight).any():
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(gross > config.max_gross_weight, config.max_gross_weight / gross, 1.0)
            accepted = changes_from_dense(dense * scale[None, :], bars_axis=1)
            # the order's own (non-zero) weight was scaled down by the gross cap at its bar
            was_clipped |= (scale[kept.bar] < 1.0) & (capped.weight != 0.0)
    return RiskOutcome(
        accepted=accepted,
        submitted=np.bincount(requests.column, minlength=n_cols),
        rejected=np.bincount(rejected.column, minlength=n_cols),
        rejected_column=rejected.column,
        rejected_bar=rejected.bar,
        rejected_weight=rejected.weight,
        rejected_reason=np.where(above[bad], REJECT_ABOVE_HARD_MAX, REJECT_SHORT_NOT_ALLOWED),
        clipped=np.bincount(kept.column[was_clipped], minlength=n_cols),
    )
