"""Research layer, phase 2 (RunSet-partitioned): ``hypothesis_candidates`` and ``bridge_evaluation``.

Thin assets: resolve the RunSet through the registry (the resolver only points), read exactly the resolved
versions of ``bars_5m``, ``market_events`` and ``features_v1`` (state columns), call one library function,
record the trials, return the frame with metadata and its blocking schema check.
"""

from typing import Any

import dagster as dg
import polars as pl

from quant_platform.bridge import BridgeEvaluation, evaluate_bridge, tradability
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata, upstream_resolution
from quant_platform.discovery import HypothesisCandidates, check_ontology, load_discovery_spec, run_discovery

UPSTREAM = ("bars_5m", "market_events", "features_v1")
_ALL_DAYS = [dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in UPSTREAM]


def read_resolved(
    registry: Registry, resolution: Any, asset: str, columns: list[str] | None = None
) -> pl.DataFrame:
    """The resolved versions of ``asset`` (all days of the RunSet), restricted to its symbols."""
    scan = registry.scan(resolution, asset)
    if columns is not None:
        scan = scan.select(columns)
    symbols = tuple(getattr(resolution, "symbols", ()) or ())
    if symbols:
        scan = scan.filter(pl.col("symbol").is_in(list(symbols)))
    return scan.collect()


def _inputs(registry: Registry, resolution: Any) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    spec = load_discovery_spec()
    bars = read_resolved(registry, resolution, "bars_5m")
    events = read_resolved(registry, resolution, "market_events")
    states = read_resolved(registry, resolution, "features_v1", ["symbol", "ts", *spec.conditioning_columns])
    return bars, events, states


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=_ALL_DAYS,
    check_specs=[schema_check_spec("hypothesis_candidates", HypothesisCandidates)],
    description="Phase-2 event hypotheses (event x symbol x horizon x template x state): after-cost forward "
    "returns, James-Stein shrinkage, two-level BH-FDR and gates; every tested hypothesis goes to the trial ledger.",
)
def hypothesis_candidates(context: dg.AssetExecutionContext, registry: Registry):
    resolution = registry.resolve(context.partition_key)
    bars, events, states = _inputs(registry, resolution)
    result = run_discovery(bars, events, states, runset_id=resolution.runset_id)
    recorded = registry.record_trials(result.trials)
    frame = result.candidates
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "rows": frame.height,
            "tested": int(frame["tested"].sum()),
            "passes_fdr": int(frame["passes_fdr"].sum()),
            "standard": int((frame["promotion_track"] == "standard").sum()),
            "fallback_only": int((frame["promotion_track"] == "fallback_only").sum()),
            "trials_recorded": recorded,
            "excluded_observations": dg.MetadataValue.json(
                {
                    r: int(n)
                    for r, n in result.exclusions.group_by("reason", maintain_order=True)
                    .agg(pl.col("n_observations").sum())
                    .iter_rows()
                }
            ),
            "ontology_hash": frame["ontology_hash"][0]
            if frame.height
            else load_discovery_spec().ontology_hash,
        },
    )
    yield schema_check_result("hypothesis_candidates", HypothesisCandidates, frame)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=_ALL_DAYS,
    check_specs=[schema_check_spec("bridge_evaluation", BridgeEvaluation)],
    description="Each gate-passing candidate replayed as a rule through the backtest engine under realistic and "
    "stressed costs (x1, x2, x3, +1 bar latency), with a tradability verdict and its reasons.",
)
def bridge_evaluation(
    context: dg.AssetExecutionContext,
    hypothesis_candidates: pl.DataFrame,
    registry: Registry,
    backtest_engine: BacktestEngine,
):
    check_ontology(hypothesis_candidates)  # candidates from another spec are an error, not a warning
    resolution = upstream_resolution(context, registry, "hypothesis_candidates")
    bars, events, states = _inputs(registry, resolution)
    frame = evaluate_bridge(
        hypothesis_candidates, bars, events, states, base_config=backtest_engine.engine_config()
    )
    verdicts = tradability(frame)
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "rows": frame.height,
            "candidates": verdicts.height,
            "tradable": int(verdicts["tradable"].sum()),
            "engine_config_id": backtest_engine.engine_config().content_id(),
        },
    )
    yield schema_check_result("bridge_evaluation", BridgeEvaluation, frame)


defs = dg.Definitions(assets=[hypothesis_candidates, bridge_evaluation])
