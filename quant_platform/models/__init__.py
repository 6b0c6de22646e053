"""The tabular model layer (Dagster-free): training sets with point-in-time labels, deterministic LightGBM
and a frozen ridge baseline, purged K-fold and anchored walk-forward validation, engine-replayed scoring,
the candidate rule, and the model file + manifest. Settings come from ``spec/models.yaml``."""

from quant_platform.models.dataset import (
    ENTRY_TS,
    EXIT_TS,
    TrainingSet,
    build_training_set,
    design_matrix,
    forward_labels,
    label_column,
)
from quant_platform.models.evaluate import (
    information_coefficient,
    model_engine_config,
    objective_value,
    score_predictions,
)
from quant_platform.models.learners import LgbmModel, RidgeBaseline, fit_lgbm, fit_ridge, lightgbm_params
from quant_platform.models.spec import ModelSpec, load_model_spec
from quant_platform.models.training import (
    BASELINE,
    MODEL,
    CrossValidation,
    TrainedModel,
    candidate_decision,
    cross_validate,
    kfold_splits,
    train_final,
    walk_forward_splits,
)

__all__ = [
    "BASELINE",
    "ENTRY_TS",
    "EXIT_TS",
    "MODEL",
    "CrossValidation",
    "LgbmModel",
    "ModelSpec",
    "RidgeBaseline",
    "TrainedModel",
    "TrainingSet",
    "build_training_set",
    "candidate_decision",
    "cross_validate",
    "design_matrix",
    "fit_lgbm",
    "fit_ridge",
    "forward_labels",
    "information_coefficient",
    "kfold_splits",
    "label_column",
    "lightgbm_params",
    "load_model_spec",
    "model_engine_config",
    "objective_value",
    "score_predictions",
    "train_final",
    "walk_forward_splits",
]
