"""Pandera schemas of the external-information tables."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.external.config import KINDS
from quant_platform.market.schemas import UTC_MS

RAW_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "origin": pl.String(),
    "ingested_at": pl.Datetime("ms", "UTC"),
    "payload_json": pl.String(),
}

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "record_uid": pl.String(),
    "cluster_id": pl.String(),
    "is_cluster_head": pl.Boolean(),
    "source": pl.String(),
    "kind": pl.String(),
    "tier": pl.Int32(),
    "primary": pl.Boolean(),
    "quality": pl.Float64(),
    "published_at": pl.Datetime("ms", "UTC"),
    "ingested_at": pl.Datetime("ms", "UTC"),
    "available_at": pl.Datetime("ms", "UTC"),
    "symbol": pl.String(),
    "link_method": pl.String(),
    "link_synthetic": pl.Boolean(),
    "caller_id": pl.String(),
    "side": pl.Int8(),
    "headline": pl.String(),
    "tone": pl.Float64(),
    "series_id": pl.String(),
    "period": pl.String(),
    "value": pl.Float64(),
    "prior": pl.Float64(),
    "surprise": pl.Float64(),
    "source_record_id": pl.String(),
    "origin": pl.String(),
    "content_hash": pl.String(),
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "origin": pl.String(),
    "ingested_at": pl.Datetime("ms", "UTC"),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload_json": pl.String(),
}


class RawExternalRecords(pa.DataFrameModel):
    """What connectors received, unparsed: one row per record with where it came from."""

    source: str
    origin: str
    ingested_at: UTC_MS  # type: ignore[valid-type]
    payload_json: str

    class Config:
        strict = True
        unique = ["source", "origin"]  # noqa: RUF012


class ExternalEvents(pa.DataFrameModel):
    """Normalized, linked, deduplicated, quality-scored records: one row per (record, linked symbol)."""

    record_uid: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    cluster_id: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    is_cluster_head: bool
    source: str
    kind: str = pa.Field(isin=list(KINDS))
    tier: pl.Int32 = pa.Field(ge=1)
    primary: bool
    quality: pl.Float64 = pa.Field(ge=0.0, le=1.0)
    published_at: UTC_MS  # type: ignore[valid-type]
    ingested_at: UTC_MS  # type: ignore[valid-type]
    available_at: UTC_MS  # type: ignore[valid-type]
    symbol: str
    link_method: str = pa.Field(isin=["explicit", "alias", "broad", "market"])
    link_synthetic: bool
    caller_id: str = pa.Field(nullable=True)
    side: pl.Int8 = pa.Field(isin=[-1, 0, 1])
    headline: str = pa.Field(nullable=True)
    tone: pl.Float64 = pa.Field(nullable=True)
    series_id: str = pa.Field(nullable=True)
    period: str = pa.Field(nullable=True)
    value: pl.Float64 = pa.Field(nullable=True)
    prior: pl.Float64 = pa.Field(nullable=True)
    surprise: pl.Float64 = pa.Field(nullable=True)
    source_record_id: str = pa.Field(nullable=True)
    origin: str
    content_hash: str

    class Config:
        strict = True
        unique = ["record_uid", "symbol"]  # noqa: RUF012

    @pa.dataframe_check
    def available_after_ingest(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("available_at") >= pl.col("ingested_at"))
            & (pl.col("available_at") >= pl.col("published_at"))
        )


class ExternalQuarantine(pa.DataFrameModel):
    """A raw record that was not kept, with its reason and the record as received."""

    source: str
    origin: str
    ingested_at: UTC_MS  # type: ignore[valid-type]
    reason: str
    detail: str
    payload_json: str = pa.Field(nullable=True)

    class Config:
        strict = True
