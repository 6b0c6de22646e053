"""Research layer, validation (RunSet-partitioned): ``stage_a_screen`` and ``stage_b_survivors``.

Thin assets: read exactly the RunSet resolution their upstream ``bridge_evaluation`` read (by its recorded
resolution hash, not by resolving again mid-chain), replay the survivors' rules through the engine resource
and call one library function (:mod:`quant_platform.bridge.stages`), record the stage's trials in the
registry's ledger, write the table through :func:`parquet_output` (content hash = data version) and yield
its blocking checks. Like ``bridge_evaluation`` they check their input's ontology hash (a table from another
spec is an error), replay with the spec-based engine configuration and the RunSet's funding prints (see
:mod:`quant_platform.defs.research`), and attach the ontology hash, template filter and funding status as
metadata. ``stage_b_survivors`` deflates its Sharpe ratios by every hypothesis the ledger holds for the
RunSet, in count and in spread (:func:`quant_platform.bridge.stages.dsr_trials_from_ledger`), and shows the
gate funnel as a table and a text bar chart.
"""

import itertools
from typing import Any

import dagster as dg
import polars as pl

from quant_platform.bridge import (
    evaluate_stage_a_survivors,
    screen_bridge_survivors,
    stage_a_trials,
    stage_b_trials,
)
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.engine import BacktestEngine, order_outcome_metadata
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata, upstream_resolution
from quant_platform.defs.research import (
    FUNDING_ASSET,
    RUNSET_INPUT_DEPS,
    read_runset_funding,
    read_runset_inputs,
    research_engine_config,
    runset_spec,
    runset_templates,
)
from quant_platform.discovery import check_ontology
from quant_platform.engine import EngineConfig, record_order_outcomes
from quant_platform.registry.trials import count_hypotheses
from quant_platform.validation.schemas import StageADecisions, StageBCandidates

FUNNEL_CHECK = "funnel_monotone"
_BAR_WIDTH = 30
# every day of the RunSet's inputs (and its funding prints) feeds each stage's replays
STAGE_DEPS = [*RUNSET_INPUT_DEPS, dg.AssetDep(FUNDING_ASSET, partition_mapping=dg.AllPartitionMapping())]


def _fold_summary(fold_metrics: pl.DataFrame) -> str:
    """Markdown: per anchored fold, its test window and the candidates' median IC and Sharpe."""
    if fold_metrics.height == 0:
        return "no candidates screened"
    rows = (
        fold_metrics.group_by("fold", "test_first_day", "test_last_day", maintain_order=True)
        .agg(
            pl.len().alias("candidates"),
            pl.col("n_train_days").first(),
            pl.col("ic").median().alias("median_ic"),
            pl.col("sharpe_ann").median().alias("median_sharpe_ann"),
        )
        .sort("fold")
    )
    lines = [
        "| fold | train days | test days | candidates | median IC | median Sharpe (ann.) |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows.iter_rows(named=True):
        ic = "—" if r["median_ic"] is None else f"{r['median_ic']:.4f}"
        sharpe = "—" if r["median_sharpe_ann"] is None else f"{r['median_sharpe_ann']:.2f}"
        lines.append(
            f"| {r['fold']} | {r['n_train_days']} | {r['test_first_day']} → {r['test_last_day']} "
            f"| {r['candidates']} | {ic} | {sharpe} |"
        )
    return "\n".join(lines)


def funnel_table(funnel: pl.DataFrame) -> dg.TableMetadataValue:
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("gate", "string"),
            dg.TableColumn("n_passed", "int", description="candidates passing this gate on its own"),
            dg.TableColumn("n_remaining", "int", description="candidates passing it and every earlier gate"),
        ]
    )
    records = [
        dg.TableRecord({"gate": g, "n_passed": int(p), "n_remaining": int(r)})
        for g, p, r in funnel.select("gate", "n_passed", "n_remaining").iter_rows()
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def funnel_bar_chart(funnel: pl.DataFrame) -> str:
    """A markdown text bar chart of the candidates remaining after each gate (no plotting dependency)."""
    top = max(int(funnel["n_remaining"].max() or 0), 1)
    width = max(len(g) for g in funnel["gate"])
    lines = []
    for gate, remaining in funnel.select("gate", "n_remaining").iter_rows():
        bar = "█" * round(_BAR_WIDTH * remaining / top)
        lines.append(f"{gate.ljust(width)} │{bar} {remaining}")
    return "```\n" + "\n".join(lines) + "\n```"


def _replay_context(
    registry: Registry, resolution: Any, backtest_engine: BacktestEngine
) -> tuple[
    tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], pl.DataFrame | None, EngineConfig, dict[str, Any]
]:
    """Inputs, funding prints, engine config and the metadata every stage attaches (ontology, templates,
    funding, engine config id)."""
    spec = runset_spec(registry, resolution)
    _, template_metadata = runset_templates(resolution, spec)
    funding, funding_metadata = read_runset_funding(registry, resolution)
    config = research_engine_config(backtest_engine, spec)
    metadata = {
        **template_metadata,
        **funding_metadata,
        "engine_config_id": config.content_id(),
        "ontology_hash": spec.ontology_hash,
    }
    return (
        read_runset_inputs(registry, resolution, spec),
        funding,
        config,
        {**metadata, "profile": spec.profile},
    )


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=STAGE_DEPS,
    check_specs=[schema_check_spec("stage_a_screen", StageADecisions)],
    description="Stage A: the bridge survivors' rules replayed through the engine, screened on anchored "
    "temporal folds with embargo (per-fold Spearman IC and after-cost daily Sharpe); survivors with reasons.",
)
def stage_a_screen(
    context: dg.AssetExecutionContext,
    bridge_evaluation: pl.DataFrame,
    registry: Registry,
    backtest_engine: BacktestEngine,
):
    check_ontology(bridge_evaluation)  # a bridge table from another spec is an error, not a warning
    resolution = upstream_resolution(context, registry, "bridge_evaluation")
    (bars, events, states), funding, config, replay_metadata = _replay_context(
        registry, resolution, backtest_engine
    )
    with record_order_outcomes() as outcomes:
        result = screen_bridge_survivors(
            bridge_evaluation,
            bars,
            events,
            states,
            spec=runset_spec(registry, resolution),
            base_config=config,
            funding=funding,
        )
    recorded = registry.record_trials(stage_a_trials(result, bridge_evaluation, resolution.runset_id))
    frame = result.decisions
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "screened": frame.height,
            "passed": int(frame["passed"].sum()),
            "trials_recorded": recorded,
            "folds": dg.MetadataValue.md(_fold_summary(result.fold_metrics)),
            **replay_metadata,
            **order_outcome_metadata(outcomes),
        },
    )
    yield schema_check_result("stage_a_screen", StageADecisions, frame)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=STAGE_DEPS,
    check_specs=[
        schema_check_spec("stage_b_survivors", StageBCandidates),
        dg.AssetCheckSpec(
            name=FUNNEL_CHECK,
            asset="stage_b_survivors",
            blocking=True,
            description="The gate funnel never grows: candidates remaining after each gate are non-increasing.",
        ),
    ],
    description="Stage B: PSR, DSR (trials = every hypothesis the ledger holds for the RunSet), CPCV path Sharpes, "
    "block bootstrap, engine stress scenarios and fold policy for the Stage A survivors; every gate's result "
    "and reason, the strict survivors, and the gate funnel.",
)
def stage_b_survivors(
    context: dg.AssetExecutionContext,
    stage_a_screen: pl.DataFrame,
    bridge_evaluation: pl.DataFrame,
    registry: Registry,
    backtest_engine: BacktestEngine,
):
    check_ontology(bridge_evaluation)  # the replayed rules must come from the active spec
    resolution = upstream_resolution(context, registry, "stage_a_screen")
    (bars, events, states), funding, config, replay_metadata = _replay_context(
        registry, resolution, backtest_engine
    )
    # Everything tested for the RunSet: its distinct hypotheses and their t tests. Stage B's own earlier
    # records re-evaluate known hypotheses, so they change neither (a re-materialization is byte-identical).
    ledger = registry.trials(context.partition_key)
    n_trials_total = count_hypotheses(ledger)
    with record_order_outcomes() as outcomes:
        result = evaluate_stage_a_survivors(
            bridge_evaluation,
            stage_a_screen,
            bars,
            events,
            states,
            trial_ledger=ledger,
            spec=runset_spec(registry, resolution),
            base_config=config,
            funding=funding,
        )
    recorded = registry.record_trials(stage_b_trials(result, bridge_evaluation, resolution.runset_id))
    frame, funnel = result.candidates, result.funnel
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "evaluated": frame.height,
            "passed": int(frame["passed"].sum()),
            "n_trials_total": n_trials_total,
            "trials_recorded": recorded,
            "gate_funnel": funnel_table(funnel),
            "gate_funnel_chart": dg.MetadataValue.md(funnel_bar_chart(funnel)),
            **replay_metadata,
            **order_outcome_metadata(outcomes),
        },
    )
    yield schema_check_result("stage_b_survivors", StageBCandidates, frame)
    remaining = funnel["n_remaining"].to_list()
    yield dg.AssetCheckResult(
        asset_key=dg.AssetKey("stage_b_survivors"),
        check_name=FUNNEL_CHECK,
        passed=all(a >= b for a, b in itertools.pairwise(remaining)),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"n_remaining": dg.MetadataValue.json(dict(zip(funnel["gate"], remaining, strict=True)))},
    )


defs = dg.Definitions(assets=[stage_a_screen, stage_b_survivors])
