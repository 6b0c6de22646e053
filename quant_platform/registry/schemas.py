"""One pandera schema per registry fact type, and the exact polars schema every fact file is written with.

Every fact carries ``written_at`` (UTC, ms). Facts are append-only: a fact is never edited; the newest or
the earliest fact per key is chosen by readers as documented per type in ``registry.facts``.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.engines.polars_engine import DateTime

from quant_platform.registry.names import CONTENT_ID_PATTERN, NAME_PATTERN
from quant_platform.registry.trials import TRIAL_KINDS

UTC_MS = DateTime(time_zone="UTC", time_unit="ms")  # type: ignore[call-arg]
_HEX = CONTENT_ID_PATTERN.pattern
_NAME = NAME_PATTERN.pattern


class DatasetFacts(pa.DataFrameModel):
    """A dataset declaration: ``dataset_id`` is bound once to ``content_hash`` (of ``definition_json``)."""

    dataset_id: str = pa.Field(str_matches=_NAME)
    content_hash: str = pa.Field(str_matches=_HEX)
    definition_json: str
    source: str
    assets: pl.List(pl.String)  # type: ignore[valid-type]
    symbols: pl.List(pl.String)  # type: ignore[valid-type]
    first_day: pl.Date
    last_day: pl.Date = pa.Field(nullable=True)
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True


class RunFacts(pa.DataFrameModel):
    """A registered run; ``run_id`` is derived from its datasets, strategy hash, engine version and seed."""

    run_id: str = pa.Field(str_matches=_HEX)
    dataset_ids: pl.List(pl.String)  # type: ignore[valid-type]
    strategy_hash: str = pa.Field(str_matches=_HEX)
    engine_version: str
    seed: pl.Int64
    runset_id: str = pa.Field(nullable=True, str_matches=_HEX)
    dagster_run_id: str = pa.Field(nullable=True)
    config_json: str
    run_source: str
    score_source: str
    data_regime: str
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True


class RunSetFacts(pa.DataFrameModel):
    """A RunSet: the human name (the Dagster partition key) bound to the spec and its content id."""

    runset_name: str = pa.Field(str_matches=_NAME)
    runset_id: str = pa.Field(str_matches=_HEX)
    spec_json: str
    dataset_id: str = pa.Field(str_matches=_NAME)
    mode: str = pa.Field(isin=["exploratory", "reproducible"])
    tags: pl.List(pl.String)  # type: ignore[valid-type]
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True


class ResolutionFacts(pa.DataFrameModel):
    """One resolve: one row per (asset, day) selected; a never-materialized partition has null hash/path."""

    runset_id: str = pa.Field(str_matches=_HEX)
    runset_name: str = pa.Field(str_matches=_NAME)
    resolution_hash: str = pa.Field(str_matches=_HEX)
    resolver_version: str
    as_of: UTC_MS  # type: ignore[valid-type]
    range_start: pl.Date
    range_end: pl.Date
    asset: str
    partition: str
    content_hash: str = pa.Field(nullable=True, str_matches=_HEX)
    path: str = pa.Field(nullable=True)
    version_written_at: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    historical: bool
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True


class FreezeFacts(pa.DataFrameModel):
    """A RunSet pinned to one resolution. The earliest freeze per RunSet is the pin."""

    runset_id: str = pa.Field(str_matches=_HEX)
    runset_name: str = pa.Field(str_matches=_NAME)
    resolution_hash: str = pa.Field(str_matches=_HEX)
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True


class TrialFacts(pa.DataFrameModel):
    """The trial ledger, long format: one row per (evaluation, metric), an evaluation being
    ``(stage, kind, trial_id, sub_id)`` (``registry.trials``); one without metrics has one row with null
    ``metric``/``value`` so it is still counted. ``value`` may be NaN (a failed evaluation)."""

    runset_id: str = pa.Field(str_matches=_HEX)
    stage: str = pa.Field(str_matches=_NAME)
    kind: str = pa.Field(isin=list(TRIAL_KINDS))
    trial_id: str = pa.Field(str_length={"min_value": 1, "max_value": 200})
    sub_id: str = pa.Field(str_length={"min_value": 0, "max_value": 200})
    family: str = pa.Field(str_length={"min_value": 1, "max_value": 200})
    metric: str = pa.Field(nullable=True)
    value: pl.Float64 = pa.Field(nullable=True)
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True


class RunObservationFacts(pa.DataFrameModel):
    """One observed UTC day of one run of a governance candidate (``governance.observations``)."""

    run_id: str = pa.Field(str_matches=_HEX)
    candidate_id: str = pa.Field(str_length={"min_value": 1, "max_value": 200})
    day: pl.Date
    status: str = pa.Field(isin=["completed", "running", "failed"])
    daily_return: pl.Float64 = pa.Field(nullable=True)
    orders_submitted: pl.Int64 = pa.Field(ge=0)
    orders_rejected: pl.Int64 = pa.Field(ge=0)
    slippage_bps: pl.Float64 = pa.Field(nullable=True)
    schema_version: str
    written_at: UTC_MS  # type: ignore[valid-type]

    class Config:
        strict = True

    @pa.dataframe_check
    def rejects_within_orders(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("orders_rejected") <= pl.col("orders_submitted"))


FACT_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "datasets": DatasetFacts,
    "runs": RunFacts,
    "runsets": RunSetFacts,
    "resolutions": ResolutionFacts,
    "freezes": FreezeFacts,
    "trials": TrialFacts,
    "run_observations": RunObservationFacts,
}
