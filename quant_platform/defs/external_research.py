"""Research on external information (RunSet-partitioned): ``external_hypothesis_candidates``.

Does caller X's alert, this news source or this macro series predict returns after costs? The RunSet's
resolved ``bars_5m`` and ``external_events`` (its dataset must include both) become events of the
``EXTERNAL_INFORMATION`` family at the bar of availability (only cluster heads, no synthetic links), filtered by
the RunSet's ``external_sources`` and ``max_external_tier``, and go through discovery per information source
(:func:`quant_platform.discovery.sources.run_source_discovery`: the same shrinkage, two-level BH-FDR and gates as
``hypothesis_candidates``); every tested hypothesis goes to the trial ledger. A RunSet whose filters leave no
external event fails, naming the filters, instead of writing an empty table.
"""

import dagster as dg
import polars as pl

from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata
from quant_platform.defs.research import read_resolved, runset_spec, runset_templates
from quant_platform.defs.tables import markdown_table
from quant_platform.discovery.schemas import HypothesisCandidates
from quant_platform.discovery.sources import SOURCE_STATE, run_source_discovery
from quant_platform.external.config import ExternalSpec
from quant_platform.external.events import external_market_events

ASSET = "external_hypothesis_candidates"
INPUTS = ("bars_5m", "external_events")


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in INPUTS],
    check_specs=[schema_check_spec(ASSET, HypothesisCandidates)],
    description="Phase-2 hypotheses per external information source (caller, news source, macro series): "
    "after-cost forward returns from the bar of availability, shrinkage, two-level BH-FDR and gates.",
)
def external_hypothesis_candidates(context: dg.AssetExecutionContext, registry: Registry):
    resolution = registry.resolve(context.partition_key)
    runset = registry.library().runset(context.partition_key).spec
    included = set(resolution.artifacts["asset"].to_list())
    missing = [a for a in INPUTS if a not in included]
    if missing:
        raise dg.Failure(
            f"RunSet {context.partition_key!r}: its dataset does not include {missing}; register the dataset "
            "with --asset bars_5m --asset external_events to research external information"
        )
    spec = runset_spec(registry, resolution)
    templates, template_metadata = runset_templates(resolution, spec)
    external = ExternalSpec.from_spec()
    bars = read_resolved(registry, resolution, "bars_5m")
    records = read_resolved(registry, resolution, "external_events")
    events = external_market_events(
        records,
        external,
        spec.bar_minutes,
        sources=list(runset.external_sources) or None,
        max_tier=runset.max_external_tier,
    )
    filters = {
        "external_sources": list(runset.external_sources) or ["*"],
        "max_external_tier": runset.max_external_tier,
    }
    if events.height == 0:
        raise dg.Failure(
            f"RunSet {context.partition_key!r}: no external event is left to test "
            f"({records.height} external rows read; filters {filters})"
        )
    result = run_source_discovery(bars, events, spec, runset_id=resolution.runset_id, templates=templates)
    recorded = registry.record_trials(result.trials)
    frame = result.candidates
    per_source = (
        frame.filter(pl.col("state_column") == SOURCE_STATE)
        .group_by("event_type", "state_value")
        .agg(pl.len().alias("hypotheses"), pl.col("passes_gates").sum().alias("passing"))
        .sort("event_type", "state_value")
    )
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            **template_metadata,
            "external_filters": dg.MetadataValue.json(filters),
            "external_events": events.height,
            "sources": dg.MetadataValue.json(sorted(events["source_key"].unique().to_list())),
            "passing_by_source": dg.MetadataValue.md(
                markdown_table(per_source.to_dicts(), per_source.columns, empty="_no source cell_")
            ),
            "rows": frame.height,
            "passes_gates": int(frame["passes_gates"].sum()),
            "trials_recorded": recorded,
        },
    )
    yield schema_check_result(ASSET, HypothesisCandidates, frame)


defs = dg.Definitions(assets=[external_hypothesis_candidates])
