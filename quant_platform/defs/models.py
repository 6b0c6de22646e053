"""Model layer (RunSet-partitioned): ``hpo_study`` and ``signal_models``.

Thin assets: resolve the RunSet (the resolver only points), read the resolved ``bars_5m`` and the feature
sources ``spec/models.yaml`` names (``features_v1``, ``context_features``, ``event_flags``,
``market_events``), build the training set, call one library function, and return the table with its
metadata and blocking schema check. A source the spec asks for that the RunSet's dataset lacks is an error
naming it.

- ``hpo_study`` runs (or resumes: the same storage and study name) the three-stage search through the
  :class:`HpoResource` (storage URL, ``n_workers``, seed, timeout, trial counts), records every trial in the
  registry's ledger (``hpo_trial`` rows), and shows trials, best value and pruned share per stage, the
  recorded windows and the optimization history (PNG). It runs in the ``hpo`` concurrency pool, so two
  studies never oversubscribe the cores (limit the pool to 1 in the instance's concurrency settings).
- ``signal_models`` trains the search's stage-3 winner (or the spec's parameters when no configuration beat
  the baseline, said in the metadata) through the :class:`ModelTrainer` resource, with the frozen baseline;
  the walk-forward fold table, equity curve and feature importance are pictures in the metadata.
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata, upstream_resolution
from quant_platform.defs.research import read_resolved
from quant_platform.hpo import default_n_workers, run_protocol
from quant_platform.models import build_training_set, load_model_spec
from quant_platform.models.pipeline import hpo_trial_table, train_signal_models, winner_params
from quant_platform.models.plots import equity_png, fold_ic_png, history_png, importance_png, markdown_image
from quant_platform.models.schemas import HpoTrials, SignalModels
from quant_platform.models.spec import ModelSpec

HPO_POOL = "hpo"
MODEL_INPUTS = ("bars_5m", "features_v1", "context_features", "event_flags", "market_events")
MODEL_DEPS = [dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in MODEL_INPUTS]


class ModelTrainer(dg.ConfigurableResource):
    """How models are trained: ``spec_root`` (a directory holding models.yaml and global_defaults.yaml;
    default the repository's ``spec/``), and LightGBM's thread count (part of the determinism contract)."""

    spec_root: str | None = None
    num_threads: int = 1

    def spec(self) -> ModelSpec:
        spec = load_model_spec(Path(self.spec_root) if self.spec_root else None)
        return spec.with_lightgbm(num_threads=self.num_threads)


class HpoResource(dg.ConfigurableResource):
    """Optuna's side: where studies live (``root``: journal files, JSONL and worker inputs; ``storage_url``:
    an RDB URL instead of the journal file), ``n_workers`` worker processes (0: ``max(1, cpus - 2)``), the
    sampler ``seed`` (default: the spec's), ``timeout_s`` (the searching stages start no trial after it and go
    on with what finished; the metadata says which timed out), and
    optional per-stage trial counts (``{"coarse": 6, ...}``; default the spec's)."""

    root: str = "data/hpo"
    storage_url: str | None = None
    n_workers: int = 0
    seed: int | None = None
    timeout_s: float | None = None
    trials_per_stage: dict[str, int] | None = None

    def workers(self) -> int:
        return self.n_workers if self.n_workers > 0 else default_n_workers()

    def study_dir(self, runset: str) -> Path:
        return Path(self.root) / runset

    def storage(self, runset: str) -> str:
        return self.storage_url or str(self.study_dir(runset) / "study.journal")


def read_training_inputs(
    registry: Registry, resolution: Any, spec: ModelSpec
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """``bars_5m`` and the design-matrix sources the spec names, exactly as the RunSet resolved them."""
    present = set(resolution.artifacts["asset"].to_list())
    wanted = [
        "features_v1",
        *[s for s in ("context_features", "event_flags", "market_events") if s in spec.features],
    ]
    lacking = [a for a in ["bars_5m", *wanted] if a not in present]
    if lacking:
        raise ValueError(
            f"RunSet {resolution.runset_name!r}: its dataset lacks {lacking}, which spec/models.yaml asks for"
        )
    key = {
        "features_v1": "features",
        "context_features": "context",
        "event_flags": "flags",
        "market_events": "events",
    }
    inputs = {key[a]: read_resolved(registry, resolution, a) for a in wanted}
    return read_resolved(registry, resolution, "bars_5m"), inputs


def _training(registry: Registry, resolution: Any, spec: ModelSpec):
    bars, inputs = read_training_inputs(registry, resolution, spec)
    features = inputs.pop("features")
    return bars, build_training_set(bars, features, spec, **inputs)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="models",
    deps=MODEL_DEPS,
    pool=HPO_POOL,
    check_specs=[schema_check_spec("hpo_study", HpoTrials)],
    description="Three-stage Optuna search (coarse -> refine -> forward out-of-sample) over LightGBM on the "
    "RunSet's training set: worker processes on a shared, resumable study; every trial in the trial ledger.",
)
def hpo_study(context: dg.AssetExecutionContext, registry: Registry, hpo: HpoResource, trainer: ModelTrainer):
    resolution = registry.resolve(context.partition_key)
    spec = trainer.spec()
    if hpo.seed is not None:
        from dataclasses import replace

        spec = replace(spec, hpo=replace(spec.hpo, seed=hpo.seed))
    bars, training = _training(registry, resolution, spec)
    started = time.monotonic()
    result = run_protocol(
        training, bars, spec,
        storage=hpo.storage(context.partition_key), study_name=f"hpo-{resolution.runset_id[:12]}",
        work_dir=str(hpo.study_dir(context.partition_key)), n_workers=hpo.workers(),
        ledger_root=registry.root, runset_id=resolution.runset_id, n_trials=hpo.trials_per_stage,
        timeout_s=hpo.timeout_s,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    frame = hpo_trial_table(result, resolution.runset_id, resolution.resolution_hash)
    per_stage = {s["stage"]: {k: s[k] for k in ("n_trials", "n_complete", "n_pruned", "n_failed", "best_value",
                                                 "pruned_share", "retried_stale", "timed_out", "window_start", "window_end",
                                                 "symbols", "rows")} for s in result.stages}  # fmt: skip
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "study_name": result.study_name,
            "storage_url": hpo.storage(context.partition_key),
            "n_workers": hpo.workers(),
            "stages": dg.MetadataValue.json(per_stage),
            "trials_per_stage": dg.MetadataValue.json({k: v["n_trials"] for k, v in per_stage.items()}),
            "best_value_per_stage": dg.MetadataValue.json({k: v["best_value"] for k, v in per_stage.items()}),
            "pruned_share": dg.MetadataValue.json({k: v["pruned_share"] for k, v in per_stage.items()}),
            "winner_params": dg.MetadataValue.json(result.winner["params"] if result.winner else None),
            "optimization_history": dg.MetadataValue.md(
                markdown_image(history_png(result.history()), "history")
            ),
            "duration_s": round(elapsed, 1),
        },
    )
    yield schema_check_result("hpo_study", HpoTrials, frame)


def _fold_table_md(folds: pl.DataFrame) -> str:
    lines = ["| fold | learner | train rows | test from | test to | IC | hit rate | PnL after cost | max DD | Sharpe |",
             "|---:|---|---:|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip

    def f(v: Any, spec: str) -> str:
        return "—" if v is None else format(v, spec)

    for r in folds.sort("fold", "learner").iter_rows(named=True):
        lines.append(
            f"| {r['fold']} | {r['learner']} | {r['n_train']} | {r['test_first_ts']} | {r['test_last_ts']} "
            f"| {f(r['ic'], '.4f')} | {f(r['hit_rate'], '.3f')} | {f(r['pnl_after_cost'], '.4f')} "
            f"| {f(r['max_drawdown'], '.4f')} | {f(r['sharpe_daily'], '.2f')} |"
        )
    return "\n".join(lines)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="models",
    deps=MODEL_DEPS,
    check_specs=[schema_check_spec("signal_models", SignalModels)],
    description="The RunSet's LightGBM model (the search's stage-3 winner) and its frozen ridge baseline: "
    "model file text + manifest, walk-forward out-of-sample numbers, and the candidate verdict.",
)
def signal_models(
    context: dg.AssetExecutionContext,
    hpo_study: pl.DataFrame,
    registry: Registry,
    hpo: HpoResource,
    trainer: ModelTrainer,
):
    resolution = upstream_resolution(context, registry, "hpo_study")
    spec = trainer.spec()
    bars, training = _training(registry, resolution, spec)
    params = winner_params(hpo_study)
    lineage = {"runset_id": resolution.runset_id, "resolution_hash": resolution.resolution_hash,
               "runset_name": resolution.runset_name, "hpo_study": hpo_study["study"].unique().sort().to_list()}  # fmt: skip
    run = train_signal_models(training, bars, spec, params=params, lineage=lineage)
    summary = run.validation.summary
    yield parquet_output(
        context,
        run.table,
        metadata={
            **runset_output_metadata(resolution),
            "candidate": run.candidate,
            "candidate_reasons": dg.MetadataValue.json(run.reasons),
            "params_source": "hpo stage-3 winner"
            if params
            else "spec defaults (no stage-3 configuration beat the baseline)",
            "best_params": dg.MetadataValue.json(run.params),
            "study_names": dg.MetadataValue.json(lineage["hpo_study"]),
            "storage_url": hpo.storage(context.partition_key),
            "baseline_comparison": dg.MetadataValue.json(
                {
                    learner: {
                        k: summary[learner][k]
                        for k in (
                            "ic",
                            "hit_rate",
                            "pnl_after_cost",
                            "max_drawdown",
                            "sharpe_daily",
                            "turnover",
                        )
                    }
                    for learner in summary
                }
            ),
            "fold_table": dg.MetadataValue.md(_fold_table_md(run.validation.folds)),
            "fold_ic": dg.MetadataValue.md(markdown_image(fold_ic_png(run.validation.folds), "fold IC")),
            "walk_forward_equity": dg.MetadataValue.md(
                markdown_image(equity_png(run.validation.equity), "equity")
            ),
            "feature_importance": dg.MetadataValue.md(
                markdown_image(importance_png(run.importance), "importance")
            ),
            "model_sha256": run.table.filter(pl.col("learner") == "lightgbm")["model_sha256"][0],
            "training_rows": training.n_rows,
            "excluded_rows": dg.MetadataValue.json(dict(training.exclusions.iter_rows())),
            "feature_schema_hash": json.loads(run.table["manifest_json"][0])["feature_schema"]["hash"],
        },
    )
    yield schema_check_result("signal_models", SignalModels, run.table)


defs = dg.Definitions(
    assets=[hpo_study, signal_models],
    resources={"hpo": HpoResource(), "trainer": ModelTrainer()},
)
