"""Cross-validation of the learners on a :class:`TrainingSet` and the trained model artifact.

Two fold schemes, both from :mod:`quant_platform.validation.folds` and both purging by each label's
``[entry_ts, exit_ts]`` interval plus an embargo:

- :func:`kfold_splits`: purged K-fold, for model selection inside a window (the search's objective);
- :func:`walk_forward_splits`: anchored (expanding) walk-forward with an embargo before each test fold, for
  the reported out-of-sample numbers. The test folds are consecutive, so their predictions stitch into one
  out-of-sample run that the engine replays as a whole (the walk-forward equity curve).

``purge=False`` hands the splitters point labels (``label_end = label_start``) and no embargo: the ablation
that shows what the purge is worth (``test_leakage``); it is never the default.

Per fold the model and the frozen baseline are fitted on the same training rows and scored on the same test
rows (:func:`quant_platform.models.evaluate.score_predictions`).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm
import numpy as np
import optuna
import polars as pl

from quant_platform.core.hashing import canonical_hash, sha256_hex
from quant_platform.engine import ENGINE_VERSION, EngineConfig
from quant_platform.models.dataset import TrainingSet
from quant_platform.models.evaluate import PREDICTION, model_engine_config, score_predictions
from quant_platform.models.learners import LgbmModel, RidgeBaseline, fit_lgbm, fit_ridge, lightgbm_params
from quant_platform.models.spec import ModelSpec
from quant_platform.validation.folds import AnchoredTemporalFolds, PurgedKFold

MODEL, BASELINE = "lightgbm", "baseline"
MODEL_LAYER_VERSION = "models-0.1.0"
Splits = list[tuple[np.ndarray, np.ndarray]]


def _spans(training: TrainingSet, purge: bool) -> tuple[np.ndarray, np.ndarray]:
    start, end = training.label_spans()
    return (start, end) if purge else (start, start)


def kfold_splits(
    training: TrainingSet, spec: ModelSpec, *, purge: bool = True, n_splits: int | None = None
) -> Splits:
    embargo = spec.embargo_fraction if purge else 0
    splitter = PurgedKFold(n_splits or spec.purged_kfold_splits, embargo=embargo)
    start, end = _spans(training, purge)
    return list(splitter.split(label_start=start, label_end=end))


def walk_forward_splits(
    training: TrainingSet, spec: ModelSpec, *, purge: bool = True, n_folds: int | None = None
) -> Splits:
    embargo = spec.embargo_fraction if purge else 0
    splitter = AnchoredTemporalFolds(n_folds or spec.walk_forward_folds, embargo=embargo)
    start, end = _spans(training, purge)
    return list(splitter.split(label_start=start, label_end=end))


FoldCallback = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class CrossValidation:
    folds: pl.DataFrame  # one row per (fold, learner)
    predictions: pl.DataFrame  # symbol, ts, fold, learner, prediction, label (out of sample)
    equity: pl.DataFrame  # learner, ts, equity: the stitched out-of-sample replay (walk-forward only)
    summary: dict[str, dict[str, Any]]  # learner -> metrics of the stitched out-of-sample replay

    def mean(self, learner: str, metric: str) -> float:
        values = self.folds.filter(pl.col("learner") == learner)[metric].drop_nulls().drop_nans()
        return float(values.mean()) if values.len() else float("nan")


def cross_validate(
    training: TrainingSet,
    bars: pl.DataFrame,
    spec: ModelSpec,
    splits: Splits,
    *,
    params: dict[str, Any] | None = None,
    engine: EngineConfig | None = None,
    with_baseline: bool = True,
    stitch: bool = False,
    replay: bool = True,
    on_fold: FoldCallback | None = None,
) -> CrossValidation:
    """Fit and score per fold. ``on_fold(k, lightgbm_row)`` runs after each fold (the search reports its
    intermediate value there and may raise ``optuna.TrialPruned``). ``stitch`` replays the concatenated
    out-of-sample predictions as one run (for consecutive test folds: walk-forward). ``replay=False`` scores
    IC and hit rate only (no engine replay: the engine metrics are null), for studies of the ranking alone."""
    config = model_engine_config(spec, engine)
    lgb_params = {**spec.lightgbm, **(params or {})}
    x, y = training.features(), training.labels()
    keys = training.frame.select("symbol", "ts")
    rows, preds = [], []
    for k, (train, test) in enumerate(splits):
        if train.size == 0:
            raise ValueError(f"fold {k} has no training rows after purging and embargo")
        learners: list[tuple[str, Any]] = [
            (MODEL, fit_lgbm(x[train], y[train], training.feature_names, lgb_params))
        ]
        if with_baseline:
            learners.append((BASELINE, fit_ridge(x[train], y[train], spec.baseline_alpha)))
        for name, model in learners:
            fold_pred = keys[test].with_columns(
                pl.Series(PREDICTION, model.predict(x[test])), pl.Series("label", y[test])
            )
            row, _ = score_predictions(fold_pred, y[test], bars, spec, config, replay=replay)
            row = {
                "fold": k,
                "learner": name,
                "n_train": int(train.size),
                "test_first_ts": fold_pred["ts"].min(),
                "test_last_ts": fold_pred["ts"].max(),
                **row,
            }
            rows.append(row)
            preds.append(fold_pred.with_columns(pl.lit(k).alias("fold"), pl.lit(name).alias("learner")))
            if name == MODEL and on_fold is not None:
                on_fold(k, row)
    folds = pl.DataFrame(rows, infer_schema_length=None)
    predictions = pl.concat(preds)
    equity_parts, summary = [], {}
    if stitch:
        for name in predictions["learner"].unique(maintain_order=True).to_list():
            oos = predictions.filter(pl.col("learner") == name).sort("ts", "symbol")
            row, equity = score_predictions(oos, oos["label"].to_numpy(), bars, spec, config)
            summary[name] = row
            equity_parts.append(equity.with_columns(pl.lit(name).alias("learner")))
    equity = pl.concat(equity_parts) if equity_parts else pl.DataFrame()
    return CrossValidation(folds=folds, predictions=predictions, equity=equity, summary=summary)


def candidate_decision(summary: dict[str, dict[str, Any]], spec: ModelSpec) -> tuple[bool, list[str]]:
    """A model is a candidate only if, on the stitched walk-forward out-of-sample replay, its after-cost PnL
    beats the baseline's and its max drawdown is not worse (beyond the spec's tolerance). A model that never
    traded, or lost money after costs, is not a candidate even against a losing baseline: standing aside
    beats a bad control without being a signal."""
    model, base = summary[MODEL], summary[BASELINE]
    reasons = []
    if not model["turnover"] > 0:
        reasons.append("no_trades: the signal never traded out of sample")
    elif not model["pnl_after_cost"] > 0:
        reasons.append(f"pnl_after_cost {model['pnl_after_cost']:.6f} is not positive")
    if not model["pnl_after_cost"] > base["pnl_after_cost"]:
        reasons.append(
            f"pnl_after_cost {model['pnl_after_cost']:.6f} does not beat the baseline's {base['pnl_after_cost']:.6f}"
        )
    if model["max_drawdown"] > base["max_drawdown"] + spec.max_drawdown_tolerance:
        reasons.append(
            f"max_drawdown {model['max_drawdown']:.6f} worse than the baseline's {base['max_drawdown']:.6f}"
        )
    return not reasons, reasons


@dataclass(frozen=True)
class TrainedModel:
    """A model file (LightGBM's own text format, or the baseline's JSON) and its manifest."""

    learner: str
    model_text: str
    manifest: dict[str, Any]

    @property
    def model_sha256(self) -> str:
        return sha256_hex(self.model_text.encode())

    def write(self, directory: str) -> tuple[str, str]:
        """Write ``<learner>.txt`` (or ``.json``) and ``<learner>.manifest.json``; returns both paths."""
        import json
        from pathlib import Path

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        model_path = out / (f"{self.learner}.txt" if self.learner == MODEL else f"{self.learner}.json")
        manifest_path = out / f"{self.learner}.manifest.json"
        model_path.write_text(self.model_text)
        manifest_path.write_text(json.dumps(self.manifest, sort_keys=True, indent=2, default=str))
        return str(model_path), str(manifest_path)


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
        "polars": pl.__version__,
        "optuna": optuna.__version__,
        "engine": ENGINE_VERSION,
        "models": MODEL_LAYER_VERSION,
    }


def train_final(
    training: TrainingSet,
    spec: ModelSpec,
    *,
    params: dict[str, Any] | None = None,
    fold_metrics: pl.DataFrame | None = None,
    lineage: dict[str, Any] | None = None,
) -> tuple[TrainedModel, TrainedModel]:
    """The model and the frozen baseline fitted on every row of ``training``, each with its manifest (data
    range, feature schema + hash, fold metrics, seed, parameters, library versions and ``lineage``: RunSet id,
    resolution hash)."""
    x, y = training.features(), training.labels()
    lgb_params = {**spec.lightgbm, **(params or {})}
    model: LgbmModel = fit_lgbm(x, y, training.feature_names, lgb_params)
    baseline: RidgeBaseline = fit_ridge(x, y, spec.baseline_alpha)
    common = {
        "data_range": training.data_range(),
        "feature_schema": training.feature_schema(),
        "label": training.label,
        "label_timing": {"entry_lag_bars": spec.entry_lag_bars, "horizon_bars": spec.target_horizon_bars,
                         "round_trip_cost_bps": spec.round_trip_cost_bps},
        "training_rows_hash": canonical_hash(
            {"rows": training.n_rows, "labels": sha256_hex(np.ascontiguousarray(y).tobytes()),
             "features": sha256_hex(np.ascontiguousarray(x).tobytes())}
        ),
        "spec_id": spec.content_id(),
        "library_versions": library_versions(),
        **(lineage or {}),
    }  # fmt: skip
    folds = fold_metrics.to_dicts() if fold_metrics is not None else []

    def manifest(learner: str, text: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            **common,
            **extra,
            "learner": learner,
            "model_sha256": sha256_hex(text.encode()),
            "fold_metrics": [r for r in folds if r.get("learner") == learner],
        }

    m_text, b_text = model.to_text(), baseline.to_text()
    return (
        TrainedModel(MODEL, m_text, manifest(MODEL, m_text, {"seed": lgb_params.get("seed"),
                                                                "params": lightgbm_params(lgb_params),
                                                                "num_boost_round": lgb_params.get("num_boost_round")})),
        TrainedModel(BASELINE, b_text, manifest(BASELINE, b_text, {"alpha": spec.baseline_alpha, "seed": None})),
    )  # fmt: skip
