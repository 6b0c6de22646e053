"""``spec/models.yaml`` (with the horizons, entry lag, bar length and cost model of ``global_defaults.yaml``)
as frozen values. Code reads these; nothing in code restates them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from quant_platform.core.hashing import canonical_hash
from quant_platform.specs import load_yaml
from quant_platform.specs.profiles import load_profile

FEATURE_SOURCES = ("features_v1", "context_features", "event_flags", "market_events")
EVENT_DIRECTION_SUM = "event_direction_sum"


@dataclass(frozen=True)
class ObjectiveWeights:
    dd_weight: float
    reject_weight: float
    turnover_weight: float


@dataclass(frozen=True)
class StageSpec:
    name: str
    window: tuple[float, float]
    symbols: str  # "first" or "all"
    n_trials: int = 0
    top_k_from_previous: int = 0


@dataclass(frozen=True)
class HpoSpec:
    objective_weights: ObjectiveWeights
    seed: int
    heartbeat_interval_s: int
    grace_period_s: int
    max_retry: int
    pruner_startup_trials: int
    pruner_warmup_steps: int
    space: dict[str, dict[str, Any]]
    stages: tuple[StageSpec, ...]


@dataclass(frozen=True)
class ModelSpec:
    bar_minutes: int
    entry_lag_bars: int
    horizons_bars: tuple[int, ...]
    target_horizon_bars: int
    round_trip_cost_bps: float
    features: dict[str, Any]
    lightgbm: dict[str, Any]
    baseline_alpha: float
    purged_kfold_splits: int
    walk_forward_folds: int
    embargo_fraction: float
    signal_threshold_bps: float
    signal_min_observation_days: int
    max_drawdown_tolerance: float
    hpo: HpoSpec
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def bar_ms(self) -> int:
        return self.bar_minutes * 60_000

    def content_id(self) -> str:
        return canonical_hash(self.raw)

    def with_lightgbm(self, **params: Any) -> ModelSpec:
        """A copy with LightGBM parameters overridden (an HPO trial's configuration)."""
        return replace(self, lightgbm={**self.lightgbm, **params})


def _stage(name: str, body: dict[str, Any]) -> StageSpec:
    lo, hi = (float(x) for x in body["window"])
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(
            f"hpo stage {name!r}: window must satisfy 0 <= start < end <= 1, got {body['window']}"
        )
    if body["symbols"] not in ("first", "all"):
        raise ValueError(f"hpo stage {name!r}: symbols must be 'first' or 'all', got {body['symbols']!r}")
    return StageSpec(
        name=name,
        window=(lo, hi),
        symbols=body["symbols"],
        n_trials=int(body.get("n_trials", 0)),
        top_k_from_previous=int(body.get("top_k_from_previous", 0)),
    )


def load_model_spec(root: Path | None = None) -> ModelSpec:
    """Read ``spec/models.yaml`` and the shared defaults it builds on; inconsistent values are refused."""
    defaults = load_yaml("global_defaults.yaml", root)
    body = load_yaml("models.yaml", root)
    horizons = tuple(int(h) for h in defaults["horizons_bars"])
    target = int(body["target_horizon_bars"])
    if target not in horizons:
        raise ValueError(f"models.yaml target_horizon_bars={target} is not one of global_defaults {horizons}")
    unknown = set(body["features"]) - set(FEATURE_SOURCES)
    if unknown:
        raise ValueError(
            f"models.yaml features name unknown sources {sorted(unknown)}; known {FEATURE_SOURCES}"
        )
    cost = defaults["cost_model"]
    hpo = body["hpo"]
    # in time order (the last window is the forward stage), whatever order the YAML mapping lists them in
    stages = tuple(sorted((_stage(name, s) for name, s in hpo["stages"].items()), key=lambda st: st.window))
    for a, b in itertools.pairwise(stages):
        if b.window[0] < a.window[1]:
            raise ValueError(f"hpo stage windows overlap: {a.name} {a.window} and {b.name} {b.window}")
    weights = hpo["objective_weights"]
    validation = body["validation"]
    return ModelSpec(
        # the bar length is the profile's (spec/profiles.yaml); the model layer trains on the default profile
        bar_minutes=load_profile(None, root).bar_minutes,
        entry_lag_bars=int(defaults["entry_lag_bars"]),
        horizons_bars=horizons,
        target_horizon_bars=target,
        round_trip_cost_bps=2.0 * (float(cost["fee_bps_per_side"]) + float(cost["slippage_bps_per_side"])),
        features=dict(body["features"]),
        lightgbm=dict(body["lightgbm"]),
        baseline_alpha=float(body["baseline"]["alpha"]),
        purged_kfold_splits=int(validation["purged_kfold_splits"]),
        walk_forward_folds=int(validation["walk_forward_folds"]),
        embargo_fraction=float(validation["embargo_fraction"]),
        signal_threshold_bps=float(body["signal"]["signal_threshold_bps"]),
        signal_min_observation_days=int(body["signal"]["min_observation_days"]),
        max_drawdown_tolerance=float(body["candidate"]["max_drawdown_tolerance"]),
        hpo=HpoSpec(
            objective_weights=ObjectiveWeights(
                dd_weight=float(weights["dd_weight"]),
                reject_weight=float(weights["reject_weight"]),
                turnover_weight=float(weights["turnover_weight"]),
            ),
            seed=int(hpo["seed"]),
            heartbeat_interval_s=int(hpo["heartbeat_interval_s"]),
            grace_period_s=int(hpo["grace_period_s"]),
            max_retry=int(hpo["max_retry"]),
            pruner_startup_trials=int(hpo["pruner"]["n_startup_trials"]),
            pruner_warmup_steps=int(hpo["pruner"]["n_warmup_steps"]),
            space=dict(hpo["space"]),
            stages=stages,
        ),
        raw={
            "models": body,
            "defaults": {
                "bar_minutes": load_profile(None, root).bar_minutes,
                **{k: defaults[k] for k in ("entry_lag_bars", "horizons_bars", "cost_model")},
            },
        },
    )
