"""The bridge (Dagster-free): phase-2 candidates -> simple rule strategies -> the backtest engine under
realistic and stressed costs -> a tradability verdict with reasons (the ``bridge_evaluation`` table).

Public API: :func:`evaluate_bridge`, :func:`rule_entries`, :func:`rule_targets`, :func:`scenarios`,
:func:`default_engine_config`, :class:`BridgeEvaluation` (schema).
"""

from quant_platform.bridge.evaluate import (
    Scenario,
    default_engine_config,
    evaluate_bridge,
    scenario_config,
    scenario_metrics,
    scenarios,
    tradability,
)
from quant_platform.bridge.rules import rule_entries, rule_targets
from quant_platform.bridge.schemas import BridgeEvaluation

__all__ = [
    "BridgeEvaluation",
    "Scenario",
    "default_engine_config",
    "evaluate_bridge",
    "rule_entries",
    "rule_targets",
    "scenario_config",
    "scenario_metrics",
    "scenarios",
    "tradability",
]
