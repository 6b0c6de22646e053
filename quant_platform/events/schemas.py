"""Pandera schemas of market_events (long: one row per fired event) and event_flags (wide: one Boolean per
registry event and bar). Event names and families are checked against ``spec/events``."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.events.registry import load_event_registry
from quant_platform.market.schemas import UTC_MS


def _registry_names() -> list[str]:
    return list(load_event_registry().names)


def _registry_families() -> list[str]:
    return list(load_event_registry().families)


class MarketEvents(pa.DataFrameModel):
    """Every detected event: id = sha256 of canonical JSON ``[event_type, symbol, ts]``."""

    event_id: str = pa.Field(unique=True, str_matches=r"^[0-9a-f]{64}$")
    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    event_type: str = pa.Field(isin=_registry_names())
    family: str = pa.Field(isin=_registry_families())
    direction: pl.Int8 = pa.Field(isin=[-1, 0, 1])
    severity: pl.Float64 = pa.Field(ge=0.0)
    trigger: str = pa.Field(str_startswith="{")
    ontology_hash: str = pa.Field(str_length={"min_value": 64, "max_value": 64})

    class Config:
        strict = True

    @pa.dataframe_check
    def family_matches_registry(cls, data: pa.PolarsData) -> pl.LazyFrame:
        registry = load_event_registry()
        mapping = {e.name: e.family for e in registry.events}
        return data.lazyframe.select(
            pl.col("event_type").replace_strict(mapping, default=None) == pl.col("family")
        )


class EventFlags(pa.DataFrameModel):
    """One row per (symbol, bar), one Boolean column per registry event (null = not evaluable: skipped
    event, missing input)."""

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    ontology_hash: str = pa.Field(str_length={"min_value": 64, "max_value": 64})

    class Config:
        strict = False
        unique = ["symbol", "ts"]  # noqa: RUF012

    @pa.dataframe_check
    def one_boolean_per_event(cls, data: pa.PolarsData) -> pl.LazyFrame:
        schema = data.lazyframe.collect_schema()
        ok = all(schema.get(name) == pl.Boolean for name in _registry_names())
        return data.lazyframe.select(pl.lit(ok).alias("flags"))
