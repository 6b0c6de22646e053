"""Event detection on hand-made series: planted effects fire at the right bar with the right direction,
nothing fires in warm-up, onset semantics, ids, flags and the prevalence/skip report."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from quant_platform.core.hashing import canonical_hash
from quant_platform.events import detect_events, event_report, load_event_registry
from quant_platform.events.schemas import EventFlags, MarketEvents
from quant_platform.features import compute_context, compute_features
from quant_platform_tests.features.bars_fixture import make_bars
from quant_platform_tests.features.helpers import bars_from_close

N = 1100
SHOCK_AT = 1000
WARMUP_SHOCK_AT = 100


@pytest.fixture(scope="module")
def shocked() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(17)
    returns = rng.normal(0.0, 0.001, N)
    returns[SHOCK_AT] = 0.03  # ~30 sigma up
    returns[WARMUP_SHOCK_AT] = -0.03  # the same shock inside the warm-up must not fire
    features = compute_features(bars_from_close(100 * np.exp(np.cumsum(returns))))
    events, flags = detect_events(features)
    return features, events, flags


def test_planted_vol_shock_fires_at_the_right_bar_with_direction(shocked) -> None:
    features, events, flags = shocked
    shock = events.filter(pl.col("event_type") == "VOL_SHOCK")
    assert shock["ts"].to_list() == [features["ts"][SHOCK_AT]]
    assert shock["direction"][0] == 1
    assert shock["severity"][0] == pytest.approx(abs(features["ret_1_z"][SHOCK_AT]))
    assert shock["severity"][0] > 5
    assert json.loads(shock["trigger"][0]) == {
        "ret_1": features["ret_1"][SHOCK_AT],
        "ret_1_z": features["ret_1_z"][SHOCK_AT],
    }
    assert flags["VOL_SHOCK"][SHOCK_AT] and flags["VOL_SHOCK"].sum() == 1


def test_no_event_fires_in_warmup(shocked) -> None:
    features, events, _ = shocked
    assert features["warmup"][WARMUP_SHOCK_AT]
    warm_ts = features.filter(pl.col("warmup"))["ts"]
    assert events.filter(pl.col("ts").is_in(warm_ts.implode())).height == 0


def test_events_and_flags_agree_and_validate(shocked) -> None:
    _, events, flags = shocked
    registry = load_event_registry()
    n_flags = flags.select(
        pl.sum_horizontal(pl.col(list(registry.names)).fill_null(False).cast(pl.Int64)).sum()
    ).item()
    assert events.height == n_flags
    MarketEvents.validate(events)
    EventFlags.validate(flags)


def test_event_id_is_sha256_of_canonical_json(shocked) -> None:
    _, events, _ = shocked
    row = events.row(0, named=True)
    assert row["event_id"] == canonical_hash(
        [row["event_type"], row["symbol"], row["ts"].isoformat(timespec="milliseconds")]
    )
    assert events["event_id"].n_unique() == events.height


def test_onset_fires_once_per_crossing() -> None:
    """A staircase that pushes RSI above 70 and keeps it there: RSI_OVERBOUGHT_ONSET fires once, on the
    first bar above 70, and again only after RSI fell back below and crossed again."""
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.001, N)
    returns[950:990] = 0.002  # persistent rally: RSI > 70 for many bars
    returns[990:1030] = -0.002  # sell-off: RSI back below 70
    returns[1030:1060] = 0.002  # second rally
    features = compute_features(bars_from_close(100 * np.exp(np.cumsum(returns))))
    _, flags = detect_events(features)
    rsi = features["rsi_14"].to_numpy(allow_copy=True)
    above = np.nan_to_num(rsi, nan=0.0) > 70
    crossings = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    crossings = [int(i) for i in crossings if not features["warmup"][int(i)] and not np.isnan(rsi[i - 1])]
    fired = np.flatnonzero(flags["RSI_OVERBOUGHT_ONSET"].fill_null(False).to_numpy())
    assert list(fired) == crossings and len(fired) >= 2


def test_skipped_and_unavailable_events_are_reported_not_dropped(shocked) -> None:
    features, _, flags = shocked
    registry = load_event_registry()
    assert set(registry.names) <= set(flags.columns)
    report = event_report(flags, input_columns=features.columns)
    assert report.height == 57
    skipped = report.filter(pl.col("status") == "skipped")
    assert set(skipped["event_type"]) == {"CROSS_VENUE_DESYNC", "FEE_REGIME_CHANGE_EVENT"}
    assert skipped["reason"].str.len_chars().min() > 20
    assert flags["CROSS_VENUE_DESYNC"].null_count() == flags.height
    # Without context, the context-driven events are unavailable (with the missing inputs named).
    unavailable = report.filter(pl.col("status") == "unavailable")
    assert "INDEX_COMPONENT_DIVERGENCE" in unavailable["event_type"].to_list()
    assert (
        unavailable.filter(pl.col("event_type") == "INDEX_COMPONENT_DIVERGENCE")["reason"][0].find(
            "residual_cum_12_z"
        )
        >= 0
    )


def test_prevalence_bounds_are_checked() -> None:
    bars = make_bars(n_symbols=2, n_bars=288 * 5, seed=4)
    features = compute_features(bars)
    events, flags = detect_events(features, compute_context(features))
    report = event_report(flags)
    session = report.filter(pl.col("event_type") == "SESSION_OPEN_EVENT").row(0, named=True)
    evaluable_days = (
        flags.filter(pl.col("SESSION_OPEN_EVENT").is_not_null())
        .select(pl.struct("symbol", pl.col("ts").dt.date()).n_unique())
        .item()
    )
    assert session["symbol_days"] == evaluable_days
    assert session["n_events"] == events.filter(pl.col("event_type") == "SESSION_OPEN_EVENT").height
    # A flag column that fires on every bar must be reported outside its bounds.
    flooded = flags.with_columns(pl.when(pl.col("VOL_SHOCK").is_not_null()).then(True).alias("VOL_SHOCK"))
    assert event_report(flooded).filter(pl.col("event_type") == "VOL_SHOCK")["within_bounds"][0] is False


def test_events_need_only_features_and_context() -> None:
    """Detection reads no raw bar column: the detector works on features_v1 + context_features alone."""
    bars = make_bars(n_symbols=2, n_bars=1200, seed=8)
    features = compute_features(bars)
    context = compute_context(features)
    events, _ = detect_events(features, context)
    assert events.height > 0
    assert set(events["family"]) <= set(load_event_registry().families)
