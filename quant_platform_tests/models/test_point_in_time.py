"""Point-in-time audit of the model layer (issue 16, labels and models): appending future bars never changes
a past label's availability-respecting value, a past design-matrix row, the model known at a cut or its
past predictions. Each audit is run on the real chain and on a planted bug, which it must catch:

| planted bug                                             | caught by                                        |
|---------------------------------------------------------|--------------------------------------------------|
| a label that reads the open one bar after its exit      | test_label_audit_catches_a_label_past_its_exit   |
| a design column holding the next bar's return           | test_design_audit_catches_a_next_bar_feature     |
| training on rows whose label has not ended at the cut   | test_prediction_audit_catches_unfinished_labels  |
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from quant_platform.events import detect_events
from quant_platform.features import compute_context, compute_features
from quant_platform.features.lookahead import sample_cut_points
from quant_platform.models import forward_labels, load_model_spec
from quant_platform.models.dataset import ENTRY_TS
from quant_platform.models.lookahead import (
    design_lookahead_report,
    label_lookahead_report,
    prediction_lookahead_report,
)
from quant_platform_tests.features.bars_fixture import make_bars, plant_gaps

N_BARS = 1300  # past the chain's longest warm-up (~913 bars), so design rows exist before the cuts


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    raw = make_bars(n_symbols=3, n_bars=N_BARS, seed=5, gap_prob=0.0)
    return plant_gaps(raw, "SYM0USDT", [1000, 1001, 1150])


def chain_inputs(bars: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """bars -> features_v1 -> context -> events and flags: the inputs of the design matrix."""
    features = compute_features(bars)
    context = compute_context(features)
    events, flags = detect_events(features, context)
    return {"features": features, "context": context, "flags": flags, "events": events}


def late_cuts(bars: pl.DataFrame, n: int, seed: int) -> list:
    stamps = bars["ts"].unique().sort()
    return sample_cut_points(bars.filter(pl.col("ts") >= stamps[1050]), n, seed=seed)


def test_labels_are_point_in_time(bars):
    spec = load_model_spec()
    cuts = sample_cut_points(bars, 4, seed=2)
    report = label_lookahead_report(bars, spec, cuts)
    assert report.height == 0, report


def _peeking_labels(bars: pl.DataFrame, spec) -> pl.DataFrame:
    """Labels that read the open one bar after their recorded exit."""
    shifted = replace(spec, entry_lag_bars=spec.entry_lag_bars + 1)
    wrong = forward_labels(bars, shifted)
    right = forward_labels(bars, spec)
    return right.select("symbol", "ts", ENTRY_TS, "exit_ts").join(
        wrong.drop(ENTRY_TS, "exit_ts"), on=["symbol", "ts"], how="left"
    )


def test_label_audit_catches_a_label_past_its_exit(bars):
    spec = load_model_spec()
    cuts = sample_cut_points(bars, 4, seed=2)
    report = label_lookahead_report(bars, spec, cuts, labels=_peeking_labels)
    assert set(report["column"]) == {f"label_h{h}" for h in spec.horizons_bars}
    assert (report["n_changed"] >= len(cuts)).all()


def test_design_matrix_is_point_in_time(bars):
    spec = load_model_spec()
    report = design_lookahead_report(bars, spec, late_cuts(bars, 2, seed=4), inputs=chain_inputs)
    assert report.height == 0, report


def test_design_audit_catches_a_next_bar_feature(bars):
    spec = load_model_spec()

    def leaky(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
        parts = chain_inputs(frame)
        parts["features"] = parts["features"].with_columns(pl.col("ret_1").shift(-1).over("symbol"))
        return parts

    report = design_lookahead_report(bars, spec, late_cuts(bars, 2, seed=4), inputs=leaky)
    assert report["column"].to_list() == ["ret_1"]


def _small_model_spec():
    return load_model_spec().with_lightgbm(num_boost_round=20, min_data_in_leaf=20)


def test_model_and_predictions_are_point_in_time(bars):
    report = prediction_lookahead_report(
        bars, _small_model_spec(), late_cuts(bars, 2, seed=6), inputs=chain_inputs
    )
    assert report.height == 0, report


def test_prediction_audit_catches_unfinished_labels(bars):
    report = prediction_lookahead_report(
        bars,
        _small_model_spec(),
        late_cuts(bars, 2, seed=6),
        inputs=chain_inputs,
        known_at=lambda cut: pl.col("ts") <= cut,  # the bug: a label is used before its exit bar opened
    )
    assert "<model file>" in report["column"].to_list()
    assert "prediction" in report["column"].to_list()
