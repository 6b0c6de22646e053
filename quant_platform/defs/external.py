"""External information layer (daily partitions, beside the market layer): ``external_events`` and
``external_quarantined_records`` from the configured connectors (``ExternalDataResource``).

Per day: each source's records are fetched (file drops, a GDELT-like search, a FRED-like series endpoint, or
the synthetic generator over the day's bars), normalized, linked to the universe of that day's ``bars_5m``,
deduplicated into clusters and quality-scored by ``quant_platform.external``. Checks: the schemas (blocking),
the reconciliation raw = kept + quarantined (blocking), and ``sources_reported`` (a warning naming every
configured source that produced nothing for a day: never silent). Metadata: per-source freshness against the
SLOs (P95 publish → ingest, success rate), counts by reason and by source.
"""

from datetime import date

import dagster as dg
import polars as pl
from pydantic import Field

from quant_platform.core.timeutil import parse_day
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import daily_partitions
from quant_platform.defs.resources import MarketDataResource
from quant_platform.defs.tables import markdown_table
from quant_platform.external.config import ExternalSpec
from quant_platform.external.freshness import freshness_table
from quant_platform.external.pipeline import process_external
from quant_platform.external.schemas import ExternalEvents, ExternalQuarantine
from quant_platform.external.sources import DocSearchSource, FileDropSource, SeriesSource, SourceBatch
from quant_platform.external.synthetic import SyntheticExternalConfig, synthetic_external
from quant_platform.market.sources.resilient_http import ResilientHttpClient, RetryPolicy

GROUP = "external"
_RECONCILIATION = "reconciliation"
_REPORTED = "sources_reported"


class ExternalDataResource(dg.ConfigurableResource):
    """Where external records come from: ``synthetic`` (default: planted callers, news and macro over the
    day's synthetic bars), ``files`` (``root``/<source>/<day>/*.jsonl|csv), or ``rest`` (``doc_search_url``
    with ``doc_query`` and/or ``series_url`` with ``series_ids``)."""

    kind: str = "synthetic"
    root: str | None = None
    doc_search_url: str | None = None
    doc_query: str = "bitcoin OR ethereum OR crypto"
    series_url: str | None = None
    series_ids: list[str] = Field(default_factory=list)
    seed: int = 7
    http_timeout_s: float = 10.0
    http_max_attempts: int = 5

    def configured_sources(self, spec: ExternalSpec) -> list[str]:
        if self.kind in ("synthetic", "files"):
            return sorted(spec.sources)
        if self.kind == "rest":
            return [
                s
                for s, url in (("doc_search", self.doc_search_url), ("macro_series", self.series_url))
                if url
            ]
        raise ValueError(f"unknown external data kind {self.kind!r}: synthetic, files or rest")

    def fetch(self, day: date, bars: pl.DataFrame, spec: ExternalSpec) -> list[SourceBatch]:
        if self.kind == "synthetic":
            raw = synthetic_external(bars, SyntheticExternalConfig(seed=self.seed + day.toordinal()))
            return [
                SourceBatch(s, raw.filter(pl.col("source") == s), _empty_quarantine()) for s in spec.sources
            ]
        if self.kind == "files":
            if not self.root:
                raise ValueError("external_data kind 'files' needs root")
            return [FileDropSource(self.root).fetch(s, day) for s in sorted(spec.sources)]
        policy = RetryPolicy(max_attempts=self.http_max_attempts, timeout_s=self.http_timeout_s)
        batches = []
        if self.doc_search_url:
            client = ResilientHttpClient(policy)
            batches.append(
                DocSearchSource(self.doc_search_url, self.doc_query, client).fetch("doc_search", day)
            )
        if self.series_url:
            client = ResilientHttpClient(policy)
            batches.append(
                SeriesSource(self.series_url, self.series_ids, client, spec).fetch("macro_series", day)
            )
        return batches


def _empty_quarantine() -> pl.DataFrame:
    from quant_platform.external.schemas import QUARANTINE_SCHEMA

    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


@dg.multi_asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    outs={
        "external_events": dg.AssetOut(
            description="Caller alerts, news and macro releases: normalized (UTC), linked to the universe's "
            "symbols (method recorded; broad links synthetic), deduplicated into clusters, quality-scored.",
            kinds={"polars", "parquet"},
        ),
        "external_quarantined_records": dg.AssetOut(
            description="External records not kept, each with its reason and the record as received.",
            kinds={"polars", "parquet"},
        ),
    },
    ins={"bars": dg.AssetIn("bars_5m")},
    check_specs=[
        schema_check_spec("external_events", ExternalEvents),
        schema_check_spec("external_quarantined_records", ExternalQuarantine),
        dg.AssetCheckSpec(
            _RECONCILIATION,
            asset="external_events",
            blocking=True,
            description="raw records = kept + quarantined, for every day of the run.",
        ),
        dg.AssetCheckSpec(
            _REPORTED,
            asset="external_events",
            description="every configured source produced records for the day (else named).",
        ),
    ],
)
def ingest_external(
    context: dg.AssetExecutionContext,
    bars: pl.DataFrame,
    external_data: ExternalDataResource,
    market_data: MarketDataResource,
):
    if external_data.kind == "synthetic" and market_data.kind != "synthetic":
        # synthetic records over real bars would look like real news linked to real tickers
        raise dg.Failure(
            f"external_data kind 'synthetic' invents alerts, news and macro releases; it only runs over the "
            f"synthetic market, not market_data kind {market_data.kind!r}. Configure external_data kind 'files' "
            "(root) or 'rest' (doc_search_url / series_url) for real data."
        )
    spec = ExternalSpec.from_spec()
    events, quarantine, reports, health = {}, {}, [], {}
    configured = external_data.configured_sources(spec)
    for day in context.partition_keys:
        day_bars = bars.filter(pl.col("ts").dt.date() == parse_day(day))
        universe = sorted(day_bars["symbol"].unique().to_list())
        batches = external_data.fetch(parse_day(day), day_bars, spec)
        raw = pl.concat([b.raw for b in batches], how="vertical")
        result = process_external(raw, universe, spec)
        pre = pl.concat([b.quarantine for b in batches], how="vertical")
        events[day] = result.events
        quarantine[day] = pl.concat([pre, result.quarantine], how="vertical")
        for batch in batches:
            health[batch.source] = batch.health
        produced = set(result.events["source"].unique().to_list()) | set(quarantine[day]["source"].to_list())
        reports.append(
            {
                "day": day,
                **result.report,
                "pre_quarantined": pre.height,
                "silent_sources": sorted(set(configured) - produced),
            }
        )
    all_events = pl.concat(list(events.values()), how="vertical")
    all_quarantine = pl.concat(list(quarantine.values()), how="vertical")
    freshness = freshness_table(all_events, health, spec)
    yield parquet_output(
        context,
        events,
        output_name="external_events",
        metadata={
            "freshness_vs_slo": dg.MetadataValue.md(markdown_table(freshness.to_dicts(), freshness.columns)),
            "records_by_source": dg.MetadataValue.json(
                dict(all_events.unique("record_uid").group_by("source").len().sort("source").iter_rows())
            ),
            "clusters": all_events["cluster_id"].n_unique(),
            "synthetic_link_rows": int(all_events["link_synthetic"].sum()),
        },
    )
    yield parquet_output(
        context,
        quarantine,
        output_name="external_quarantined_records",
        metadata={
            "by_reason": dg.MetadataValue.json(dict(all_quarantine.group_by("reason").len().iter_rows()))
        },
    )
    yield schema_check_result("external_events", ExternalEvents, all_events)
    yield schema_check_result("external_quarantined_records", ExternalQuarantine, all_quarantine)
    yield dg.AssetCheckResult(
        asset_key="external_events",
        check_name=_RECONCILIATION,
        passed=all(r["raw_records"] == r["kept_records"] + r["quarantined_records"] for r in reports),
        metadata={"per_day": dg.MetadataValue.json(reports)},
    )
    silent = {r["day"]: r["silent_sources"] for r in reports if r["silent_sources"]}
    yield dg.AssetCheckResult(
        asset_key="external_events",
        check_name=_REPORTED,
        passed=not silent,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"silent_sources_by_day": dg.MetadataValue.json(silent)},
    )


defs = dg.Definitions(assets=[ingest_external], resources={"external_data": ExternalDataResource()})
