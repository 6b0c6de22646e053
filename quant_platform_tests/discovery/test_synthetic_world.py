"""The real chain (synthetic market -> cleaning -> features -> context -> events -> discovery) on two seeds with
a planted drift: discovery recovers it and nothing off the planted symbol passes FDR; and the truth labelling
of discoveries checked on hand-built events. (The 20-seed table is in bench/bench_discovery.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery import load_discovery_spec, run_discovery
from quant_platform.discovery.samples import build_samples
from quant_platform.discovery.synthetic_world import label_discoveries, synthetic_chain, trade_capture
from quant_platform.market.sources.synthetic import PlantedEffect, SyntheticConfig

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
PLANTED = "ETHUSDT"
# ~1 hourly sd of ETHUSDT in the synthetic market (measured ~100-115 bps): large enough that 14 days of ~6
# triggers a day find it on every seed, so the test cannot pass by luck nor fail by it.
SIZE_BPS = 110.0


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


@pytest.fixture(
    scope="module", params=[(11, "continuation"), (12, "reversal")], ids=["continuation", "reversal"]
)
def world(request, spec):
    seed, direction = request.param
    effect = PlantedEffect("vol_shock", PLANTED, horizon_bars=12, size_bps=SIZE_BPS, rate_per_day=6.0,
                           direction=direction)  # fmt: skip
    chain = synthetic_chain(SyntheticConfig(seed=seed, symbols=SYMBOLS, planted_effects=(effect,)),
                            "2024-01-01", "2024-01-14", spec)  # fmt: skip
    result = run_discovery(chain.bars, chain.events, chain.states, spec)
    labelled = label_discoveries(
        result.candidates, chain.bars, chain.events, chain.states, chain.planted, spec
    )
    return chain, labelled


def test_recovers_the_planted_drift_and_nothing_off_its_symbol(world):
    _, labelled = world
    found = labelled.filter(pl.col("passes_fdr"))
    assert found.filter(pl.col("is_true_effect")).height >= 1
    assert (found["symbol"] == PLANTED).all(), found.select("event_type", "symbol", "template")
    assert found["is_true_effect"].all(), found.filter(~pl.col("is_true_effect"))


def test_labelling_has_teeth(world):
    """The same carrier event with the opposite template is false, and so is everything off the symbol."""
    chain, labelled = world
    assert chain.planted.height > 0 and (chain.planted["symbol"] == PLANTED).all()
    assert not labelled.filter(pl.col("symbol") != PLANTED)["is_true_effect"].any()
    carriers = labelled.filter(pl.col("is_true_effect")).select("event_type", "template").unique()
    opposite = {"continuation": "reversal", "reversal": "continuation", "breakout_follow": "fade",
                "fade": "breakout_follow"}  # fmt: skip
    flipped = carriers.with_columns(pl.col("template").replace_strict(opposite, default=None)).drop_nulls()
    twins = labelled.filter(pl.col("symbol") == PLANTED).join(flipped, on=["event_type", "template"])
    assert twins.height > 0 and not twins["is_true_effect"].any()


def _ts(bar: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * bar)


# 20 planted +-60 bps drifts over 12 bars on symbol A, 60 bars apart (bar p: drift on bars p+1 .. p+12)
PLANTED_BARS = [20 + 60 * i for i in range(20)]
PLANTED_SIGNS = [1 if i % 3 else -1 for i in range(20)]


def _hand_built():
    n_bars = PLANTED_BARS[-1] + 120
    bars = pl.DataFrame(
        {"symbol": ["A"] * n_bars + ["B"] * n_bars, "ts": [_ts(b) for b in range(n_bars)] * 2,
         "open": [100.0] * (2 * n_bars), "gap": [False] * (2 * n_bars)},
        schema_overrides={"ts": TS_DTYPE},
    )  # fmt: skip
    planted = pl.DataFrame(
        {"symbol": ["A"] * 20, "ts": [_ts(b) for b in PLANTED_BARS], "horizon_bars": [12] * 20,
         "size_bps": [60.0] * 20, "direction": PLANTED_SIGNS},
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )  # fmt: skip
    rows = []
    # true: VOL_SHOCK on every planted bar, direction = the drift's sign
    rows += [("A", b, "VOL_SHOCK", s) for b, s in zip(PLANTED_BARS, PLANTED_SIGNS, strict=True)]
    # chance overlap the old rule called true: OI_FLUSH on every planted bar, agreeing 11 times out of 20
    rows += [("A", b, "OI_FLUSH", s if i < 11 else -s) for i, (b, s) in enumerate(zip(PLANTED_BARS, PLANTED_SIGNS, strict=True))]  # fmt: skip
    # chance overlap with a mean above cost: LIQUIDATION_CASCADE in 12 drift-free spots plus 3 agreeing planted
    # bars (3 lucky trades: 180 / 15 = 12 bps, but only sqrt(3) chance sds)
    rows += [("A", b + 30, "LIQUIDATION_CASCADE", 1) for b in PLANTED_BARS[3:15]]
    rows += [
        ("A", b, "LIQUIDATION_CASCADE", s) for b, s in zip(PLANTED_BARS[:3], PLANTED_SIGNS[:3], strict=True)
    ]
    # same timing as the true case, on the symbol without drift
    rows += [("B", b, "VOL_SHOCK", s) for b, s in zip(PLANTED_BARS, PLANTED_SIGNS, strict=True)]
    events = pl.DataFrame(
        {"event_id": [f"e{i}" for i in range(len(rows))], "symbol": [r[0] for r in rows],
         "ts": [_ts(r[1]) for r in rows], "event_type": [r[2] for r in rows], "direction": [r[3] for r in rows]},
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )  # fmt: skip
    return bars, events, planted


def test_trade_capture_is_the_planted_drift_inside_the_holding_window(spec):
    """Reference: the drift summed bar by bar over each trade's holding bars, in a plain Python loop."""
    bars, events, planted = _hand_built()
    # add trades entering mid-drift and spanning two drift windows
    extra = pl.DataFrame(
        {"event_id": ["m1", "m2"], "symbol": ["A", "A"], "ts": [_ts(PLANTED_BARS[5] + 5), _ts(PLANTED_BARS[7] - 30)],
         "event_type": ["FUNDING_FLIP", "FUNDING_FLIP"], "direction": [1, -1]},
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )  # fmt: skip
    samples = build_samples(bars, pl.concat([events, extra]), None, spec).samples
    got = trade_capture(samples, planted, spec)
    drift = {}
    for p, s in zip(PLANTED_BARS, PLANTED_SIGNS, strict=True):
        for b in range(p + 1, p + 13):
            drift[b] = drift.get(b, 0.0) + s * 60.0 / 12
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for row in got.iter_rows(named=True):
        entry = int((row["ts"] - start).total_seconds() // 300) + spec.entry_lag_bars
        held = range(entry, entry + row["horizon_bars"])
        want = row["trade_sign"] * sum(drift.get(b, 0.0) for b in held) if row["symbol"] == "A" else 0.0
        assert row["planted_bps"] == pytest.approx(want, abs=1e-9)
    # spot values: a trade entering 6 bars into a +60 drift keeps 7 of its 12 bars for 35 bps
    mid = got.filter(
        pl.col("event_id") == "m1", pl.col("template") == "continuation", pl.col("horizon_bars") == 12
    )
    assert mid["planted_bps"].to_list() == [pytest.approx(35.0 * PLANTED_SIGNS[5])]


def test_labels_true_chance_overlap_wrong_sign_and_off_symbol(spec):
    bars, events, planted = _hand_built()
    candidates = (
        build_samples(bars, events, None, spec)
        .samples.select(
            "family", "event_type", "symbol", "horizon_bars", "template", "state_column", "state_value"
        )
        .unique()
    )
    got = label_discoveries(candidates, bars, events, None, planted, spec)
    label = {(r["event_type"], r["symbol"], r["template"], r["horizon_bars"]): r["is_true_effect"]
             for r in got.iter_rows(named=True)}  # fmt: skip
    capture = {(r["event_type"], r["symbol"], r["template"], r["horizon_bars"]): r["planted_capture_bps"]
               for r in got.iter_rows(named=True)}  # fmt: skip
    # true: each trade captures the full +60 at h=12 and h=48, 15 bps (> 10 bps cost) at h=3
    assert capture[("VOL_SHOCK", "A", "continuation", 12)] == pytest.approx(60.0)
    assert all(label[("VOL_SHOCK", "A", "continuation", h)] for h in (3, 12, 48))
    # wrong sign: the reversal template loses the drift
    assert capture[("VOL_SHOCK", "A", "reversal", 12)] == pytest.approx(-60.0)
    assert not any(label[("VOL_SHOCK", "A", "reversal", h)] for h in (3, 12, 48))
    # chance overlap: 100% inside drift windows (the old 10% share rule: true), 11 of 20 agreeing -> 6 bps
    assert capture[("OI_FLUSH", "A", "continuation", 12)] == pytest.approx(6.0)
    assert not label[("OI_FLUSH", "A", "continuation", 12)]
    # chance overlap above cost: 12 bps from 3 lucky trades of 15 is only sqrt(3) chance sds
    assert capture[("LIQUIDATION_CASCADE", "A", "continuation", 12)] == pytest.approx(12.0)
    assert not label[("LIQUIDATION_CASCADE", "A", "continuation", 12)]
    # off symbol: same timing and signs on B, nothing planted there
    assert not any(v for k, v in label.items() if k[1] == "B")
