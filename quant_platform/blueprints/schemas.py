"""Pandera schema of the ``strategy_blueprints`` table: one row per compiled blueprint (one per Stage-B
survivor), the same content as its ``blueprints.jsonl`` line (``blueprint_json`` is that exact line)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

_SHA256 = r"^[0-9a-f]{64}$"


class StrategyBlueprints(pa.DataFrameModel):
    """A blueprint's id, its NautilusTrader import paths and config, lineage, gate results and costs."""

    blueprint_id: str = pa.Field(unique=True, str_matches=_SHA256)
    runset_id: str = pa.Field(str_matches=_SHA256)
    runset_name: str
    resolution_hash: str = pa.Field(str_matches=_SHA256)
    ontology_hash: str
    candidate_id: str = pa.Field(unique=True)
    family: str
    event_type: str
    symbol: str
    template: str
    state_column: str
    state_value: str
    horizon_bars: pl.Int32 = pa.Field(ge=1)
    entry_lag_bars: pl.Int32 = pa.Field(ge=1)
    bar_minutes: pl.Int32 = pa.Field(ge=1)
    sign_rule: str = pa.Field(isin=["from_direction", "fixed"])
    target_weight: pl.Float64 = pa.Field(gt=0)
    instrument_id: str
    bar_type: str
    strategy_path: str
    config_path: str
    config_json: str
    sharpe_ann: pl.Float64 = pa.Field(nullable=True)
    psr: pl.Float64 = pa.Field(nullable=True, ge=0.0, le=1.0)
    dsr: pl.Float64 = pa.Field(nullable=True, ge=0.0, le=1.0)
    dsr_n_trials_total: pl.Int64
    cpcv_sharpe_p10: pl.Float64 = pa.Field(nullable=True)
    cpcv_sharpe_median: pl.Float64 = pa.Field(nullable=True)
    bootstrap_sharpe_p05: pl.Float64 = pa.Field(nullable=True)
    stress_min_sharpe: pl.Float64 = pa.Field(nullable=True)
    taker_fee_bps: pl.Float64 = pa.Field(ge=0)
    slippage_base_bps: pl.Float64 = pa.Field(ge=0)
    fill_price: str
    engine_config_id: str = pa.Field(str_matches=_SHA256)
    engine_version: str
    blueprint_json: str

    class Config:
        strict = True
