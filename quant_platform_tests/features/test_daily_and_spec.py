"""Daily-partition helper against the full-history computation; the spec's internal consistency."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.core.day_blocks import window_first_day
from quant_platform.events.registry import load_event_registry
from quant_platform.features import compute_features, compute_features_for_day, lookback_days
from quant_platform.features.builders import BUILDERS
from quant_platform.features.spec import load_feature_spec
from quant_platform_tests.features.bars_fixture import make_bars, plant_gaps
from quant_platform_tests.features.real_data import eurusd_hourly_bars

SPEC = load_feature_spec()


def test_lookback_days_covers_the_longest_warmup() -> None:
    k = lookback_days()
    bars_per_day = 24 * 60 // SPEC.bar_minutes
    assert k * bars_per_day >= SPEC.max_warmup_bars()
    warmup = SPEC.max_warmup_bars() + SPEC.recursive_burn_in_bars
    assert k == math.ceil(warmup / bars_per_day) + SPEC.daily_lookback_margin_days


def test_daily_partition_equals_full_history_for_that_day() -> None:
    """Features of day D computed on the lookback window equal those computed on all history: finite windows
    exactly, recursive ones (EWMA, Wilder) to float round-off because k days bury the seed."""
    k = lookback_days()
    bars = plant_gaps(
        make_bars(n_symbols=2, n_bars=288 * (k + 3), seed=5, gap_prob=0.0), "SYM0USDT", [288 * (k + 2) + 100]
    )
    days = bars["ts"].dt.date().unique().sort()
    day = days[-1].isoformat()
    full = compute_features(bars).filter(pl.col("ts").dt.date() == days[-1])
    daily = compute_features_for_day(bars, day)
    assert daily.height == full.height == 2 * 288
    assert daily["ts"].dt.date().unique().to_list() == [days[-1]]
    assert not daily["warmup"].all() and daily["gap"].sum() == 1
    assert daily.select("symbol", "ts", "gap", "warmup").equals(full.select("symbol", "ts", "gap", "warmup"))
    for f in SPEC.table_features("features_v1"):
        np.testing.assert_allclose(
            daily[f.name].to_numpy(allow_copy=True), full[f.name].to_numpy(allow_copy=True), rtol=1e-9, atol=1e-12,
            err_msg=f.name,
        )  # fmt: skip
    for s in SPEC.table_states("features_v1"):
        assert daily[s.name].equals(full[s.name]), s.name


def test_daily_partition_ignores_history_beyond_the_lookback() -> None:
    # The window starts at the day's block's first day minus the look-back (core/day_blocks.py).
    k = lookback_days()
    bars = make_bars(n_symbols=1, n_bars=288 * (2 * k + 3), seed=9)
    day = bars["ts"].max().date().isoformat()
    first = window_first_day(day, k)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    assert start >= bars["ts"].min() + timedelta(days=1)  # the history passed reaches before the window
    assert compute_features_for_day(bars, day).equals(
        compute_features_for_day(bars.filter(pl.col("ts") >= start), day)
    )


def test_every_feature_has_a_builder_and_known_inputs() -> None:
    raw = {"open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume", "basis_bps", "funding_rate",
           "open_interest", "liq_long_notional", "liq_short_notional", "volume_ok", "ts"}  # fmt: skip
    names = {f.name for f in SPEC.features}
    for f in SPEC.table_features("features_v1"):
        assert f.builder in BUILDERS, f.name
        assert set(f.inputs) <= raw | names, f.name
        assert f.warmup_bars >= 0
    for f in SPEC.table_features("context_features"):
        assert set(f.inputs) <= names | {"ret_1"}, f.name


def test_states_read_existing_features() -> None:
    names = {f.name for f in SPEC.features}
    assert {s.name for s in SPEC.states} >= {"vol_regime", "carry_state", "trend_state"}
    for s in SPEC.states:
        assert s.input in names, s.name
        assert len(set(s.labels)) == len(s.labels)


def test_event_registry_is_complete_and_consistent() -> None:
    registry = load_event_registry()
    assert len(registry.events) == 60 and len(set(registry.names)) == 60
    assert len(registry.families) == 11  # 10 market families + EXTERNAL_INFORMATION
    assert {e.family for e in registry.events} == set(registry.families)
    columns = {f.name for f in SPEC.features} | {s.name for s in SPEC.states}
    for e in registry.events:
        assert 0 <= e.min_per_symbol_day <= e.max_per_symbol_day, e.name
        if e.status == "skipped":
            assert e.skip_reason and len(e.skip_reason) > 20, e.name
        else:
            assert set(e.required_inputs) <= columns, (e.name, set(e.required_inputs) - columns)
    core = {"DEPTH_COLLAPSE", "SPREAD_BLOWOUT", "VOL_SHOCK", "FUNDING_FLIP", "LIQUIDATION_CASCADE", "RANGE_BREAKOUT",
            "CORRELATION_BREAKDOWN_EVENT", "SPOT_PERP_BASIS_SHOCK", "FUNDING_TIMESTAMP_EVENT", "FEE_REGIME_CHANGE_EVENT"}  # fmt: skip
    assert core <= set(registry.names)


def test_unknown_builder_or_scope_is_refused(tmp_path) -> None:
    from quant_platform.features.spec import parse_feature_spec

    conv = {"kind": "conventions", "bar_minutes": 5, "min_coverage": 0.8, "daily_lookback_margin_days": 1}
    bad = {
        "family": "x",
        "table": "features_v1",
        "features": {"f": {"inputs": ["close"], "scope": "galaxy", "warmup_bars": 0}},
    }
    with pytest.raises(ValueError, match="unknown scope"):
        parse_feature_spec({"conventions": conv, "x": bad}, {})


def test_hourly_real_file_day_after_the_warmup_span_is_computed_like_full_history() -> None:
    """Real hourly EUR/USD on its 60-minute grid: the 60-minute lookback (40 days, not the 5 days of 5m bars)
    reproduces the full-history values of a day after it, and price features are defined on that day."""
    k = lookback_days(bar_minutes=60)
    warmup = SPEC.max_warmup_bars() + SPEC.recursive_burn_in_bars
    assert k == math.ceil(warmup * 60 / (24 * 60)) + SPEC.daily_lookback_margin_days
    bars = eurusd_hourly_bars("2017-01-02", "2017-04-21")
    day = "2017-04-21"  # a Friday (late in the week: segment features restart after each weekend gap)
    full = compute_features(bars, grid_minutes=60).filter(pl.col("ts").dt.date().cast(pl.String) == day)
    daily = compute_features_for_day(bars, day, grid_minutes=60)
    # The market closes at 21:00 or 22:00 UTC on Fridays (daylight saving): the last hours are gap rows.
    assert daily.height == full.height == 24 and daily["gap"].sum() in (2, 3)
    assert daily.select("symbol", "ts", "gap", "warmup").equals(full.select("symbol", "ts", "gap", "warmup"))
    trading = daily.filter(~pl.col("gap"))
    for name in ("rsi_14", "ewma_vol", "atr_14", "ret_48", "realized_vol_48", "vol_of_vol", "vwap_dist_20"):
        assert trading[name].null_count() == 0, name
        np.testing.assert_allclose(
            daily[name].to_numpy(), full[name].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=name
        )
