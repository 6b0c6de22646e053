"""Pre-trade risk: hard constraints reject orders, soft exposure caps scale targets deterministically.

An *order* is submitted at a signal bar whenever the requested target differs from the previous request
(NaN means "no new instruction": the previous request stands). A request that breaks a hard constraint
(``|w| > hard_max_abs_weight``, or ``w < 0`` with ``allow_short=False``) is rejected: it is counted, and
the last *accepted* target stays in force until a valid request arrives.

Accepted targets are then capped, in this order (deterministic, no optimisation involved):
1. per symbol/column: ``w ← sign(w) · min(|w|, max_symbol_weight)``;
2. gross, across the symbols of one portfolio at each bar: ``w ← w · min(1, max_gross_weight / Σ|w|)``.
   Independent sweep columns are separate one-asset portfolios, so for them the gross cap is a per-column cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_platform.engine.arrays import forward_fill
from quant_platform.engine.config import EngineConfig

REJECT_ABOVE_HARD_MAX = "abs_weight_above_hard_max"
REJECT_SHORT_NOT_ALLOWED = "short_not_allowed"


@dataclass(frozen=True)
class RiskOutcome:
    target_weight: np.ndarray  # (K, T) capped accepted target at each signal bar
    submitted: np.ndarray  # (K,) orders submitted per column
    rejected: np.ndarray  # (K,) orders rejected per column
    rejected_column: np.ndarray  # sparse list of rejected orders (k-major)
    rejected_bar: np.ndarray
    rejected_weight: np.ndarray
    rejected_reason: np.ndarray  # object array of reason codes


def apply_risk_limits(requested: np.ndarray, config: EngineConfig, *, portfolio: bool) -> RiskOutcome:
    """Turn requested targets ``(K, T)`` (NaN = hold the previous request) into capped accepted targets."""
    requested = np.asarray(requested, dtype=np.float64)
    if np.isinf(requested).any():
        raise ValueError("target weights must be finite (NaN means 'hold'); got an infinite value")
    has_request = ~np.isnan(requested)
    standing = forward_fill(requested, has_request, initial=0.0)

    changed = np.empty(standing.shape, dtype=bool)
    changed[:, 0] = standing[:, 0] != 0.0
    np.not_equal(standing[:, 1:], standing[:, :-1], out=changed[:, 1:])

    above_max = np.abs(standing) > config.hard_max_abs_weight
    short_banned = (standing < 0.0) if not config.allow_short else np.zeros_like(above_max)
    violating = above_max | short_banned
    if violating.any():
        accepted = forward_fill(standing, ~violating, initial=0.0)
        rejected_mask = changed & violating
    else:
        accepted = standing
        rejected_mask = np.zeros_like(changed)

    rej_col, rej_bar = np.nonzero(rejected_mask)
    reasons = np.where(above_max[rej_col, rej_bar], REJECT_ABOVE_HARD_MAX, REJECT_SHORT_NOT_ALLOWED).astype(
        object
    )

    per_symbol_cap = (
        config.max_symbol_weight if portfolio else min(config.max_symbol_weight, config.max_gross_weight)
    )
    target = np.clip(accepted, -per_symbol_cap, per_symbol_cap)
    if portfolio and target.shape[0] > 1:
        gross = np.abs(target).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(gross > config.max_gross_weight, config.max_gross_weight / gross, 1.0)
        target = target * scale[None, :]

    return RiskOutcome(
        target_weight=target,
        submitted=changed.sum(axis=1),
        rejected=rejected_mask.sum(axis=1),
        rejected_column=rej_col,
        rejected_bar=rej_bar,
        rejected_weight=standing[rej_col, rej_bar],
        rejected_reason=reasons,
    )
