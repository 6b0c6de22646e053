"""The two learners: deterministic LightGBM and the frozen ridge baseline.

LightGBM determinism: ``deterministic=True`` and ``force_row_wise=True`` fix how histograms are built and
summed, ``num_threads`` (from the spec, default 1) fixes the order of the parallel reductions, and ``seed``
seeds every bagging and feature-fraction draw. The same rows, parameters and seed then give the same model
text, byte for byte (``test_determinism`` trains twice from a clean store and compares the files).

The baseline is ridge regression in closed form on standardized features (missing -> the training mean,
i.e. 0 after standardizing). It is written with NumPy rather than scikit-learn because scikit-learn is not a
runtime dependency and the model is three lines of linear algebra; its coefficients serialize to JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

# keys of spec/models.yaml's lightgbm block that are not LightGBM parameters
_NOT_PARAMS = ("num_boost_round",)


def lightgbm_params(spec_params: dict[str, Any]) -> dict[str, Any]:
    """The spec's LightGBM block as training parameters, with the determinism switches forced on."""
    params = {k: v for k, v in spec_params.items() if k not in _NOT_PARAMS}
    params.update(deterministic=True, force_row_wise=True, verbosity=-1)
    params.setdefault("num_threads", 1)
    return params


@dataclass(frozen=True)
class LgbmModel:
    booster: lgb.Booster

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.booster.predict(features, num_threads=1)

    def to_text(self) -> str:
        """LightGBM's own text format (what the model file holds)."""
        return self.booster.model_to_string()

    @classmethod
    def from_text(cls, text: str) -> LgbmModel:
        return cls(lgb.Booster(model_str=text))

    def importance(self, names: tuple[str, ...]) -> dict[str, float]:
        gains = self.booster.feature_importance(importance_type="gain")
        return {n: float(g) for n, g in zip(names, gains, strict=True)}


def fit_lgbm(
    features: np.ndarray, labels: np.ndarray, names: tuple[str, ...], spec_params: dict[str, Any]
) -> LgbmModel:
    if features.shape[0] == 0:
        raise ValueError("cannot train on zero rows")
    params = lightgbm_params(spec_params)
    data = lgb.Dataset(features, label=labels, feature_name=list(names), free_raw_data=True, params=params)
    booster = lgb.train(params, data, num_boost_round=int(spec_params.get("num_boost_round", 100)))
    return LgbmModel(booster)


@dataclass(frozen=True)
class RidgeBaseline:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    alpha: float

    def _standardize(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self._standardize(features) @ self.coef + self.intercept

    def to_text(self) -> str:
        return json.dumps(
            {
                "kind": "ridge",
                "alpha": self.alpha,
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "coef": self.coef.tolist(),
                "intercept": self.intercept,
            },
            sort_keys=True,
        )

    def importance(self, names: tuple[str, ...]) -> dict[str, float]:
        return {n: float(abs(c)) for n, c in zip(names, self.coef, strict=True)}


def fit_ridge(features: np.ndarray, labels: np.ndarray, alpha: float) -> RidgeBaseline:
    x = np.asarray(features, dtype=np.float64)
    if x.shape[0] == 0:
        raise ValueError("cannot fit the baseline on zero rows")
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
        scale = np.nanstd(np.where(np.isfinite(x), x, np.nan), axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    z = np.nan_to_num((x - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    y = np.asarray(labels, dtype=np.float64)
    intercept = float(y.mean())
    gram = z.T @ z + alpha * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, z.T @ (y - intercept))
    return RidgeBaseline(mean=mean, scale=scale, coef=coef, intercept=intercept, alpha=alpha)
