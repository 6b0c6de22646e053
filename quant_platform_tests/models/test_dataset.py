"""Training set: labels against a hand computation from the bars, the timing convention, and counted
exclusions (nothing dropped silently)."""

import itertools
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.models import EXIT_TS, build_training_set, forward_labels, load_model_spec
from quant_platform_tests.models.conftest import world_spec


def test_labels_match_a_hand_computation_from_opens(planted):
    world, bars, _ = planted
    spec = world_spec(world)
    labels = forward_labels(bars, spec)
    sym = bars.filter(pl.col("symbol") == "SYM01USDT").sort("ts")
    opens = sym["open"].to_numpy()
    lag, cost = spec.entry_lag_bars, spec.round_trip_cost_bps * 1e-4
    got = labels.filter(pl.col("symbol") == "SYM01USDT").sort("ts")
    for h in spec.horizons_bars:
        expected = opens[lag + h :] / opens[lag : len(opens) - h] - 1.0 - cost
        column = got[f"label_h{h}"].to_numpy()
        np.testing.assert_allclose(column[: expected.size], expected, rtol=0, atol=1e-15)
        assert got[f"label_h{h}"][expected.size :].is_null().all()  # exit beyond the data: no label
    # the recorded interval: entry = t + lag bars, exit = entry + target horizon bars
    row = got.row(100, named=True)
    assert row["entry_ts"] - row["ts"] == timedelta(minutes=spec.bar_minutes * lag)
    assert row[EXIT_TS] - row["entry_ts"] == timedelta(minutes=spec.bar_minutes * spec.target_horizon_bars)


def test_gap_at_entry_removes_the_label_and_is_counted(planted):
    world, bars, features = planted
    spec = world_spec(world)
    victim = bars.filter(pl.col("symbol") == "SYM00USDT")["ts"][500]
    holed = bars.with_columns(
        gap=pl.when((pl.col("symbol") == "SYM00USDT") & (pl.col("ts") == victim))
        .then(True)
        .otherwise(pl.col("gap"))
    )
    training = build_training_set(holed, features, spec)
    reasons = dict(training.exclusions.iter_rows())
    h = spec.target_horizon_bars
    # the bar before the gap enters at it, the bar h before exits at it
    assert reasons["label_gap"] == 2
    assert reasons["label_window_beyond_data"] == world.n_symbols * (spec.entry_lag_bars + h)
    assert training.n_rows + sum(reasons.values()) == features.height
    entry_ts = training.frame["entry_ts"].to_numpy()
    assert (np.diff(entry_ts.astype("int64")) >= 0).all()  # ordered by label start, as the splitters need


def test_missing_spec_column_is_an_error_naming_it(planted):
    world, bars, features = planted
    spec = world_spec(world)
    with pytest.raises(ValueError, match="f_0"):
        build_training_set(bars, features.drop("f_0"), spec)


def test_spec_reads_horizons_from_global_defaults():
    spec = load_model_spec()
    assert spec.target_horizon_bars in spec.horizons_bars
    assert spec.entry_lag_bars >= 1
    windows = [s.window for s in spec.hpo.stages]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(windows))  # disjoint, in order
