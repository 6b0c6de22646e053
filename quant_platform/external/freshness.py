"""Freshness and reliability per source against the SLOs of ``spec/external.yaml``: P95 of publish → ingest
delay over the kept records, and the fetch success rate from the connector's health counters."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from quant_platform.external.config import ExternalSpec
from quant_platform.market.sources.resilient_http import SourceHealth

FRESHNESS_SCHEMA = {
    "source": pl.String(),
    "tier": pl.Int32(),
    "primary": pl.Boolean(),
    "records": pl.Int64(),
    "p95_publish_to_ingest_s": pl.Float64(),
    "success_rate": pl.Float64(),
    "empty_results": pl.Int64(),
    "rate_limited": pl.Int64(),
    "meets_slo": pl.Boolean(),
}


def freshness_table(
    events: pl.DataFrame, health: Mapping[str, SourceHealth], spec: ExternalSpec
) -> pl.DataFrame:
    """One row per configured source. A primary source meets its SLO when its P95 delay and success rate are
    within the limits; a source with no records has no P95 and cannot meet it (it is reported, not hidden)."""
    records = events.unique("record_uid")
    rows = []
    for source, source_spec in sorted(spec.sources.items()):
        delays = (
            records.filter(pl.col("source") == source)
            .select((pl.col("ingested_at") - pl.col("published_at")).dt.total_milliseconds() / 1000.0)
            .to_series()
            .to_numpy()
        )
        stats = health.get(source)
        calls = (stats.success + stats.failure) if stats else 0
        success_rate = stats.success / calls if stats and calls else None
        p95 = float(np.quantile(np.clip(delays, 0, None), 0.95)) if delays.size else None
        meets = (
            p95 is not None
            and success_rate is not None
            and success_rate >= spec.slo.min_success_rate
            and (not source_spec.primary or p95 < spec.slo.primary_p95_publish_to_ingest_s)
        )
        rows.append(
            {
                "source": source,
                "tier": source_spec.tier,
                "primary": source_spec.primary,
                "records": int(delays.size),
                "p95_publish_to_ingest_s": p95,
                "success_rate": success_rate,
                "empty_results": stats.empty if stats else 0,
                "rate_limited": stats.rate_limited if stats else 0,
                "meets_slo": meets,
            }
        )
    return pl.DataFrame(rows, schema=FRESHNESS_SCHEMA)
