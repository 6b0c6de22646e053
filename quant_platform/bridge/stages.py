"""Stage A and Stage B over the bridge's survivors: build the engine-replayed streams
(:mod:`quant_platform.bridge.streams`) and call the validation library; plus the trial-ledger rows of each
stage. What the ``stage_a_screen`` / ``stage_b_survivors`` assets call, one function each.

- Stage A screens the bridge survivors (tradable candidates) on their base-configuration streams.
- Stage B evaluates the Stage A survivors. The DSR's V[SR] and effective trial count come from the base
  streams of every candidate the bridge replayed (tradable or not: each is a strategy that reached the
  engine), scaled to ``n_trials_total`` (everything the registry's ledger holds for the RunSet). Stressed
  streams are the engine replays of every scenario of ``spec/validation.yaml``.
- No survivors in, an empty (schema-valid) result out; never an error and never a silent pass.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.bridge.streams import bridge_candidates, rule_streams, stressed_rule_streams
from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.engine import EngineConfig
from quant_platform.registry.trials import CPCV_PATH, FOLD, HYPOTHESIS
from quant_platform.validation import (
    StageAConfig,
    StageAResult,
    StageBConfig,
    StageBResult,
    gate_funnel,
    stage_a_screen,
    stage_b_evaluate,
)
from quant_platform.validation.schemas import (
    StageADecisions,
    StageAFoldMetrics,
    StageBCandidates,
    StageBCpcvPaths,
    StageBStress,
)

STAGE_A = "stage_a"
STAGE_B = "stage_b"
STAGE_B_TRIAL_METRICS = ("n_days", "sharpe_ann", "psr", "dsr", "cpcv_sharpe_p10", "stress_min_sharpe")


def empty_frame(schema: type[pa.DataFrameModel]) -> pl.DataFrame:
    """A zero-row frame with exactly the columns and dtypes of ``schema``."""
    return pl.DataFrame(schema={n: c.dtype.type for n, c in schema.to_schema().columns.items()})


def screen_bridge_survivors(
    bridge: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    base_config: EngineConfig,
    spec: DiscoverySpec | None = None,
    config: StageAConfig | None = None,
    funding: pl.DataFrame | None = None,
) -> StageAResult:
    """Stage A (anchored folds, IC and after-cost Sharpe) over the tradable candidates of ``bridge``, the
    rules replayed with ``funding`` prints settled (``None``: none)."""
    survivors = bridge_candidates(bridge)
    if survivors.height == 0:
        return StageAResult(
            fold_metrics=empty_frame(StageAFoldMetrics), decisions=empty_frame(StageADecisions)
        )
    streams = rule_streams(
        survivors, bars, events, states, base_config=base_config, spec=spec, funding=funding
    )
    return stage_a_screen(streams, config)


def evaluate_stage_a_survivors(
    bridge: pl.DataFrame,
    stage_a_decisions: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    n_trials_total: int,
    base_config: EngineConfig,
    spec: DiscoverySpec | None = None,
    config: StageBConfig | None = None,
    funding: pl.DataFrame | None = None,
) -> StageBResult:
    """Stage B (PSR, DSR, CPCV, bootstrap, stress, fold policy) over the Stage A survivors (module doc),
    every replay settling ``funding`` prints (``None``: none)."""
    spec = spec or load_discovery_spec()
    config = config or StageBConfig.from_spec()
    passed = stage_a_decisions.filter(pl.col("passed"))["candidate_id"].to_list()
    tradable = set(bridge_candidates(bridge)["candidate_id"].to_list())
    unknown = sorted(set(passed) - tradable)
    if unknown:
        raise ValueError(
            f"Stage A survivors {unknown[:3]} are not tradable candidates of this bridge_evaluation"
        )
    if not passed:
        candidates = empty_frame(StageBCandidates)
        return StageBResult(
            candidates=candidates,
            stress=empty_frame(StageBStress),
            funnel=gate_funnel(candidates),
            cpcv_paths=empty_frame(StageBCpcvPaths),
        )
    everyone = bridge_candidates(bridge, tradable_only=False)
    scenarios = config.scenarios
    trial_streams = rule_streams(
        everyone,
        bars,
        events,
        states,
        base_config=base_config,
        spec=spec,
        scenarios=scenarios,
        funding=funding,
    )
    chosen = everyone.filter(pl.col("candidate_id").is_in(passed))
    stressed = stressed_rule_streams(
        chosen, bars, events, states, base_config=base_config, spec=spec, scenarios=scenarios, funding=funding
    )
    return stage_b_evaluate(
        trial_streams.filter(pl.col("candidate_id").is_in(passed)),
        n_trials_total,
        trial_streams=trial_streams,
        stressed_streams=stressed,
        config=config,
    )


def _families(bridge: pl.DataFrame) -> pl.DataFrame:
    """``candidate_id, family`` in the trial ledger's family naming (as discovery's trial ledger)."""
    return bridge_candidates(bridge, tradable_only=False).select(
        "candidate_id",
        pl.format("{}/{}/{}/h{}", "family", "event_type", "template", "horizon_bars").alias("family"),
    )


def stage_a_trials(result: StageAResult, bridge: pl.DataFrame, runset_id: str) -> pl.DataFrame:
    """Trial-ledger rows (long: ``metric``/``value``) of Stage A: per screened candidate one ``hypothesis``
    evaluation with the overall ``passed``, and one ``fold`` evaluation per anchored fold (``sub_id`` = the
    fold index) with its IC, Sharpe, test days, training decision and verdict."""
    fold_columns = [
        "ic",
        "sharpe_ann",
        "n_test_days",
        "train_expectancy_bps",
        "selected_in_train",
        "fold_passed",
    ]
    folds = (
        result.fold_metrics.with_columns(pl.col(fold_columns).cast(pl.Float64))
        .unpivot(index=["candidate_id", "fold"], on=fold_columns, variable_name="metric", value_name="value")
        .select(
            "candidate_id",
            pl.lit(FOLD).alias("kind"),
            pl.col("fold").cast(pl.String).alias("sub_id"),
            "metric",
            pl.col("value").cast(pl.Float64),
        )
    )
    passed = result.decisions.select(
        "candidate_id",
        pl.lit(HYPOTHESIS).alias("kind"),
        pl.lit("").alias("sub_id"),
        pl.lit("passed").alias("metric"),
        pl.col("passed").cast(pl.Float64).alias("value"),
    )
    return _ledger(pl.concat([passed, folds]), bridge, runset_id, STAGE_A)


def stage_b_trials(result: StageBResult, bridge: pl.DataFrame, runset_id: str) -> pl.DataFrame:
    """Trial-ledger rows (long) of Stage B: per evaluated candidate one ``hypothesis`` evaluation with its
    statistics, every gate's pass/fail (``<gate>_passed``) and the overall ``passed``, and one ``cpcv_path``
    evaluation per CPCV path (``sub_id`` = the path index) with its ``sharpe_ann`` (NaN when undefined)."""
    gates = [c for c in result.candidates.columns if c.endswith("_passed")] + ["passed"]
    whole = (
        result.candidates.select(
            "candidate_id",
            *[pl.col(c).cast(pl.Float64) for c in STAGE_B_TRIAL_METRICS],
            *[pl.col(c).cast(pl.Float64) for c in gates],
        )
        .unpivot(index="candidate_id", variable_name="metric", value_name="value")
        .select(
            "candidate_id", pl.lit(HYPOTHESIS).alias("kind"), pl.lit("").alias("sub_id"), "metric", "value"
        )
    )
    paths = result.cpcv_paths.select(
        "candidate_id",
        pl.lit(CPCV_PATH).alias("kind"),
        pl.col("path").cast(pl.String).alias("sub_id"),
        pl.lit("sharpe_ann").alias("metric"),
        pl.col("sharpe_ann").fill_null(float("nan")).alias("value"),
    )
    return _ledger(pl.concat([whole, paths]), bridge, runset_id, STAGE_B)


def _ledger(long: pl.DataFrame, bridge: pl.DataFrame, runset_id: str, stage: str) -> pl.DataFrame:
    """The rows in the registry's long ledger shape, in a fixed order (same result, same rows)."""
    return (
        long.join(_families(bridge), on="candidate_id", how="left")
        .select(
            pl.lit(runset_id).alias("runset_id"),
            pl.lit(stage).alias("stage"),
            "kind",
            pl.col("candidate_id").alias("trial_id"),
            "sub_id",
            "family",
            "metric",
            "value",
        )
        .sort("trial_id", "kind", pl.col("sub_id").str.len_chars(), "sub_id", "metric")
    )
