"""Research layer, blueprints (RunSet-partitioned): ``strategy_blueprints``.

Thin asset: read the Stage-B survivors and the bridge rules of the same resolution, compile them with the
library (:func:`quant_platform.blueprints.compile_blueprints`) under the engine configuration the replays ran
with, write the table through the Parquet IO manager and the ``blueprints.jsonl`` beside it in the store
(content-addressed, :func:`quant_platform.blueprints.write_blueprints_jsonl`); the file's path and hash and
every blueprint id go to the metadata. No survivor gives an empty table and an empty file, said so in the
metadata (never a silent green run: ``survivors`` is 0 there).

Checks: the blocking ``schema`` check, and ``nautilus_parity`` (non-blocking): every blueprint replayed in
our engine and in NautilusTrader's ``BacktestEngine`` on the RunSet's bars and events with slippage off
(:mod:`quant_platform.execution.nautilus.parity`); it fails when any fill or the PnL differs, and warns
(fails at WARN severity) when the ``[nautilus]`` extra is not installed, naming it.
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
from quant_platform.defs.research import read_runset_inputs, research_engine_config
from quant_platform.discovery import check_ontology, load_discovery_spec

PARITY_CHECK = "nautilus_parity"


def _parity_check(registry: Registry, resolution, compiled) -> dg.AssetCheckResult:
    """NautilusTrader parity of every compiled blueprint on the resolution's inputs (module docstring)."""
    key = dg.AssetKey("strategy_blueprints")
    if not compiled.lines:
        return dg.AssetCheckResult(
            asset_key=key, check_name=PARITY_CHECK, passed=True, metadata={"blueprints_checked": 0}
        )
    try:
        from quant_platform.execution.nautilus.parity import check_blueprints
    except ImportError as exc:
        return dg.AssetCheckResult(
            asset_key=key, check_name=PARITY_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": f"not run: the [nautilus] extra is not installed ({exc})"},
        )  # fmt: skip
    bars, events, states = read_runset_inputs(registry, resolution)
    results = check_blueprints(compiled.lines, bars, events, states)
    rows = [
        {k: r.summary()[k] for k in ("blueprint_id", "fills_engine", "fills_nautilus", "pnl_engine", "pnl_nautilus",
                                     "pnl_rel_diff", "passed", "failures")}
        for r in results
    ]  # fmt: skip
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=PARITY_CHECK,
        passed=all(r.passed for r in results),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "blueprints_checked": len(results),
            "fills_compared": sum(r.n_fills_engine for r in results),
            "max_pnl_rel_diff": max(r.pnl_rel_diff for r in results),
            "parity": dg.MetadataValue.json(rows),
        },
    )


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
    check_specs=[
        schema_check_spec("strategy_blueprints", StrategyBlueprints),
        dg.AssetCheckSpec(
            name=PARITY_CHECK,
            asset="strategy_blueprints",
            blocking=False,
            description="Every blueprint trades the same in NautilusTrader's BacktestEngine as in our engine "
            "(zero slippage: same fills, PnL to 1e-9 relative).",
        ),
    ],
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
    yield _parity_check(registry, resolution, compiled)


defs = dg.Definitions(assets=[strategy_blueprints])
