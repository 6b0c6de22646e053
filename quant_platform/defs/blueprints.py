"""Research layer, blueprints (RunSet-partitioned): ``strategy_blueprints``.

Thin asset: read the Stage-B survivors and the bridge rules of the same resolution, compile them with the
library (:func:`quant_platform.blueprints.compile_blueprints`) under the engine configuration the replays ran
with, write the table through the Parquet IO manager and the ``blueprints.jsonl`` beside it in the store
(content-addressed, :func:`quant_platform.blueprints.write_blueprints_jsonl`); the file's path and hash and
every blueprint id go to the metadata. No survivor gives an empty table and an empty file, said so in the
metadata (never a silent green run: ``survivors`` is 0 there).
"""

import dagster as dg
import polars as pl

from quant_platform.blueprints import StrategyBlueprints, compile_blueprints, write_blueprints_jsonl
from quant_platform.core.hashing import sha256_hex
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata, upstream_resolution
from quant_platform.defs.research import research_engine_config
from quant_platform.discovery import check_ontology, load_discovery_spec


def _summary(frame: pl.DataFrame) -> str:
    if frame.height == 0:
        return "no Stage-B survivor: no blueprint"
    lines = [
        "| blueprint | candidate | instrument | event | template | state | h | DSR | PSR |",
        "|---|---|---|---|---|---|---:|---:|---:|",
    ]
    for r in frame.iter_rows(named=True):
        dsr = "—" if r["dsr"] is None else f"{r['dsr']:.3f}"
        psr = "—" if r["psr"] is None else f"{r['psr']:.3f}"
        lines.append(
            f"| {r['blueprint_id'][:12]} | {r['candidate_id'][:12]} | {r['instrument_id']} | {r['event_type']} "
            f"| {r['template']} | {r['state_column']}={r['state_value']} | {r['horizon_bars']} | {dsr} | {psr} |"
        )
    return "\n".join(lines)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    check_specs=[schema_check_spec("strategy_blueprints", StrategyBlueprints)],
    description="NautilusTrader blueprints of the Stage-B survivors: one ImportableStrategyConfig line per "
    "survivor (blueprints.jsonl beside the table) with its lineage, gate results and cost assumptions.",
)
def strategy_blueprints(
    context: dg.AssetExecutionContext,
    stage_b_survivors: pl.DataFrame,
    bridge_evaluation: pl.DataFrame,
    registry: Registry,
    backtest_engine: BacktestEngine,
):
    check_ontology(bridge_evaluation)  # rules from another spec are an error, not a warning
    spec = load_discovery_spec()
    resolution = upstream_resolution(context, registry, "stage_b_survivors")
    config = research_engine_config(backtest_engine, spec)
    compiled = compile_blueprints(
        stage_b_survivors,
        bridge_evaluation,
        runset_id=resolution.runset_id,
        runset_name=resolution.runset_name,
        resolution_hash=resolution.resolution_hash,
        engine_config=config,
        spec=spec,
    )
    uri, created = write_blueprints_jsonl(registry.store_root, context.partition_key, compiled.jsonl)
    frame = compiled.frame
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "survivors": int(stage_b_survivors["passed"].sum()),
            "blueprints": frame.height,
            "blueprints_jsonl": dg.MetadataValue.path(uri),
            "blueprints_jsonl_sha256": sha256_hex(compiled.jsonl),
            "blueprints_jsonl_written": created,
            "blueprint_ids": dg.MetadataValue.json(frame["blueprint_id"].to_list()),
            "blueprint_summary": dg.MetadataValue.md(_summary(frame)),
            "engine_config_id": config.content_id(),
            "ontology_hash": spec.ontology_hash,
        },
    )
    yield schema_check_result("strategy_blueprints", StrategyBlueprints, frame)


defs = dg.Definitions(assets=[strategy_blueprints])
