"""Raw external records → ``ExternalEvents`` + ``ExternalQuarantine``: normalize, quarantine, link, dedup,
score. Every raw record is kept (one or more linked rows) or quarantined with one reason: nothing is lost.

Duplicates: the same record delivered twice (same source and record id — or, without an id, the same content)
is quarantined as ``duplicate``; the same id with *different* content as ``conflicting_duplicate`` (the first
delivery, by ingest time then origin, is kept). Different records of one story are near-duplicates and share
a cluster (:mod:`quant_platform.external.dedup`), all kept.

Quality = tier weight × completeness (share of optional fields present) × 0.5 ** (publish→ingest delay /
half-life): a tier-1 wire with every field, seen at once, scores 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from quant_platform.external.config import ALERT, MACRO, NEWS, ExternalSpec
from quant_platform.external.dedup import cluster_records
from quant_platform.external.linking import link_entities
from quant_platform.external.normalize import (
    CONFLICTING_DUPLICATE,
    UNKNOWN_SYMBOL,
    UNLINKED,
    Normalized,
    Rejection,
    normalize_record,
)
from quant_platform.external.schemas import EVENT_SCHEMA, QUARANTINE_SCHEMA, RAW_SCHEMA

DUPLICATE = "duplicate"


@dataclass(frozen=True)
class ExternalResult:
    events: pl.DataFrame
    quarantine: pl.DataFrame
    report: dict


def _quality(record: Normalized, spec: ExternalSpec) -> float:
    delay = max(0.0, (record.ingested_at - record.published_at).total_seconds())
    freshness = 0.5 ** (delay / spec.quality.freshness_half_life_s)
    completeness = 0.5 + 0.5 * record.optional_present
    return spec.tier_weights[record.tier] * completeness * freshness


def _surprise(record: Normalized, spec: ExternalSpec) -> float | None:
    if record.kind != MACRO or record.fields["prior"] is None:
        return None
    return (record.fields["value"] - record.fields["prior"]) / spec.scale(record.fields["series_id"])


def _direction(record: Normalized, surprise: float | None) -> int:
    if record.kind == ALERT:
        return int(record.fields["side"])
    if record.kind == NEWS:
        tone = record.fields["tone"]
        return 0 if tone is None or tone == 0 else (1 if tone > 0 else -1)
    return 0 if not surprise else (1 if surprise > 0 else -1)


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


def process_external(
    raw: pl.DataFrame, universe: list[str], spec: ExternalSpec | None = None
) -> ExternalResult:
    """Normalize, link, deduplicate and score ``raw`` (``RAW_SCHEMA``) for a symbol ``universe``."""
    spec = spec or ExternalSpec.from_spec()
    if not universe:
        raise ValueError("external records need a non-empty symbol universe to link to")
    quarantine: list[dict] = []
    kept: list[tuple[Normalized, list]] = []
    seen: dict[str, Normalized] = {}
    ordered = raw.sort("ingested_at", "origin")
    for row in ordered.iter_rows(named=True):
        ingested: datetime = row["ingested_at"]

        def reject(reason: str, detail: str, row: dict = row) -> None:
            quarantine.append(
                {
                    **{k: row[k] for k in ("source", "origin", "ingested_at", "payload_json")},
                    "reason": reason,
                    "detail": detail,
                }
            )

        try:
            record = normalize_record(row["source"], row["origin"], ingested, row["payload_json"], spec)
        except Rejection as rejection:
            reject(rejection.reason, rejection.detail)
            continue
        earlier = seen.get(record.record_uid)
        if earlier is not None:
            same = earlier.content_hash == record.content_hash
            reject(
                DUPLICATE if same else CONFLICTING_DUPLICATE,
                f"record {record.source_record_id or record.content_hash[:12]} of {record.source} first seen at "
                f"{earlier.origin}" + ("" if same else " with different content"),
            )
            continue
        links = link_entities(record.kind, record.mentions, universe, spec)
        if not links:
            reason = UNKNOWN_SYMBOL if record.kind == ALERT else UNLINKED
            reject(reason, f"names nothing in the universe: {record.mentions[:3]}")
            continue
        seen[record.record_uid] = record
        kept.append((record, links))
    clusters = cluster_records([record for record, _ in kept], spec)
    rows = []
    for record, links in kept:
        surprise = _surprise(record, spec)
        for link in links:
            rows.append(
                {
                    "record_uid": record.record_uid,
                    "cluster_id": clusters[record.record_uid],
                    "is_cluster_head": clusters[record.record_uid] == record.record_uid,
                    "source": record.source,
                    "kind": record.kind,
                    "tier": record.tier,
                    "primary": record.primary,
                    "quality": _quality(record, spec),
                    "published_at": record.published_at,
                    "ingested_at": record.ingested_at,
                    "available_at": record.available_at,
                    "symbol": link.symbol,
                    "link_method": link.method,
                    "link_synthetic": link.synthetic,
                    "caller_id": record.fields.get("caller_id"),
                    "side": _direction(record, surprise),
                    "headline": record.fields.get("headline"),
                    "tone": record.fields.get("tone"),
                    "series_id": record.fields.get("series_id"),
                    "period": record.fields.get("period"),
                    "value": record.fields.get("value"),
                    "prior": record.fields.get("prior"),
                    "surprise": surprise,
                    "source_record_id": record.source_record_id,
                    "origin": record.origin,
                    "content_hash": record.content_hash,
                }
            )
    events = pl.DataFrame(rows, schema=EVENT_SCHEMA).sort("available_at", "record_uid", "symbol")
    quarantined = pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA)
    report = {
        "raw_records": raw.height,
        "kept_records": len(kept),
        "quarantined_records": quarantined.height,
        "clusters": len(set(clusters.values())),
        "linked_rows": events.height,
        "synthetic_link_rows": int(events["link_synthetic"].sum()),
        "quarantined_by_reason": dict(quarantined.group_by("reason").len().sort("reason").iter_rows()),
        "records_by_source": dict(
            events.unique("record_uid").group_by("source").len().sort("source").iter_rows()
        ),
    }
    if report["kept_records"] + report["quarantined_records"] != report["raw_records"]:
        raise AssertionError(f"external reconciliation broken: {report}")  # raw = kept + quarantined, always
    return ExternalResult(events, quarantined, report)


def training_view(events: pl.DataFrame, spec: ExternalSpec, drop_low_tier: bool = False) -> pl.DataFrame:
    """The rows a model may learn from: no synthetic (broad/fallback) links; with ``drop_low_tier`` no records
    of a tier above ``max_training_tier``."""
    rows = events.filter(~pl.col("link_synthetic"))
    if drop_low_tier:
        rows = rows.filter(pl.col("tier") <= spec.max_training_tier)
    return rows
