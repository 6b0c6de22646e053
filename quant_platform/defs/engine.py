"""The ``BacktestEngine`` resource: Dagster configuration for :class:`quant_platform.engine.EngineConfig`.

Fields mirror ``EngineConfig`` one for one with the same defaults (a test keeps them in step); the
resource only builds the frozen config and calls the library, so assets never construct engine configs
by hand and a run's config is visible in the Dagster UI.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from quant_platform.engine import (
    ENGINE_VERSION,
    OUTCOME_KEYS,
    BacktestResult,
    EngineConfig,
    OutcomeTally,
    SweepResult,
    run_backtest,
    run_sweep,
)

_DEFAULTS = EngineConfig()


class BacktestEngine(dg.ConfigurableResource):
    """Replays target weights through the engine with this configuration (see ``EngineConfig``)."""

    initial_capital: float = _DEFAULTS.initial_capital
    fill_price: str = _DEFAULTS.fill_price
    entry_lag_bars: int = _DEFAULTS.entry_lag_bars
    latency_bars: int = _DEFAULTS.latency_bars
    liquidity: str = _DEFAULTS.liquidity
    taker_fee_bps: float = _DEFAULTS.taker_fee_bps
    maker_fee_bps: float = _DEFAULTS.maker_fee_bps
    slippage_base_bps: float = _DEFAULTS.slippage_base_bps
    slippage_vol_coef: float = _DEFAULTS.slippage_vol_coef
    slippage_impact_bps: float = _DEFAULTS.slippage_impact_bps
    slippage_noise_bps: float = _DEFAULTS.slippage_noise_bps
    max_participation: float = _DEFAULTS.max_participation
    max_slippage_bps: float = _DEFAULTS.max_slippage_bps
    max_symbol_weight: float = _DEFAULTS.max_symbol_weight
    max_gross_weight: float = _DEFAULTS.max_gross_weight
    hard_max_abs_weight: float = _DEFAULTS.hard_max_abs_weight
    allow_short: bool = _DEFAULTS.allow_short
    settle_funding: bool = _DEFAULTS.settle_funding
    min_observation_days: int = _DEFAULTS.min_observation_days
    min_completed_runs: int = _DEFAULTS.min_completed_runs
    daily_vol_floor: float = _DEFAULTS.daily_vol_floor
    seed: int = _DEFAULTS.seed
    sizing: str = _DEFAULTS.sizing

    @property
    def engine_version(self) -> str:
        return ENGINE_VERSION

    def engine_config(self, **overrides: Any) -> EngineConfig:
        """The frozen ``EngineConfig`` of this resource, with optional per-call ``overrides`` (e.g. a stress
        scenario's ``latency_bars=1``); invalid values raise ``ValueError`` naming the field."""
        values = {name: getattr(self, name) for name in _DEFAULTS.to_dict()}
        return EngineConfig(**values).replace(**overrides) if overrides else EngineConfig(**values)

    def backtest(
        self,
        bars: pl.DataFrame,
        targets: pl.DataFrame | np.ndarray,
        funding: pl.DataFrame | None = None,
        *,
        completed_runs: int = 1,
        **overrides: Any,
    ) -> BacktestResult:
        """:func:`quant_platform.engine.run_backtest` with this resource's config."""
        return run_backtest(
            bars, targets, self.engine_config(**overrides), funding, completed_runs=completed_runs
        )

    def sweep(
        self,
        close: np.ndarray,
        targets: np.ndarray,
        *,
        overrides: dict[str, Any] | None = None,
        **arrays: Any,
    ) -> SweepResult:
        """:func:`quant_platform.engine.run_sweep` with this resource's config (``arrays``: open, high, …)."""
        return run_sweep(close, targets, self.engine_config(**(overrides or {})), **arrays)


def order_outcome_metadata(source: OutcomeTally | BacktestResult | SweepResult) -> dict[str, Any]:
    """Dagster metadata of the order outcomes (see :mod:`quant_platform.engine.outcomes`) of one run, one
    sweep, or every run recorded by ``record_order_outcomes()``: one ``engine_order_outcomes`` JSON entry, and
    the three silent-outcome counts (rejected, clipped, unfilled at the end) as their own integer entries so
    the UI can plot them across materializations."""
    if isinstance(source, OutcomeTally):
        counts = source.as_dict()
    elif isinstance(source, SweepResult):
        summary = source.summary
        counts = {"engine_runs": 1, "strategy_columns": summary.height}
        counts |= {k: int(summary[k].sum()) for k in OUTCOME_KEYS}
    else:
        counts = {"engine_runs": 1, "strategy_columns": 1} | {k: int(source.metrics[k]) for k in OUTCOME_KEYS}
    return {
        "engine_order_outcomes": dg.MetadataValue.json(counts),
        **{
            f"engine_{k}": dg.MetadataValue.int(counts[k])
            for k in ("n_orders_rejected", "n_orders_clipped", "n_orders_unfilled_at_end")
        },
    }
