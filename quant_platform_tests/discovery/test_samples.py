"""Forward returns, entry lag, gaps, overlap and exclusions on a hand-built tape with known prices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery import build_samples, load_discovery_spec

T0 = datetime(2024, 1, 1, tzinfo=UTC)
N_BARS = 20
GAP_BAR = 13


def ts(bar: int) -> datetime:
    return T0 + timedelta(minutes=5 * bar)


@pytest.fixture(scope="module")
def spec():
    base = load_discovery_spec()
    rows = (
        ("VOL_SHOCK", "VOLATILITY_TRANSITION", "continuation", 3),
        ("VOL_SHOCK", "VOLATILITY_TRANSITION", "reversal", 3),
        ("SESSION_OPEN_EVENT", "TEMPORAL_STRUCTURE", "drift_long", 3),
    )
    return replace(base, plan_rows=rows)


def open_of(bar: int) -> float:
    return 100.0 + bar  # open of bar k is 100 + k


@pytest.fixture(scope="module")
def tape():
    bars = pl.DataFrame(
        {
            "symbol": "AAAUSDT",
            "ts": [ts(k) for k in range(N_BARS)],
            "open": [None if k == GAP_BAR else open_of(k) for k in range(N_BARS)],
            "gap": [k == GAP_BAR for k in range(N_BARS)],
        },
        schema_overrides={"ts": TS_DTYPE},
    )
    rows = [  # (bar, event_type, direction)
        (2, "VOL_SHOCK", 1),  # counted: entry 3, exit 6
        (3, "VOL_SHOCK", 1),  # overlapping (within 3 bars of bar 2)
        (5, "VOL_SHOCK", -1),  # counted: entry 6, exit 9
        (8, "VOL_SHOCK", 0),  # counted, but no direction for continuation/reversal
        (10, "VOL_SHOCK", 1),  # window 11..14 contains the gap bar 13
        (14, "VOL_SHOCK", 1),  # counted: entry 15, exit 18 (bar 10's exclusion does not block it)
        (17, "VOL_SHOCK", 1),  # exit bar 21 is beyond the data
        (4, "SESSION_OPEN_EVENT", 0),  # drift_long: entry 5, exit 8
        (6, "NOT_A_REAL_EVENT", 1),
    ]
    events = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "symbol": "AAAUSDT",
            "ts": [ts(b) for b, _, _ in rows],
            "event_type": [e for _, e, _ in rows],
            "direction": [d for _, _, d in rows],
        },
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )
    states = pl.DataFrame(
        {
            "symbol": "AAAUSDT",
            "ts": [ts(k) for k in range(N_BARS)],
            "vol_regime": [None if k == 14 else ("high" if k < 5 else "low") for k in range(N_BARS)],
            "carry_state": "neutral",
            "trend_state": "chop",
        },
        schema_overrides={"ts": TS_DTYPE},
    )
    return bars, events, states


def gross(entry: int, exit_: int) -> float:
    return (open_of(exit_) / open_of(entry) - 1.0) * 1e4


def test_forward_returns_from_next_bar_open(spec, tape):
    result = build_samples(*tape, spec)
    cont = result.samples.filter(pl.col("template") == "continuation", pl.col("state_column") == "all").sort(
        "ts"
    )
    assert cont["event_id"].to_list() == ["e0", "e2", "e5"]
    expected = [gross(3, 6), -gross(6, 9), gross(15, 18)]  # e2 points down: continuation is short
    assert cont["gross_signed_bps"].to_list() == pytest.approx(expected)
    assert cont["net_bps"].to_list() == pytest.approx([g - spec.cost.round_trip_bps for g in expected])
    rev = result.samples.filter(pl.col("template") == "reversal", pl.col("state_column") == "all").sort("ts")
    assert rev["gross_signed_bps"].to_list() == pytest.approx([-g for g in expected])
    drift = result.samples.filter(pl.col("template") == "drift_long", pl.col("state_column") == "all")
    assert drift["gross_signed_bps"].to_list() == pytest.approx([gross(5, 8)])


def test_exclusions_are_counted_with_reasons(spec, tape):
    ex = build_samples(*tape, spec).exclusions
    counts = {r: n for r, n in ex.group_by("reason").agg(pl.col("n_observations").sum()).iter_rows()}
    assert counts == {
        "overlapping_window": 1,
        "gap_in_window": 1,
        "window_beyond_data": 1,
        "non_directional_event": 2,  # e3 under continuation and reversal
        "event_type_not_in_multiplicity_spec": 1,
        "state_missing": 2,  # e5 has no vol_regime: continuation and reversal cells
    }


def test_state_cells(spec, tape):
    samples = build_samples(*tape, spec).samples
    vol = samples.filter(pl.col("template") == "continuation", pl.col("state_column") == "vol_regime")
    assert sorted(vol.select("event_id", "state_value").rows()) == [("e0", "high"), ("e2", "low")]
    carry = samples.filter(pl.col("template") == "continuation", pl.col("state_column") == "carry_state")
    assert carry.height == 3


def test_entry_lag_comes_from_the_spec(spec, tape):
    lagged = replace(spec, entry_lag_bars=2)
    cont = build_samples(*tape, lagged).samples.filter(
        pl.col("template") == "continuation", pl.col("state_column") == "all", pl.col("event_id") == "e0"
    )
    assert cont["gross_signed_bps"].to_list() == pytest.approx([gross(4, 7)])
    with pytest.raises(ValueError, match="entry_lag_bars"):
        replace(spec, entry_lag_bars=0)


def test_bad_input_is_a_clear_error(spec, tape):
    bars, events, states = tape
    with pytest.raises(ValueError, match="aligned"):
        build_samples(bars, events.with_columns(pl.col("ts") + timedelta(minutes=1)), states, spec)
    with pytest.raises(ValueError, match="direction"):
        build_samples(bars, events.with_columns(direction=pl.lit(2, dtype=pl.Int8)), states, spec)
    with pytest.raises(ValueError, match="duplicate"):
        build_samples(pl.concat([bars, bars.head(1)]), events, states, spec)
    with pytest.raises(ValueError, match="missing required columns"):
        build_samples(bars, events, states.drop("trend_state"), spec)
    with pytest.raises(ValueError, match="family"):
        build_samples(bars, events.with_columns(family=pl.lit("FORCED_FLOW")), states, spec)
