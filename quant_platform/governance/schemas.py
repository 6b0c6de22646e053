"""Pandera schemas of governance tables: the candidates a decision ranks and the champion asset's states."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.governance.config import STATES


class GovernanceCandidates(pa.DataFrameModel):
    """What a decision may promote: one row per candidate (a rule blueprint or a model)."""

    candidate_id: str = pa.Field(str_length={"min_value": 1, "max_value": 200}, unique=True)
    candidate_kind: str = pa.Field(isin=["rule_blueprint", "model"])
    runset_id: str
    schema_version: str

    class Config:
        strict = False


class ChampionStates(pa.DataFrameModel):
    """The ``champion`` asset: every candidate the ledger ever moved, its state after the decision, and the
    decision that produced the table. At most one candidate is live."""

    decision_seq: pl.Int64 = pa.Field(ge=1)
    decision_id: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    candidate_id: str
    state: str = pa.Field(isin=list(STATES))
    allocation: pl.Float64 = pa.Field(ge=0.0, le=1.0)
    since: pl.Date = pa.Field(nullable=True)
    since_decision: pl.Int64
    prod_gated: bool

    class Config:
        strict = True

    @pa.dataframe_check
    def at_most_one_live(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("state") == "live").sum() <= 1)
