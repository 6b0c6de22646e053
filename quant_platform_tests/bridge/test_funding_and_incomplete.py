"""Hand-built bridge cases: funding prints settle in every replay and move the after-cost expectancy by
exactly what the positions held through them pay; entries whose exit cannot fill inside the data are
counted per candidate (one helper for the bridge and the Stage A/B streams)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quant_platform.bridge import default_engine_config, evaluate_bridge, rule_streams, scenario_metrics
from quant_platform.bridge.rules import complete_rule_entries
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery import load_discovery_spec

T0 = datetime(2024, 1, 1, tzinfo=UTC)
N_BARS = 600
H = 12
PRICE = 100.0
SYMBOL = "AAAUSDT"
# events every 40 bars, directions alternating; the last one is too close to the end to exit
EVENT_BARS = [10, 50, 90, 130, 170, 210, N_BARS - 5]
DIRECTIONS = [1, -1, 1, -1, 1, -1, 1]


def _ts(bar: int) -> datetime:
    return T0 + timedelta(minutes=5 * bar)


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


@pytest.fixture(scope="module")
def case():
    bars = pl.DataFrame(
        {
            "symbol": SYMBOL,
            "ts": [_ts(i) for i in range(N_BARS)],
            "open": PRICE,
            "close": PRICE,
            "gap": False,
        },
        schema_overrides={"ts": TS_DTYPE},
    )
    events = pl.DataFrame(
        {
            "symbol": SYMBOL,
            "ts": [_ts(b) for b in EVENT_BARS],
            "event_type": "VOL_SHOCK",
            "direction": DIRECTIONS,
        },
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )
    candidates = pl.DataFrame(
        {
            "candidate_id": "c" * 64,
            "family": "VOLATILITY",
            "event_type": "VOL_SHOCK",
            "symbol": SYMBOL,
            "horizon_bars": H,
            "template": "continuation",
            "state_column": "all",
            "state_value": "all",
            "passes_gates": True,
        },
        schema_overrides={"horizon_bars": pl.Int32},
    )
    return bars, events, candidates


def _funding(rows: list[tuple[int, float]]) -> pl.DataFrame:
    # prints stamped inside a bar's interval (a minute after its open)
    return pl.DataFrame(
        {
            "symbol": SYMBOL,
            "ts": [_ts(b) + timedelta(minutes=1) for b, _ in rows],
            "funding_rate": [r for _, r in rows],
        },
        schema_overrides={"ts": TS_DTYPE},
    )


def test_funding_moves_expectancy_by_what_the_held_positions_pay(spec, case):
    bars, events, candidates = case
    # A rule trade entered on the event at bar t fills at the open of t+1 (t+2 with one extra bar of
    # latency) and is flat from t+H+1 (t+H+2): a print in bar t+8 is settled against it in every scenario.
    complete = [(b, d) for b, d in zip(EVENT_BARS, DIRECTIONS, strict=True) if b + H + 2 < N_BARS]
    rate_long, rate_short = 2e-4, -1e-4  # longs pay positive funding, shorts pay negative funding
    prints = [(b + 8, rate_long if d > 0 else rate_short) for b, d in complete]
    prints.append((300, 0.05))  # a print while the rule is flat settles nothing
    base = default_engine_config(spec)
    without = evaluate_bridge(candidates, bars, events, spec=spec, base_config=base)
    with_funding = evaluate_bridge(
        candidates, bars, events, spec=spec, base_config=base, funding=_funding(prints)
    )
    # each trade pays |rate| x its notional (capital x |weight| = capital at a constant price)
    paid = sum(abs(rate_long if d > 0 else rate_short) for _, d in complete)
    expected_shift_bps = -1e4 * paid / len(complete)
    for scenario in without["scenario"]:
        n = scenario_metrics(without, scenario, "n_trades").item()
        assert n == len(complete)
        before = scenario_metrics(without, scenario, "expectancy_bps").item()
        after = scenario_metrics(with_funding, scenario, "expectancy_bps").item()
        assert after - before == pytest.approx(expected_shift_bps, abs=1e-9), scenario
    # funding prints of another symbol change nothing
    other = _funding(prints).with_columns(symbol=pl.lit("BBBUSDT"))
    unrelated = evaluate_bridge(candidates, bars, events, spec=spec, base_config=base, funding=other)
    assert unrelated["expectancy_bps"].to_list() == without["expectancy_bps"].to_list()


def test_funding_reaches_the_stage_streams(spec, case):
    bars, events, candidates = case
    base = default_engine_config(spec)
    prints = _funding([(18, 2e-4)])  # bar 18 lies in the first (long) trade, entered on the bar-10 event
    plain = rule_streams(candidates, bars, events, base_config=base, spec=spec)
    funded = rule_streams(candidates, bars, events, base_config=base, spec=spec, funding=prints)
    delta = (funded["ret_after_cost"] - plain["ret_after_cost"]).to_list()
    assert sum(delta) == pytest.approx(-2e-4, abs=1e-12)
    assert [funded["ts"][i] for i, d in enumerate(delta) if d != 0] == [_ts(18)]


def test_incomplete_entries_are_counted_per_candidate(spec, case):
    bars, events, candidates = case
    base = default_engine_config(spec)
    frame = evaluate_bridge(candidates, bars, events, spec=spec, base_config=base)
    max_extra = max(frame["extra_latency_bars"])
    # independent rule: the exit fill bar t + H + lag + latency + max extra latency must be a bar of the tape
    dropped = sum(
        b + H + base.entry_lag_bars + base.latency_bars + max_extra > N_BARS - 1 for b in EVENT_BARS
    )
    assert dropped == 1
    assert frame["n_entries_incomplete"].unique().to_list() == [dropped]
    assert frame["n_trades"].unique().to_list() == [len(EVENT_BARS) - dropped]
    kept, n_dropped = complete_rule_entries(
        candidates.row(0, named=True), bars, events, None, spec, base, max_extra
    )
    assert (kept.height, n_dropped) == (len(EVENT_BARS) - dropped, dropped)
