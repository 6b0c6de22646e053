"""One study stage on a small planted world with two workers, its trials in a registry ledger: the command
the resume test runs, kills and runs again (``python -m quant_platform_tests.hpo.resume_driver <dir>``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from quant_platform.hpo.workers import KFOLD, StageJob, run_stage, write_inputs
from quant_platform.models import build_training_set
from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world
from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform_tests.models.conftest import world_spec

RUNSET = "hpo_resume"
N_TRIALS = 8
N_WORKERS = 2


def fast_spec(world: PlantedModelWorld):
    spec = world_spec(world, purged_kfold_splits=3).with_lightgbm(num_boost_round=15)
    return replace(spec, hpo=replace(spec.hpo, heartbeat_interval_s=1, grace_period_s=3))


def ensure_runset(registry: Registry) -> str:
    if not any(info.name == RUNSET for info in registry.runsets()):
        registry.register_dataset(
            DatasetSpec(dataset_id="planted_models", source="planted_world", assets=["features_v1"],
                        symbols=["SYM00USDT"], first_day=date(2024, 1, 1), last_day=date(2024, 1, 6))
        )  # fmt: skip
        registry.create_runset(RUNSET, RunSetSpec(dataset_id="planted_models"))
    return registry.runset(RUNSET).runset_id


def job_for(work: Path) -> StageJob:
    world = PlantedModelWorld(n_symbols=1, n_days=4, seed=5)
    spec = fast_spec(world)
    registry = Registry(str(work / "registry"))
    runset_id = ensure_runset(registry)
    inputs = str(work / "inputs" / "resume-coarse")  # the layout run_protocol uses: inputs/<study>
    if not (Path(inputs) / "bars.parquet").exists():
        bars, features = make_planted_world(world)
        write_inputs(inputs, build_training_set(bars, features, spec).frame, bars)
    return StageJob(
        study_name="resume-coarse", stage="coarse", kind=KFOLD, storage=str(work / "study.journal"),
        inputs_dir=inputs, feature_names=tuple(world.feature_names), label=f"label_h{spec.target_horizon_bars}",
        n_trials=N_TRIALS, seed=spec.hpo.seed, spec=spec, jsonl_path=str(work / "trials.jsonl"),
        registry_root=str(work / "registry"), runset_id=runset_id,
    )  # fmt: skip


if __name__ == "__main__":
    run_stage(job_for(Path(sys.argv[1])), N_WORKERS)
