"""The purge is what keeps cross-validation honest. In a null world (nothing predictable) with overlapping
48-bar labels and a feature that tells the model where in time a row is (a bar clock, like any slowly
moving feature), purged K-fold finds nothing, while the same K-fold with the purge and embargo off lets the
model read each test label off the overlapping training labels next to it: its IC is clearly inflated."""

from dataclasses import replace

import polars as pl
import pytest

from quant_platform.models import MODEL, build_training_set, cross_validate, kfold_splits
from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world
from quant_platform_tests.models.conftest import world_spec


def _kfold_ic(seed: int, purge: bool) -> float:
    world = PlantedModelWorld(n_symbols=1, n_days=4, strength_bps=0.0, n_features=3, seed=seed)
    bars, features = make_planted_world(world)
    features = features.with_columns(clock=pl.int_range(pl.len()).over("symbol").cast(pl.Float64))
    spec = replace(
        world_spec(world, target_horizon_bars=48), features={"features_v1": ["clock", *world.feature_names]}
    ).with_lightgbm(
        min_data_in_leaf=10,
        num_leaves=31,
        learning_rate=0.1,
        lambda_l2=0.0,
        num_boost_round=50,
        feature_fraction=1.0,
        bagging_fraction=1.0,
    )  # fmt: skip  (a model able to memorize locally, as a deep tree can)
    training = build_training_set(bars, features, spec)
    splits = kfold_splits(training, spec, purge=purge, n_splits=36)  # test blocks shorter than a label
    result = cross_validate(training, bars, spec, splits, with_baseline=False, replay=False)
    return result.mean(MODEL, "ic")


@pytest.mark.slow
def test_turning_the_purge_off_inflates_the_null_worlds_cv_ic():
    purged = [_kfold_ic(seed, purge=True) for seed in range(3)]
    leaky = [_kfold_ic(seed, purge=False) for seed in range(3)]
    print({"purged": purged, "unpurged": leaky})
    assert all(abs(ic) < 0.08 for ic in purged)
    assert all(bad > good + 0.08 for bad, good in zip(leaky, purged, strict=True))
    assert min(leaky) > 0.1
