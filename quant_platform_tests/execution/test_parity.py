"""Research-to-execution parity: blueprints in NautilusTrader's ``BacktestEngine`` against our engine.

Truths: a hand-built tape whose fills (time, side, quantity, price) and PnL are written down from the rule
alone — an entry, an ignored overlapping event, a flip exactly one horizon later, a same-sign trade back to
back (no fill), a gap bar deferring a fill — checked against NautilusTrader's own fills and account; then a
planted world with every rule shape (from-direction and fixed signs, a state-conditioned rule, horizon 1,
extra latency) where both engines must agree fill by fill and in PnL to 1e-9; under slippage the PnL gap is
exactly what the two fill models explain and inside their bound; a tampered blueprint fails parity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

pytest.importorskip("nautilus_trader")

from quant_platform.blueprints import blueprint_id
from quant_platform.bridge import default_engine_config
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import WorldConfig, make_world
from quant_platform.execution.nautilus.backtest import run_blueprint
from quant_platform.execution.nautilus.parity import check_blueprint, check_blueprints
from quant_platform_tests.blueprints.helpers import compiled, rule

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CAPITAL, FEE_BPS, H = 1_000_000.0, 4.0, 12


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


def _tape(n_bars: int = 80, gap_bar: int = 23) -> pl.DataFrame:
    close = 100.0 + 0.1 * np.arange(1, n_bars + 1)
    open_ = np.concatenate([[100.0], close[:-1]])
    frame = pl.DataFrame(
        {"symbol": "AAAUSDT", "ts": [T0 + timedelta(minutes=5 * i) for i in range(n_bars)], "open": open_,
         "high": np.maximum(open_, close) + 0.05, "low": np.minimum(open_, close) - 0.05, "close": close,
         "volume": 1e6, "gap": np.arange(n_bars) == gap_bar},
        schema_overrides={"ts": TS_DTYPE},
    )  # fmt: skip
    gap = pl.col("gap")
    return frame.with_columns(
        [pl.when(gap).then(None).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")]
    )


def _events(bars_and_directions: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": "AAAUSDT", "ts": [T0 + timedelta(minutes=5 * b) for b, _ in bars_and_directions],
         "event_type": "VOL_SHOCK", "direction": [d for _, d in bars_and_directions]},
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )  # fmt: skip


def test_hand_built_rule_fills_and_pnl(spec):
    config = default_engine_config(spec, taker_fee_bps=FEE_BPS, initial_capital=CAPITAL)
    (line,) = compiled([rule("AAAUSDT", horizon=H)], spec, config).lines
    bars = _tape()
    # 10: long; 15: inside the trade, ignored; 22 = 10 + H: flip short (its fill bar 23 is a gap -> 24);
    # 34 = 22 + H: short again (same sign, back to back: no order); exit decided at 46, filled at 47.
    events = _events([(10, 1), (15, -1), (22, -1), (34, -1)])
    run = run_blueprint(line, bars, events, None, price_precision=1, taker_fee_bps=FEE_BPS)
    opens = bars["open"].to_numpy()
    q1, q2 = CAPITAL / opens[11], CAPITAL / opens[24]
    expected = pl.DataFrame(
        {"ts": [T0 + timedelta(minutes=5 * b) for b in (11, 24, 47)], "side": ["buy", "sell", "buy"],
         "qty": [q1, -(q1 + q2), q2], "price": [opens[11], opens[24], opens[47]]},
        schema_overrides={"ts": TS_DTYPE},
    )  # fmt: skip
    assert run.fills.select("ts", "side").equals(expected.select("ts", "side"))
    np.testing.assert_allclose(run.fills["qty"], expected["qty"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(run.fills["price"], expected["price"])
    qty, price = expected["qty"].to_numpy(), expected["price"].to_numpy()
    fees = np.abs(qty) * price * FEE_BPS * 1e-4
    np.testing.assert_allclose(run.fills["fee"], fees, rtol=0, atol=1e-8)  # USDT has 8 decimals
    assert run.pnl == pytest.approx(float(-(qty * price).sum() - fees.sum()), rel=1e-12)
    assert run.late_events == 0 and run.open_position == 0.0 and run.entries == 3
    # ... and our engine does the same thing on the same signals
    result = check_blueprint(line, bars, events, None, spec=spec)
    assert result.passed, result.failures
    assert result.n_fills_engine == result.n_fills_nautilus == 3


@pytest.fixture(scope="module")
def world(spec):
    return make_world(WorldConfig(n_symbols=2, n_days=4, events_per_day=10.0, seed=11), spec)


@pytest.fixture(scope="module")
def lines(spec):
    rules = [
        rule("SYM00USDT", horizon=12),
        rule("SYM01USDT", template="reversal", horizon=6, state=("vol_regime", "low")),
        rule("SYM00USDT", event_type="OI_FLUSH", template="drift_long", horizon=3),
        rule("SYM01USDT", event_type="RANGE_BREAKOUT", template="breakout_follow", horizon=1),
        rule("SYM00USDT", event_type="SESSION_OPEN_EVENT", template="drift_short", horizon=24),
    ]
    config = default_engine_config(spec)
    late = compiled(rules[:1], spec, config.replace(latency_bars=1)).lines
    return compiled(rules, spec, config).lines + late


def test_every_blueprint_agrees_fill_by_fill_without_slippage(spec, world, lines):
    results = check_blueprints(lines, world.bars, world.events, world.states, spec=spec)
    n_flips = 0
    for r in results:
        assert r.passed, (r.candidate_id, r.failures)
        assert r.n_fills_engine == r.n_fills_nautilus >= 4
        assert r.pnl_rel_diff <= 1e-9 and r.late_events == 0
        fills = r.fills
        assert (fills["ts_engine"] == fills["ts_nautilus"]).all()
        assert (fills["price_engine"] == fills["price_nautilus"]).all()
        n_flips += int(((fills["qty_engine"].abs() * fills["print_price"]) > 1.5 * 1e6).sum())
    assert n_flips > 0  # some trade flipped in one order: the same-bar exit/entry rule is exercised
    assert results[-1].fills["ts_engine"][0] != results[0].fills["ts_engine"][0]  # latency moved the fills


def test_with_slippage_the_pnl_gap_is_what_the_fill_models_explain(spec, world, lines):
    for r in check_blueprints(lines, world.bars, world.events, world.states, slippage=True, spec=spec):
        assert r.passed, (r.candidate_id, r.failures)
        gap = r.pnl_engine - r.pnl_nautilus
        assert gap < 0  # our slippage (bps of range and participation) costs more than one tick here
        assert abs(gap - r.explained_pnl_diff) <= 1e-9 * r.traded_notional
        assert abs(gap) <= r.slippage_bound


def test_a_blueprint_that_trades_another_rule_fails_parity(spec, world, lines):
    line = {**lines[0], "config": {**lines[0]["config"], "horizon_bars": 6}}  # config no longer the lineage's
    line["blueprint_id"] = blueprint_id(line)
    result = check_blueprint(line, world.bars, world.events, world.states, spec=spec)
    assert not result.passed and any("differ" in f or "count" in f for f in result.failures)
