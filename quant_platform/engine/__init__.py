"""Backtest engine (Dagster-free): replays target positions on bars with costs, funding and risk caps.

Public API: :func:`run_backtest`, :func:`run_sweep`, :func:`signals_to_targets`, :func:`long_short_targets`,
:func:`crossovers`, :class:`EngineConfig`,
:data:`ENGINE_VERSION`, and the result types.
"""

from quant_platform.engine.backtest import BacktestResult, SweepResult, run_backtest, run_sweep
from quant_platform.engine.config import ENGINE_VERSION, FILL_PRICES, EngineConfig
from quant_platform.engine.metrics import SHARPE_METHOD, STATUS_INSUFFICIENT, STATUS_OK
from quant_platform.engine.outcomes import OUTCOME_KEYS, OutcomeTally, record_order_outcomes
from quant_platform.engine.signals import crossovers, long_short_targets, signals_to_targets
from quant_platform.engine.targets import TargetChanges, changes_from_dense, changes_from_signals

__all__ = [
    "ENGINE_VERSION",
    "FILL_PRICES",
    "OUTCOME_KEYS",
    "SHARPE_METHOD",
    "STATUS_INSUFFICIENT",
    "STATUS_OK",
    "BacktestResult",
    "EngineConfig",
    "OutcomeTally",
    "SweepResult",
    "TargetChanges",
    "changes_from_dense",
    "changes_from_signals",
    "crossovers",
    "long_short_targets",
    "record_order_outcomes",
    "run_backtest",
    "run_sweep",
    "signals_to_targets",
]
