"""Research layer, phase 2 (RunSet-partitioned): ``hypothesis_candidates`` and ``bridge_evaluation``.

Thin assets: resolve the RunSet through the registry (the resolver only points), read exactly the resolved
versions of ``bars_5m``, ``market_events`` and ``features_v1`` (state columns), call one library function,
record the trials, return the frame with metadata and its blocking schema check.

What the RunSet selects reaches the library as explicit arguments:
- its symbols filter the inputs read;
- its ``templates`` filter (glob patterns, empty = all) goes to ``run_discovery(templates=...)``: only
  matching rule templates are tested and counted as trials. The bridge and the stages replay candidates, so
  filtering at discovery carries through them; the metadata of each asset names the templates applied.
  (``strategies`` selects strategy assets, which this phase-2 chain does not have; it is not applied here.)
- funding: when the RunSet's dataset includes ``raw_funding``, its resolved prints are settled in every
  bridge/stage replay; otherwise the metadata says funding was not settled (never silently).

Engine configuration of the replays (:func:`research_engine_config`): the base is the spec's own cost model
and entry lag (``bridge.default_engine_config(spec)``): discovery's flat fee and slippage plus the volatility-
and size-dependent slippage of ``bridge_v1.realistic_slippage``, so x1 charges what a fill would really pay
(see ``bridge.evaluate``); the ``BacktestEngine`` resource overrides only the fields explicitly set on it (in code
or run config), so its generic engine defaults never leak in. ``entry_lag_bars`` is the hypothesis' own
timing: a resource that sets a different one is refused with a clear error rather than silently testing a
different rule. (Overriding the cost fields is allowed: it is a deliberate "what if costs were ..." run,
and the config id in the metadata shows it.)
"""

from typing import Any

import dagster as dg
import polars as pl

from quant_platform.bridge import BridgeEvaluation, default_engine_config, evaluate_bridge, tradability
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.engine import BacktestEngine, order_outcome_metadata
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata, upstream_resolution
from quant_platform.discovery import (
    DiscoverySpec,
    HypothesisCandidates,
    check_ontology,
    load_discovery_spec,
    run_discovery,
)
from quant_platform.engine import EngineConfig, record_order_outcomes

UPSTREAM = ("bars_5m", "market_events", "features_v1")
FUNDING_ASSET = "raw_funding"
RUNSET_INPUT_DEPS = [dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in UPSTREAM]


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


def runset_spec(registry: Registry, resolution: Any) -> DiscoverySpec:
    """The discovery spec for the profile recorded with the RunSet's dataset: its bar length, sessions,
    horizons, conditioning columns and the events that apply (never the global default for other data)."""
    return load_discovery_spec(profile=registry.profile(resolution))


def read_runset_inputs(
    registry: Registry, resolution: Any, spec: DiscoverySpec | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``bars_5m``, ``market_events`` and ``features_v1`` (conditioning columns) of the RunSet's resolution."""
    spec = spec or runset_spec(registry, resolution)
    bars = read_resolved(registry, resolution, "bars_5m")
    events = read_resolved(registry, resolution, "market_events")
    states = read_resolved(registry, resolution, "features_v1", ["symbol", "ts", *spec.conditioning_columns])
    return bars, events, states


def read_runset_funding(registry: Registry, resolution: Any) -> tuple[pl.DataFrame | None, dict[str, Any]]:
    """The RunSet's funding prints (``raw_funding``: symbol, ts, funding_rate) for the engine replays, or
    ``None`` when its dataset has no ``raw_funding``; plus metadata saying which (and how many prints, and how
    many prints without a rate were left out: a print without a rate settles nothing)."""
    if FUNDING_ASSET not in set(resolution.artifacts["asset"].to_list()):
        reason = f"not settled: the RunSet's dataset does not include {FUNDING_ASSET}"
        return None, {"funding_settled": False, "funding": reason}
    prints = read_resolved(registry, resolution, FUNDING_ASSET, ["symbol", "ts", "funding_rate"])
    usable = prints.filter(pl.col("funding_rate").is_not_null() & pl.col("funding_rate").is_not_nan())
    return usable, {
        "funding_settled": True,
        "funding": f"settled: {usable.height} prints of {FUNDING_ASSET}",
        "funding_prints_without_rate": prints.height - usable.height,
    }


def research_engine_config(backtest_engine: BacktestEngine, spec: DiscoverySpec) -> EngineConfig:
    """The replays' engine configuration: the spec's cost model and entry lag, overridden only by the fields
    explicitly set on the resource (module docstring); a different explicit entry lag is an error."""
    explicit = {name: getattr(backtest_engine, name) for name in sorted(backtest_engine.model_fields_set)}
    lag = explicit.get("entry_lag_bars", spec.entry_lag_bars)
    if lag != spec.entry_lag_bars:
        raise ValueError(
            f"backtest_engine.entry_lag_bars={lag} differs from the spec's entry_lag_bars={spec.entry_lag_bars} "
            "(spec/global_defaults.yaml): the bridge and stages must replay the rule discovery tested; "
            "change the spec, not the resource"
        )
    return default_engine_config(spec, **explicit)


def runset_templates(resolution: Any, spec: DiscoverySpec) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The RunSet's template patterns and the metadata naming the templates they select."""
    patterns = tuple(resolution.templates)
    return patterns, {
        "template_filter": dg.MetadataValue.json(list(patterns) or ["*"]),
        "templates_applied": dg.MetadataValue.json(list(spec.matching_templates(patterns))),
    }


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=RUNSET_INPUT_DEPS,
    check_specs=[schema_check_spec("hypothesis_candidates", HypothesisCandidates)],
    description="Phase-2 event hypotheses (event x symbol x horizon x template x state): after-cost forward "
    "returns, James-Stein shrinkage, two-level BH-FDR and gates; every tested hypothesis goes to the trial ledger.",
)
def hypothesis_candidates(context: dg.AssetExecutionContext, registry: Registry):
    resolution = registry.resolve(context.partition_key)
    spec = runset_spec(registry, resolution)
    templates, template_metadata = runset_templates(resolution, spec)
    bars, events, states = read_runset_inputs(registry, resolution, spec)
    result = run_discovery(bars, events, states, spec, runset_id=resolution.runset_id, templates=templates)
    recorded = registry.record_trials(result.trials)
    frame = result.candidates
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            **template_metadata,
            "profile": spec.profile,
            "bar_minutes": spec.bar_minutes,
            "sessions": spec.sessions,
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
            "ontology_hash": frame["ontology_hash"][0] if frame.height else spec.ontology_hash,
        },
    )
    yield schema_check_result("hypothesis_candidates", HypothesisCandidates, frame)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=[*RUNSET_INPUT_DEPS, dg.AssetDep(FUNDING_ASSET, partition_mapping=dg.AllPartitionMapping())],
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
    spec = runset_spec(registry, resolution)
    _, template_metadata = runset_templates(resolution, spec)  # applied upstream: candidates carry it
    bars, events, states = read_runset_inputs(registry, resolution, spec)
    funding, funding_metadata = read_runset_funding(registry, resolution)
    config = research_engine_config(backtest_engine, spec)
    with record_order_outcomes() as outcomes:
        frame = evaluate_bridge(
            hypothesis_candidates, bars, events, states, spec, base_config=config, funding=funding
        )
    verdicts = tradability(frame)
    per_candidate = frame.group_by("candidate_id", maintain_order=True).agg(
        pl.col("n_entries_incomplete").first()
    )
    runs = registry.register_replays(
        resolution, frame["candidate_id"].unique().to_list(), config, context.run_id
    )
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            **template_metadata,
            **funding_metadata,
            "rows": frame.height,
            "candidates": verdicts.height,
            "tradable": int(verdicts["tradable"].sum()),
            "entries_incomplete": int(per_candidate["n_entries_incomplete"].sum()),
            "engine_config_id": config.content_id(),
            **order_outcome_metadata(outcomes),
            "registry_runs": dg.MetadataValue.json(runs),
            "ontology_hash": spec.ontology_hash,
        },
    )
    yield schema_check_result("bridge_evaluation", BridgeEvaluation, frame)


defs = dg.Definitions(assets=[hypothesis_candidates, bridge_evaluation])
