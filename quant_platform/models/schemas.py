"""Pandera schemas of the model layer's tables (the ``hpo_study`` and ``signal_models`` assets)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

_HEX64 = r"^[0-9a-f]{64}$"


class HpoTrials(pa.DataFrameModel):
    """One row per finished trial of every stage of a RunSet's search."""

    runset_id: str = pa.Field(str_matches=_HEX64)
    resolution_hash: str = pa.Field(str_matches=_HEX64)
    stage: str
    study: str
    number: pl.Int64 = pa.Field(ge=0)
    state: str = pa.Field(isin=["COMPLETE", "PRUNED", "FAIL"])
    value: pl.Float64 = pa.Field(nullable=True)
    params_json: str = pa.Field(str_startswith="{")
    window_start: str
    window_end: str
    candidate: pl.Boolean = pa.Field(nullable=True)  # forward stage only: beat the baseline

    class Config:
        strict = True
        unique = ["stage", "number"]  # noqa: RUF012


class SignalModels(pa.DataFrameModel):
    """The trained model and its frozen baseline: model file text, manifest and out-of-sample numbers."""

    runset_id: str = pa.Field(str_matches=_HEX64)
    resolution_hash: str = pa.Field(str_matches=_HEX64)
    learner: str = pa.Field(isin=["lightgbm", "baseline"])
    model_text: str = pa.Field(str_length={"min_value": 1})
    model_sha256: str = pa.Field(str_matches=_HEX64)
    manifest_json: str = pa.Field(str_startswith="{")
    params_json: str = pa.Field(str_startswith="{")
    candidate: pl.Boolean
    candidate_reasons: str
    oos_ic: pl.Float64 = pa.Field(nullable=True)
    oos_pnl_after_cost: pl.Float64
    oos_max_drawdown: pl.Float64 = pa.Field(ge=0.0)
    oos_sharpe_daily: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = ["learner"]  # noqa: RUF012
