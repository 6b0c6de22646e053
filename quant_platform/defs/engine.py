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
    BacktestResult,
    EngineConfig,
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
