"""Stage A and Stage B over the bridge's survivors: build the engine-replayed streams
(:mod:`quant_platform.bridge.streams`) and call the validation library; plus the trial-ledger rows of each
stage. What the ``stage_a_screen`` / ``stage_b_survivors`` assets call, one function each.

- Stage A screens the bridge survivors (tradable candidates) on their base-configuration streams.
- Stage B evaluates the Stage A survivors. Its DSR deflates by every hypothesis tested for the RunSet, both in
  count and in spread, read from the RunSet's trial ledger (:func:`dsr_trials_from_ledger`):
  ``n_trials_total`` is the ledger's distinct hypotheses (:func:`~quant_platform.registry.trials.
  count_hypotheses`: a candidate re-evaluated by the bridge, Stage A or Stage B counts once), and V[SR] is
  the variance of the per-day Sharpes of every hypothesis whose t test the ledger holds (discovery records
  ``t_statistic`` and ``n_observations`` of each tested hypothesis). Why not the replayed candidates: the
  bridge replays only the discovery gate-passers, a set already selected for a high Sharpe, so their spread
  is biased low (E[max SR] too low, DSR too lenient), one replayed candidate leaves V[SR] unestimable, and
  their effective count had to be stretched to the total. Each hypothesis' per-trade Sharpe ``t / sqrt(n)``
  is put into per-day units with :func:`~quant_platform.validation.trials.per_period_sharpe_from_trades`
  over the RunSet's days (the days of the bars discovery drew its trades from). The trial count is not
  collapsed for correlation (no return streams exist for the unreplayed hypotheses): near-duplicates count
  fully, which only errs towards a lower DSR. Stressed streams are the engine replays of every scenario of
  ``spec/validation.yaml``.
- No survivors in, an empty (schema-valid) result out; never an error and never a silent pass.
"""

from __future__ import annotations

import numpy as np
import pandera.polars as pa
import polars as pl

from quant_platform.bridge.streams import bridge_candidates, rule_streams, stressed_rule_streams
from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.engine import EngineConfig
from quant_platform.registry.trials import CPCV_PATH, FOLD, HYPOTHESIS, count_hypotheses, with_legacy_kinds
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
from quant_platform.validation.trials import per_period_sharpe_from_trades

STAGE_A = "stage_a"
STAGE_B = "stage_b"
# The t test of a hypothesis as discovery records it in the ledger (discovery.trials.TRIAL_METRICS).
T_STATISTIC, N_OBSERVATIONS = "t_statistic", "n_observations"
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


def dsr_trials_from_ledger(trial_ledger: pl.DataFrame, n_days: int) -> tuple[int, np.ndarray]:
    """``(n_trials_total, per-day Sharpes)`` of the RunSet's trial ledger rows for the DSR (module doc):
    the distinct hypotheses tested, and one per-day Sharpe per hypothesis with a recorded t test. Rows are
    taken in write order (as ``Registry.trials`` returns them), so the latest record of a metric wins; the
    result is sorted by trial id, so the same ledger gives the same array."""
    if n_days < 1:
        raise ValueError(f"n_days must be >= 1, got {n_days}")
    n_trials_total = count_hypotheses(trial_ledger)
    tests = (
        with_legacy_kinds(trial_ledger)
        .filter(pl.col("kind") == HYPOTHESIS, pl.col("metric").is_in([T_STATISTIC, N_OBSERVATIONS]))
        .group_by("trial_id", "metric", maintain_order=True)
        .agg(pl.col("value").last())
        .pivot(on="metric", index="trial_id", values="value")
    )
    if not {T_STATISTIC, N_OBSERVATIONS} <= set(tests.columns):
        return n_trials_total, np.empty(0)
    # A hypothesis without a finite t statistic was not tested (discovery records only tested ones).
    per_trial = tests.filter(
        pl.col(T_STATISTIC).is_finite(), pl.col(N_OBSERVATIONS).is_finite(), pl.col(N_OBSERVATIONS) >= 2
    ).sort("trial_id")
    n = per_trial[N_OBSERVATIONS].to_numpy()
    trade_sharpe = per_trial[T_STATISTIC].to_numpy() / np.sqrt(n)
    return n_trials_total, per_period_sharpe_from_trades(trade_sharpe, n, float(n_days))


def evaluate_stage_a_survivors(
    bridge: pl.DataFrame,
    stage_a_decisions: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    trial_ledger: pl.DataFrame,
    base_config: EngineConfig,
    spec: DiscoverySpec | None = None,
    config: StageBConfig | None = None,
    funding: pl.DataFrame | None = None,
) -> StageBResult:
    """Stage B (PSR, DSR, CPCV, bootstrap, stress, fold policy) over the Stage A survivors, deflated by the
    RunSet's ``trial_ledger`` rows (module doc), every replay settling ``funding`` prints (``None``: none)."""
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
    n_days = bars["ts"].dt.date().n_unique()
    n_trials_total, trial_sharpes_pp = dsr_trials_from_ledger(trial_ledger, n_days)
    chosen = bridge_candidates(bridge).filter(pl.col("candidate_id").is_in(passed))
    scenarios = config.scenarios
    replay = {"base_config": base_config, "spec": spec, "scenarios": scenarios, "funding": funding}
    streams = rule_streams(chosen, bars, events, states, **replay)
    stressed = stressed_rule_streams(chosen, bars, events, states, **replay)
    return stage_b_evaluate(
        streams,
        n_trials_total,
        trial_sharpes_ann=trial_sharpes_pp * np.sqrt(config.annualization_days),
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
