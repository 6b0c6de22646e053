"""The two RunSet-level jobs the Dagster assets call: the search's trial table and the signal models.

:func:`hpo_trial_table` flattens a :class:`~quant_platform.hpo.ProtocolResult` into one row per finished
trial. :func:`train_signal_models` trains the chosen configuration (the search's stage-3 winner, else the
spec's parameters) with the frozen baseline: walk-forward out-of-sample numbers for both, the candidate rule,
and each final model file with its manifest (the RunSet id and resolution hash in the lineage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import optuna
import polars as pl
from optuna.trial import TrialState

from quant_platform.hpo.protocol import ProtocolResult, _plain
from quant_platform.models.dataset import TrainingSet
from quant_platform.models.learners import LgbmModel
from quant_platform.models.spec import ModelSpec
from quant_platform.models.training import (
    BASELINE,
    MODEL,
    CrossValidation,
    candidate_decision,
    cross_validate,
    train_final,
    walk_forward_splits,
)


def hpo_trial_table(result: ProtocolResult, runset_id: str, resolution_hash: str) -> pl.DataFrame:
    rows = []
    forward = {}
    if result.forward.height:
        forward = dict(zip(result.forward["number"], result.forward["candidate"], strict=True))
    for stage, window in zip(result.stages, result.windows, strict=True):
        study = optuna.load_study(study_name=stage["study"], storage=_plain(result.storage))
        for t in study.get_trials(deepcopy=False):
            if not t.state.is_finished():
                continue
            rows.append(
                {
                    "runset_id": runset_id,
                    "resolution_hash": resolution_hash,
                    "stage": stage["stage"],
                    "study": stage["study"],
                    "number": t.number,
                    "state": t.state.name,
                    "value": t.value if t.state == TrialState.COMPLETE else None,
                    "params_json": json.dumps(t.params, sort_keys=True),
                    "window_start": window.start.isoformat(),
                    "window_end": window.end.isoformat(),
                    "candidate": forward.get(t.number) if stage["kind"] == "forward" else None,
                }
            )
    schema = {"runset_id": pl.String, "resolution_hash": pl.String, "stage": pl.String, "study": pl.String,
              "number": pl.Int64, "state": pl.String, "value": pl.Float64, "params_json": pl.String,
              "window_start": pl.String, "window_end": pl.String, "candidate": pl.Boolean}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def winner_params(trials: pl.DataFrame) -> dict[str, Any] | None:
    """The best forward-stage candidate's parameters in an ``hpo_study`` table (None: no winner)."""
    wins = trials.filter(pl.col("candidate").fill_null(False)).sort(
        ["value", "number"], descending=[True, False]
    )
    return json.loads(wins["params_json"][0]) if wins.height else None


@dataclass(frozen=True)
class SignalModelRun:
    table: pl.DataFrame
    validation: CrossValidation
    importance: dict[str, float]
    candidate: bool
    reasons: list[str]
    params: dict[str, Any]


def train_signal_models(
    training: TrainingSet,
    bars: pl.DataFrame,
    spec: ModelSpec,
    *,
    params: dict[str, Any] | None,
    lineage: dict[str, Any],
) -> SignalModelRun:
    chosen = {**spec.lightgbm, **(params or {})}
    validation = cross_validate(
        training, bars, spec, walk_forward_splits(training, spec), params=params, stitch=True
    )
    candidate, reasons = candidate_decision(validation.summary, spec)
    model, baseline = train_final(
        training, spec, params=params, fold_metrics=validation.folds, lineage=lineage
    )
    rows = []
    for trained, learner in ((model, MODEL), (baseline, BASELINE)):
        oos = validation.summary[learner]
        rows.append(
            {
                "runset_id": lineage["runset_id"],
                "resolution_hash": lineage["resolution_hash"],
                "learner": learner,
                "model_text": trained.model_text,
                "model_sha256": trained.model_sha256,
                "manifest_json": json.dumps(trained.manifest, sort_keys=True, default=str),
                "params_json": json.dumps(
                    chosen if learner == MODEL else {"alpha": spec.baseline_alpha}, sort_keys=True
                ),
                "candidate": candidate if learner == MODEL else False,
                "candidate_reasons": "; ".join(reasons) if learner == MODEL else "control arm",
                "oos_ic": oos["ic"],
                "oos_pnl_after_cost": oos["pnl_after_cost"],
                "oos_max_drawdown": oos["max_drawdown"],
                "oos_sharpe_daily": oos["sharpe_daily"],
            }
        )
    table = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("oos_ic", "oos_pnl_after_cost", "oos_max_drawdown", "oos_sharpe_daily").cast(pl.Float64)
    )
    importance = LgbmModel.from_text(model.model_text).importance(training.feature_names)
    return SignalModelRun(table, validation, importance, candidate, reasons, chosen)
