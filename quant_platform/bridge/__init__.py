"""The bridge (Dagster-free): phase-2 candidates -> simple rule strategies -> the backtest engine under
realistic and stressed costs -> a tradability verdict with reasons (the ``bridge_evaluation`` table).

Public API: :func:`evaluate_bridge`, :func:`rule_entries`, :func:`rule_targets`, :func:`scenarios`,
:func:`default_engine_config`, :class:`BridgeEvaluation` (schema); the survivors' engine-replayed return
streams (:func:`rule_streams`, :func:`stressed_rule_streams`) and Stage A / Stage B over them
(:func:`screen_bridge_survivors`, :func:`evaluate_stage_a_survivors`, trial-ledger rows).
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
from quant_platform.bridge.stages import (
    STAGE_A,
    STAGE_B,
    dsr_trials_from_ledger,
    evaluate_stage_a_survivors,
    screen_bridge_survivors,
    stage_a_trials,
    stage_b_trials,
)
from quant_platform.bridge.streams import (
    bridge_candidates,
    rule_streams,
    stress_bars,
    stressed_rule_streams,
)

__all__ = [
    "STAGE_A",
    "STAGE_B",
    "BridgeEvaluation",
    "Scenario",
    "bridge_candidates",
    "default_engine_config",
    "dsr_trials_from_ledger",
    "evaluate_bridge",
    "evaluate_stage_a_survivors",
    "rule_entries",
    "rule_streams",
    "rule_targets",
    "scenario_config",
    "scenario_metrics",
    "scenarios",
    "screen_bridge_survivors",
    "stage_a_trials",
    "stage_b_trials",
    "stress_bars",
    "stressed_rule_streams",
    "tradability",
]
