"""Validation library (Dagster-free): purged folds, CPCV, PSR/DSR/MinTRL, bootstrap, effective trials, stress,
and the Stage A / Stage B computations. Pure functions on Polars/NumPy in, Polars/NumPy out."""

from quant_platform.validation.bootstrap import (
    BootstrapResult,
    stationary_bootstrap,
    stationary_bootstrap_indices,
)
from quant_platform.validation.cpcv import CombinatorialPurgedKFold, assemble_path_returns, cpcv_path_sharpes
from quant_platform.validation.folds import AnchoredTemporalFolds, PurgedKFold, WalkForward, embargo_count
from quant_platform.validation.sharpe import (
    SharpeUnits,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sample_moments,
)
from quant_platform.validation.stage_a import StageAConfig, StageAResult, stage_a_screen
from quant_platform.validation.stage_b import StageBConfig, StageBResult, gate_funnel, stage_b_evaluate
from quant_platform.validation.stress import (
    StressScenario,
    apply_correlation_spike,
    apply_scenario_to_prices,
    apply_scenario_to_returns,
    apply_vol_shock,
    standard_scenarios,
)
from quant_platform.validation.trials import effective_number_of_trials

__all__ = [
    "AnchoredTemporalFolds",
    "BootstrapResult",
    "CombinatorialPurgedKFold",
    "PurgedKFold",
    "SharpeUnits",
    "StageAConfig",
    "StageAResult",
    "StageBConfig",
    "StageBResult",
    "StressScenario",
    "WalkForward",
    "apply_correlation_spike",
    "apply_scenario_to_prices",
    "apply_scenario_to_returns",
    "apply_vol_shock",
    "assemble_path_returns",
    "cpcv_path_sharpes",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_from_trials",
    "effective_number_of_trials",
    "embargo_count",
    "expected_max_sharpe",
    "gate_funnel",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "sample_moments",
    "stage_a_screen",
    "stage_b_evaluate",
    "standard_scenarios",
    "stationary_bootstrap",
    "stationary_bootstrap_indices",
]
