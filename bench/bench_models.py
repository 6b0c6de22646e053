"""Model layer benchmarks (issue 17), each a ratio measured in one run:

- ``hpo_throughput``: trials/s of one study stage with 2 worker processes vs 1 (LightGBM on one thread per
  worker), same study size, fresh stores; target >= 1.8x on a 2-core machine.
- ``tpe_time_to_grid_best``: TPE (one worker, in process) against a serial grid over the same discrete space
  and objective (purged K-fold mean IC); the time TPE needs to come within 1% of the grid's best, as a share
  of the grid's whole wall time, median over 5 seeds; target <= 1/3.
- ``walk_forward_overhead``: walk-forward (anchored, purged, embargoed) 5-fold training + prediction + IC on
  N rows x 60 features through :func:`quant_platform.models.cross_validate` against LightGBM called directly
  on the same NumPy arrays and folds; time and peak RSS, each side in a fresh process; target overhead <= 20%.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import _peak_rss_mib, isolated_result, row

BENCH = "models"
GRID = {"num_leaves": [4, 15, 63], "learning_rate": [0.02, 0.1, 0.3], "min_data_in_leaf": [20, 100, 400]}


def _world_training(n_symbols: int, n_days: int, n_features: int, seed: int, strength: float = 2.0):
    from quant_platform.models import build_training_set, load_model_spec
    from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world

    world = PlantedModelWorld(
        n_symbols=n_symbols, n_days=n_days, n_features=n_features, seed=seed, strength_bps=strength
    )
    bars, features = make_planted_world(world)
    spec = replace(load_model_spec(), features={"features_v1": world.feature_names})
    return spec, bars, build_training_set(bars, features, spec)


# ---- HPO throughput --------------------------------------------------------------------------------------
def _stage_seconds(n_workers: int, n_trials: int) -> float:
    from quant_platform.hpo.workers import KFOLD, StageJob, run_stage, write_inputs

    # trials of a realistic size (seconds each), so the workers' start-up (imports, journal replay) is amortized
    spec, bars, training = _world_training(6, 30, 12, seed=3)
    spec = replace(spec, purged_kfold_splits=3).with_lightgbm(num_boost_round=150, num_threads=1)
    # no pruning: both runs must do the same work per trial
    spec = replace(spec, hpo=replace(spec.hpo, pruner_startup_trials=10_000))
    with tempfile.TemporaryDirectory() as work:
        inputs = str(Path(work) / "inputs" / "bench")
        write_inputs(inputs, training.frame, bars)
        job = StageJob(
            study_name="bench", stage="coarse", kind=KFOLD, storage=str(Path(work) / "s.journal"),
            inputs_dir=inputs, feature_names=training.feature_names, label=training.label, n_trials=n_trials,
            seed=spec.hpo.seed, spec=spec, jsonl_path=str(Path(work) / "t.jsonl"),
        )  # fmt: skip
        start = time.perf_counter()
        run_stage(job, n_workers)
        return time.perf_counter() - start


def hpo_throughput(quick: bool) -> list[dict[str, Any]]:
    n_trials = 4 if quick else 16
    one = isolated_result(_stage_seconds, 1, n_trials)
    two = isolated_result(_stage_seconds, 2, n_trials)
    speedup = one / two
    return [
        row(BENCH, f"hpo trials/s, 2 workers ({n_trials} trials)", n_trials / two, "trials/s",
            reference=n_trials / one, reference_name="1 worker", target=">= 1.8x", target_met=speedup >= 1.8)
    ]  # fmt: skip


# ---- TPE vs grid -----------------------------------------------------------------------------------------
def _grid_vs_tpe(seeds: list[int], quick: bool) -> dict[str, Any]:
    import optuna

    from quant_platform.models import MODEL, cross_validate, kfold_splits

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec, bars, training = _world_training(2, 6 if quick else 10, 6, seed=9)
    spec = replace(spec, purged_kfold_splits=3).with_lightgbm(num_boost_round=40)
    splits = kfold_splits(training, spec)

    def objective(params: dict[str, Any]) -> float:
        result = cross_validate(
            training, bars, spec, splits, params=params, with_baseline=False, replay=False
        )
        return result.mean(MODEL, "ic")

    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    start = time.perf_counter()
    grid_values = [objective(p) for p in points]
    grid_seconds = time.perf_counter() - start
    best = max(grid_values)
    shares = []
    for seed in seeds:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        start, reached = time.perf_counter(), None
        for _ in range(len(points)):
            trial = study.ask()
            params = {k: trial.suggest_categorical(k, v) for k, v in GRID.items()}
            value = objective(params)
            study.tell(trial, value)
            if value >= best - 0.01 * abs(best):
                reached = time.perf_counter() - start
                break
        shares.append((reached if reached is not None else float("inf")) / grid_seconds)
    return {"grid_seconds": grid_seconds, "grid_points": len(points), "shares": shares}


def tpe_time_to_grid_best(quick: bool) -> list[dict[str, Any]]:
    got = isolated_result(_grid_vs_tpe, [0, 1, 2, 3, 4], quick)
    share = statistics.median(got["shares"])
    return [
        row(BENCH, f"TPE time to grid best / grid time (median of 5; grid {got['grid_points']} points, "
            f"{got['grid_seconds']:.0f} s)", share, "share", target="<= 0.333", target_met=share <= 1 / 3),
        row(BENCH, "TPE time to grid best / grid time, per seed", max(got["shares"]), "max share",
            target=" ".join(f"{s:.3f}" for s in got["shares"])),
    ]  # fmt: skip


# ---- walk-forward overhead -------------------------------------------------------------------------------
def _walk_forward(side: str, n_symbols: int, n_days: int) -> tuple[float, float, float]:
    """(seconds of the timed section, peak RSS MiB of the process, mean fold IC) for one side."""
    import lightgbm as lgb
    import numpy as np

    from quant_platform.models import MODEL, cross_validate, walk_forward_splits
    from quant_platform.models.evaluate import information_coefficient
    from quant_platform.models.learners import lightgbm_params

    spec, bars, training = _world_training(n_symbols, n_days, 60, seed=1)
    spec = replace(spec, walk_forward_folds=5).with_lightgbm(num_boost_round=50, num_threads=1)
    splits = walk_forward_splits(training, spec)
    if side == "ours":
        start = time.perf_counter()
        result = cross_validate(training, bars, spec, splits, with_baseline=False, replay=False)
        seconds, ic = time.perf_counter() - start, result.mean(MODEL, "ic")
    else:
        x, y = training.features(), training.labels()
        params = lightgbm_params(spec.lightgbm)
        start = time.perf_counter()
        ics = []
        for train, test in splits:
            booster = lgb.train(params, lgb.Dataset(x[train], label=y[train]), num_boost_round=50)
            ics.append(information_coefficient(booster.predict(x[test], num_threads=1), y[test]))
        seconds, ic = time.perf_counter() - start, float(np.mean(ics))
    return seconds, _peak_rss_mib(), ic


def walk_forward_overhead(quick: bool) -> list[dict[str, Any]]:
    n_symbols, n_days = (4, 90) if quick else (20, 174)  # ~100k or ~1M rows (5-minute bars)
    ours = isolated_result(_walk_forward, "ours", n_symbols, n_days)
    raw = isolated_result(_walk_forward, "lightgbm", n_symbols, n_days)
    rows_label = f"{n_symbols * n_days * 288 / 1e6:.1f}M rows x 60"
    overhead = ours[0] / raw[0] - 1.0
    return [
        row(BENCH, f"walk-forward 5 folds, {rows_label}: time", ours[0], "s", reference=raw[0],
            reference_name="LightGBM direct", higher_is_better=False, target="overhead <= 20%",
            target_met=overhead <= 0.2, peak_rss_mb=ours[1]),
        row(BENCH, f"walk-forward 5 folds, {rows_label}: peak RSS", ours[1], "MiB", reference=raw[1],
            reference_name="LightGBM direct", higher_is_better=False, target="report", peak_rss_mb=ours[1]),
        row(BENCH, "walk-forward mean fold IC (ours vs direct: same folds, same model)", ours[2], "IC",
            reference=raw[2], reference_name="LightGBM direct", target="equal", target_met=abs(ours[2] - raw[2]) < 1e-9),
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    return [*hpo_throughput(quick), *tpe_time_to_grid_best(quick), *walk_forward_overhead(quick)]
