"""Point-in-time proof: features, states, context and events computed on data truncated at a random cut t
equal the full-data values for every bar <= t; lookahead_report finds a planted lookahead feature."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_platform.events import detect_events
from quant_platform.features import compute_context, compute_features, lookahead_report
from quant_platform.features.lookahead import compare_prefix, sample_cut_points
from quant_platform_tests.features.bars_fixture import make_bars, plant_gaps

N_BARS = 1300  # longer than the longest warm-up (context residual z: 590 + features: 913 bars)


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return _gapped_bars(11)


@pytest.fixture(scope="module")
def full(bars: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return _all_outputs(bars)


def _gapped_bars(seed: int) -> pl.DataFrame:
    bars = make_bars(n_symbols=3, n_bars=N_BARS, seed=seed, gap_prob=0.0)
    return plant_gaps(plant_gaps(bars, "SYM0USDT", [300, 301, 1000]), "SYM1USDT", [1200])


def _all_outputs(bars: pl.DataFrame) -> dict[str, pl.DataFrame]:
    features = compute_features(bars)
    context = compute_context(features)
    events, flags = detect_events(features, context)
    return {"features": features, "context": context, "events": events, "flags": flags}


def _assert_past_unchanged(full: dict[str, pl.DataFrame], bars: pl.DataFrame, cut) -> None:
    truncated = _all_outputs(bars.filter(pl.col("ts") <= cut))
    for name, keys in (
        ("features", ["symbol", "ts"]),
        ("context", ["symbol", "ts"]),
        ("flags", ["symbol", "ts"]),
        ("events", ["symbol", "ts", "event_type"]),
    ):
        assert compare_prefix(full[name], truncated[name], keys, cut) == [], (
            f"{name} changed before the cut {cut}"
        )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_index=st.integers(min_value=1, max_value=N_BARS - 2))
def test_truncation_never_changes_the_past(bars, full, cut_index: int) -> None:
    _assert_past_unchanged(full, bars, bars["ts"].unique().sort()[cut_index])


@settings(max_examples=3, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**16), cut_index=st.integers(min_value=600, max_value=N_BARS - 2)
)
def test_truncation_never_changes_the_past_for_any_data_seed(seed: int, cut_index: int) -> None:
    """The same property over data drawn by hypothesis (cuts after the features' warm-up, where it bites)."""
    bars = _gapped_bars(seed)
    _assert_past_unchanged(_all_outputs(bars), bars, bars["ts"].unique().sort()[cut_index])


def test_full_frames_are_not_trivial(full) -> None:
    """The property above would be vacuous on all-null frames: make sure there is something to compare."""
    ready = full["features"].filter(~pl.col("warmup"))
    assert ready.height > 500 and ready["rsi_14"].null_count() == 0
    assert full["context"].filter(~pl.col("warmup")).height > 100
    assert full["events"].height > 50


def _with_planted_lookahead(bars: pl.DataFrame) -> pl.DataFrame:
    features = compute_features(bars)
    return features.with_columns(pl.col("close").shift(-1).over("symbol").alias("next_close"))


def test_lookahead_report_catches_a_shift_minus_one_feature(bars) -> None:
    cuts = sample_cut_points(bars, 3, seed=1)
    report = lookahead_report(bars, cuts, pipeline=_with_planted_lookahead, keys=("symbol", "ts"))
    assert report["column"].to_list() == ["next_close"]
    # The value at the cut itself is the first to change: it was null when the future was unknown.
    assert report["first_offending_ts"][0] == min(cuts)
    assert report["first_offending_cut"][0] == min(cuts)


@pytest.mark.parametrize("asset", ["features_v1", "context_features", "market_events"])
def test_lookahead_report_is_clean_for_the_real_assets(bars, asset: str) -> None:
    cuts = sample_cut_points(bars, 2, seed=3)
    report = lookahead_report(bars, cuts, asset=asset)
    assert report.height == 0, report


def test_cut_points_are_seeded_and_inside_the_data(bars) -> None:
    a, b = sample_cut_points(bars, 4, seed=5), sample_cut_points(bars, 4, seed=5)
    assert a == b and len(set(a)) == 4
    assert max(a) < bars["ts"].max() and min(a) >= bars["ts"].min()
    assert max(a) - min(a) > timedelta(0)


def test_lookahead_report_counts_every_cut_and_finds_a_leak_that_starts_late(bars) -> None:
    """The multi-cut path: a feature that reads 3 bars ahead, but only from a time T on. Cuts before T see
    nothing; every cut at least 3 bars after T changes exactly the 3 bars before it (inclusive) for each
    symbol (null at the truncated end, the future's close in the full run). ``n_changed`` sums them over the
    cuts, and the first offending cut is the first at or after T, not the first cut."""
    stamps = bars["ts"].unique().sort()
    late = stamps[900]

    def leaky(frame: pl.DataFrame) -> pl.DataFrame:
        ahead = pl.col("close").shift(-3).over("symbol")
        return frame.select("symbol", "ts", pl.when(pl.col("ts") >= late).then(ahead).alias("close_in_3"))

    early_cuts = [stamps[100], stamps[500]]
    late_cuts = [stamps[950], stamps[1100], stamps[1250]]
    report = lookahead_report(bars, [*late_cuts, *early_cuts], pipeline=leaky, keys=("symbol", "ts"))
    n_symbols = bars["symbol"].n_unique()  # the fixture's gaps (bars 300, 301, 1000, 1200) are not 3 ahead
    assert report.select(
        "column", "n_changed", "first_offending_ts", "first_offending_cut", "n_cuts"
    ).rows() == [("close_in_3", 3 * n_symbols * len(late_cuts), stamps[948], late_cuts[0], 5)]
    assert lookahead_report(bars, early_cuts, pipeline=leaky, keys=("symbol", "ts")).height == 0
