"""Phase-2 discovery per information source: does caller X's alert, this news source or this macro series
predict returns after costs?

Events that carry a ``source_key`` (the external-information events, ``quant_platform.external.events``) are
tested twice over, under the same statistics, hierarchical shrinkage, two-level BH-FDR and gates as every
hypothesis (:func:`quant_platform.discovery.pipeline.score_candidates`):
- pooled: the unconditional cell of each (event type, symbol), with the usual non-overlap rule;
- per source: one state cell per source under its symbol (``state_column = "external_source"``,
  ``state_value`` = the source key), its samples built from that source's events alone, so one caller's
  overlapping alerts never block another's.
Per-source cells compete with each other inside their FDR group (family, event type, template, horizon), so
testing many callers pays for its multiplicity.
"""

from __future__ import annotations

import polars as pl

from quant_platform.discovery.config import UNCONDITIONAL, DiscoverySpec, load_discovery_spec
from quant_platform.discovery.pipeline import DiscoveryResult, discover_from_samples
from quant_platform.discovery.samples import build_samples

SOURCE_STATE = "external_source"


def run_source_discovery(
    bars: pl.DataFrame,
    events: pl.DataFrame,
    spec: DiscoverySpec | None = None,
    runset_id: str | None = None,
    templates: tuple[str, ...] = (),
) -> DiscoveryResult:
    """Discovery over ``events`` with a ``source_key`` column (module docstring)."""
    if "source_key" not in events.columns:
        raise ValueError("events need a source_key column (the caller, news source or macro series)")
    if events.select(pl.col("source_key").is_null().any()).item():
        raise ValueError("events: source_key is null on some rows")
    spec = (spec or load_discovery_spec()).restricted_to_templates(tuple(templates))
    base = events.drop("source_key", "tier", strict=False)
    pooled = build_samples(bars, base, None, spec)
    cells, exclusions = [pooled.samples], [pooled.exclusions]
    for (source,), group in events.group_by("source_key", maintain_order=True):
        own = build_samples(bars, group.drop("source_key", "tier", strict=False), None, spec)
        cells.append(
            own.samples.filter(pl.col("state_column") == UNCONDITIONAL).with_columns(
                state_column=pl.lit(SOURCE_STATE), state_value=pl.lit(str(source))
            )
        )
        exclusions.append(own.exclusions.with_columns(state_column=pl.lit(f"{SOURCE_STATE}={source}")))
    return discover_from_samples(
        pl.concat(cells, how="vertical_relaxed"), pl.concat(exclusions), spec, runset_id
    )
