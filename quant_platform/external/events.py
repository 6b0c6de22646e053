"""External records as events of the ``EXTERNAL_INFORMATION`` family (spec/events, spec/multiplicity).

One event per cluster head and linked symbol, only from rows a model may learn from (no synthetic links;
optionally no low tiers): ``CALLER_ALERT`` (direction = the alert's side), ``NEWS_SHOCK`` (the sign of the
tone), ``MACRO_SURPRISE`` (the sign of value - prior). The event bar is the bar during which the record became
available (``available_at``), never the publish stamp: known at that bar's close, traded from the next bar at
the earliest, like every event. ``source_key`` says which information source it is (the caller, the news
source, the macro series), so discovery can test each source (:mod:`quant_platform.discovery.sources`).
"""

from __future__ import annotations

import polars as pl

from quant_platform.core.hashing import canonical_hash
from quant_platform.external.config import ALERT, MACRO, NEWS, ExternalSpec
from quant_platform.external.pipeline import training_view

EVENT_TYPES = {ALERT: "CALLER_ALERT", NEWS: "NEWS_SHOCK", MACRO: "MACRO_SURPRISE"}
FAMILY = "EXTERNAL_INFORMATION"


def external_market_events(
    events: pl.DataFrame,
    spec: ExternalSpec,
    bar_minutes: int,
    *,
    drop_low_tier: bool = False,
    sources: list[str] | None = None,
    max_tier: int | None = None,
) -> pl.DataFrame:
    """``event_id, symbol, ts, event_type, family, direction, severity, source_key, tier`` (one row per
    (event type, symbol, bar, source); several clusters of one source in one bar collapse into the first).
    ``sources`` keeps only those source keys (callers, news sources, macro series); ``max_tier`` only tiers up
    to it (a RunSet's filters)."""
    rows = training_view(events, spec, drop_low_tier).filter(pl.col("is_cluster_head"))
    if max_tier is not None:
        rows = rows.filter(pl.col("tier") <= max_tier)
    keyed = rows.with_columns(
        event_type=pl.col("kind").replace_strict(EVENT_TYPES, return_dtype=pl.String),
        source_key=pl.when(pl.col("kind") == ALERT)
        .then(pl.col("caller_id"))
        .when(pl.col("kind") == MACRO)
        .then(pl.col("series_id"))
        .otherwise(pl.col("source")),
        ts=pl.col("available_at").dt.truncate(f"{bar_minutes}m"),
    )
    if sources is not None:
        keyed = keyed.filter(pl.col("source_key").is_in(sources))
    out = (
        keyed.sort("available_at", "record_uid")
        .unique(["event_type", "symbol", "ts", "source_key"], keep="first", maintain_order=True)
        .select(
            "symbol",
            "ts",
            "event_type",
            pl.lit(FAMILY).alias("family"),
            pl.col("side").cast(pl.Int8).alias("direction"),
            pl.col("quality").alias("severity"),
            "source_key",
            "tier",
        )
    )
    ids = [
        canonical_hash([e, s, t.isoformat(), k])
        for e, s, t, k in out.select("event_type", "symbol", "ts", "source_key").iter_rows()
    ]
    return (
        out.with_columns(pl.Series("event_id", ids, dtype=pl.String))
        .select("event_id", pl.all().exclude("event_id"))
        .sort("ts", "symbol", "event_type", "source_key")
    )
