"""Truth from a planted world: a mostly non-linear predictable component of forward returns (features f_1 x
f_2, plus a little of f_0; :mod:`quant_platform.models.planted_world`). Walk-forward out of sample, LightGBM's
IC is clearly positive and above the linear baseline's, and the model is a candidate; in the null world
(nothing planted) the out-of-sample IC is indistinguishable from zero in >= 95% of 20 seeds."""

import polars as pl
import pytest
from scipy.stats import spearmanr

from quant_platform.models import (
    BASELINE,
    MODEL,
    build_training_set,
    candidate_decision,
    cross_validate,
    walk_forward_splits,
)
from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world
from quant_platform_tests.models.conftest import world_spec


def test_planted_component_is_found_out_of_sample_and_beats_the_baseline(planted):
    world, bars, features = planted
    spec = world_spec(world)
    training = build_training_set(bars, features, spec)
    result = cross_validate(training, bars, spec, walk_forward_splits(training, spec), stitch=True)
    model, base = result.summary[MODEL], result.summary[BASELINE]
    assert model["ic"] > 0.10  # the oracle's IC on this world is ~0.23
    assert model["ic"] > base["ic"] + 0.05
    per_fold = result.folds.filter(pl.col("learner") == MODEL)["ic"]
    assert (per_fold > 0).all()
    is_candidate, reasons = candidate_decision(result.summary, spec)
    assert is_candidate, reasons
    # walk-forward: every test fold lies after its training rows' labels (anchored, purged, embargoed)
    for train, test in walk_forward_splits(training, spec):
        assert training.frame[train]["exit_ts"].max() < training.frame[test]["entry_ts"].min()


def non_overlapping_ic(result, horizon: int) -> tuple[float, float]:
    """Spearman IC and its p-value on out-of-sample rows whose labels do not overlap (every h-th bar per
    symbol): with i.i.d. returns and no plant, those labels are independent of the predictions, so the test
    is exact."""
    oos = result.predictions.filter(pl.col("learner") == MODEL).sort("symbol", "ts")
    thinned = oos.filter((pl.int_range(pl.len()).over("symbol") % horizon) == 0)
    test = spearmanr(thinned["prediction"].to_numpy(), thinned["label"].to_numpy())
    return float(test.statistic), float(test.pvalue)


@pytest.mark.slow
def test_null_world_out_of_sample_ic_is_indistinguishable_from_zero():
    rows = []
    for seed in range(20):
        world = PlantedModelWorld(n_symbols=2, n_days=12, strength_bps=0.0, seed=100 + seed)
        bars, features = make_planted_world(world)
        spec = world_spec(world, walk_forward_folds=3)
        training = build_training_set(bars, features, spec)
        result = cross_validate(
            training, bars, spec, walk_forward_splits(training, spec), with_baseline=False, stitch=False
        )
        ic, p = non_overlapping_ic(result, spec.target_horizon_bars)
        rows.append((seed, ic, p))
    table = pl.DataFrame(rows, schema=["seed", "ic", "p_value"], orient="row")
    with pl.Config(tbl_rows=len(rows)):
        print(table)
    indistinguishable = (table["p_value"] >= 0.05).mean()
    assert indistinguishable >= 0.95, table
    assert abs(float(table["ic"].mean())) < 0.03


def test_planted_world_is_not_null_for_the_same_test(planted):
    """The same thinned test does reject in the planted world (so the null test above could fail)."""
    world, bars, features = planted
    spec = world_spec(world, walk_forward_folds=3)
    training = build_training_set(bars, features, spec)
    result = cross_validate(training, bars, spec, walk_forward_splits(training, spec), with_baseline=False)
    ic, p = non_overlapping_ic(result, spec.target_horizon_bars)
    assert ic > 0.1 and p < 1e-4
