"""The search's objective: LightGBM parameters sampled from the spec's space, scored by purged K-fold inside
the stage's window, each fold's engine-replayed objective reported as an intermediate value (the running
mean over folds so far) so the pruner can stop a poor trial after its first folds."""

from __future__ import annotations

from typing import Any

import optuna
import polars as pl

from quant_platform.models.dataset import TrainingSet
from quant_platform.models.spec import ModelSpec
from quant_platform.models.training import MODEL, cross_validate, kfold_splits


def sample_params(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, body in space.items():
        log = bool(body.get("log", False))
        if body.get("int", False):
            params[name] = trial.suggest_int(name, int(body["low"]), int(body["high"]), log=log)
        else:
            params[name] = trial.suggest_float(name, float(body["low"]), float(body["high"]), log=log)
    return params


def kfold_objective(trial: optuna.Trial, training: TrainingSet, bars: pl.DataFrame, spec: ModelSpec) -> float:
    params = sample_params(trial, spec.hpo.space)
    splits = kfold_splits(training, spec)
    seen: list[float] = []

    def report(k: int, row: dict[str, Any]) -> None:
        seen.append(row["objective"])
        trial.report(sum(seen) / len(seen), step=k)
        trial.set_user_attr(f"fold_{k}_ic", row["ic"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after fold {k}")

    result = cross_validate(training, bars, spec, splits, params=params, with_baseline=False, on_fold=report)
    trial.set_user_attr("mean_ic", result.mean(MODEL, "ic"))
    return result.mean(MODEL, "objective")
