"""Point-in-time features (features_v1), cross-symbol context (context_features) and their lookahead proofs.

Public API: :func:`compute_features`, :func:`compute_features_for_day`, :func:`lookback_days`,
:func:`compute_context`, :func:`lookahead_report`. Parameters live in ``spec/features`` and ``spec/states``.
"""

from quant_platform.features.compute import compute_features, compute_features_for_day, lookback_days
from quant_platform.features.context import compute_context
from quant_platform.features.lookahead import lookahead_report

__all__ = [
    "compute_context",
    "compute_features",
    "compute_features_for_day",
    "lookahead_report",
    "lookback_days",
]
