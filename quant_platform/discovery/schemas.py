"""Pandera schema of ``hypothesis_candidates`` (one row per event x symbol x horizon x template x state)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.engines.polars_engine import DateTime

UTC_MS = DateTime(time_zone="UTC", time_unit="ms")  # type: ignore[call-arg]


class HypothesisCandidates(pa.DataFrameModel):
    """Phase-2 candidates: raw and shrunken after-cost statistics, FDR, gates, ids and the ontology hash."""

    family: str
    event_type: str
    symbol: str
    horizon_bars: pl.Int32 = pa.Field(ge=1)
    template: str
    state_column: str
    state_value: str
    n_observations: pl.Int64 = pa.Field(ge=1)
    mean_net_bps: pl.Float64
    std_net_bps: pl.Float64 = pa.Field(nullable=True, ge=0)
    mean_gross_signed_bps: pl.Float64
    n_first_half: pl.Int64 = pa.Field(ge=0)
    n_second_half: pl.Int64 = pa.Field(ge=0)
    mean_gross_first_half_bps: pl.Float64 = pa.Field(nullable=True)
    mean_gross_second_half_bps: pl.Float64 = pa.Field(nullable=True)
    first_event_ts: UTC_MS  # type: ignore[valid-type]
    last_event_ts: UTC_MS  # type: ignore[valid-type]
    se_net_bps: pl.Float64 = pa.Field(nullable=True)
    t_statistic: pl.Float64 = pa.Field(nullable=True)
    p_value: pl.Float64 = pa.Field(nullable=True)
    tested: pl.Boolean
    untested_reason: str = pa.Field(nullable=True)
    shrink_global_mean_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_global_se_bps: pl.Float64 = pa.Field(nullable=True, ge=0)
    shrink_family_mean_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_family_se_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_family_weight: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    shrink_family_tau2: pl.Float64 = pa.Field(nullable=True, ge=0)
    shrink_event_mean_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_event_se_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_event_weight: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    shrink_event_tau2: pl.Float64 = pa.Field(nullable=True, ge=0)
    shrink_symbol_mean_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_symbol_se_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_symbol_weight: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    shrink_symbol_tau2: pl.Float64 = pa.Field(nullable=True, ge=0)
    shrink_state_mean_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_state_se_bps: pl.Float64 = pa.Field(nullable=True)
    shrink_state_weight: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    shrink_state_tau2: pl.Float64 = pa.Field(nullable=True, ge=0)
    mean_net_shrunk_bps: pl.Float64 = pa.Field(nullable=True)
    se_net_shrunk_bps: pl.Float64 = pa.Field(nullable=True)
    q_value: pl.Float64 = pa.Field(nullable=True)
    group_p_value: pl.Float64 = pa.Field(nullable=True)
    group_q_value: pl.Float64 = pa.Field(nullable=True)
    fdr_level_within: pl.Float64 = pa.Field(ge=0, le=1)
    passes_fdr: pl.Boolean
    gate_significance_pass: pl.Boolean
    gate_economic_pass: pl.Boolean
    gate_economic_conservative_pass: pl.Boolean
    gate_stability_pass: pl.Boolean
    gate_state_information_pass: pl.Boolean
    gate_significance_reason: str
    gate_economic_reason: str
    gate_economic_conservative_reason: str
    gate_stability_reason: str
    gate_state_information_reason: str
    promotion_track: str = pa.Field(isin=["standard", "fallback_only", "rejected"])
    passes_gates: pl.Boolean
    candidate_id: str = pa.Field(unique=True, str_length={"min_value": 64, "max_value": 64})
    ontology_hash: str
    round_trip_cost_bps: pl.Float64 = pa.Field(ge=0)
    entry_lag_bars: pl.Int32 = pa.Field(ge=1)

    class Config:
        strict = True

    @pa.dataframe_check
    def passing_candidates_are_significant(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.col("passes_gates") | pl.col("passes_fdr"))


HYPOTHESIS_CANDIDATE_COLUMNS = list(HypothesisCandidates.to_schema().columns)
