"""Pandera schema of ``bridge_evaluation``: one row per (candidate, cost/latency scenario)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl


class BridgeEvaluation(pa.DataFrameModel):
    """Engine replay of each gate-passing candidate's rule under one scenario, with the candidate's verdict."""

    candidate_id: str = pa.Field(str_length={"min_value": 64, "max_value": 64})
    family: str
    event_type: str
    symbol: str
    horizon_bars: pl.Int32 = pa.Field(ge=1)
    template: str
    state_column: str
    state_value: str
    scenario: str
    cost_multiplier: pl.Float64 = pa.Field(gt=0)
    extra_latency_bars: pl.Int32 = pa.Field(ge=0)
    # rule entries left out because their exit cannot fill inside the data (the same in every scenario)
    n_entries_incomplete: pl.Int64 = pa.Field(ge=0)
    n_trades: pl.Int64 = pa.Field(ge=0)
    expectancy_bps: pl.Float64 = pa.Field(nullable=True)
    sharpe_daily: pl.Float64 = pa.Field(nullable=True)
    turnover: pl.Float64 = pa.Field(ge=0)
    status: str
    tradable: pl.Boolean
    verdict_reasons: str
    engine_config_id: str
    ontology_hash: str

    class Config:
        strict = True

    @pa.dataframe_check
    def one_row_per_candidate_and_scenario(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("candidate_id", "scenario").is_duplicated())
