"""Hypothesis properties of the replay: no signal costs nothing, costs only hurt, no look-ahead, determinism."""

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_platform.engine import EngineConfig, run_backtest, run_sweep, signals_to_targets
from quant_platform.engine.config import MIN_NONZERO_BPS
from quant_platform_tests.engine.helpers import make_bars

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COSTLY = EngineConfig(
    initial_capital=10_000.0,
    taker_fee_bps=6.0,
    slippage_base_bps=1.0,
    slippage_vol_coef=0.05,
    slippage_impact_bps=15.0,
)


@st.composite
def market(draw: st.DrawFn, min_bars: int = 6, max_bars: int = 40, columns: int = 1):
    n = draw(st.integers(min_bars, max_bars))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.cumprod(1 + rng.normal(0, 0.02, n))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.01)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.01)
    volume = rng.uniform(10, 1000, n)
    gap = rng.random(n) < draw(st.sampled_from([0.0, 0.2]))
    for a in (open_, high, low, close):
        a[gap] = np.nan
    levels = np.array([-1.0, -0.5, 0.0, 0.0, 0.5, 1.0])
    targets = levels[rng.integers(0, len(levels), (n, columns))]
    funding = np.where(rng.random(n) < 0.2, rng.normal(0, 1e-3, n), 0.0)
    return (
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "gap": gap},
        targets,
        funding,
    )


def sweep(bars: dict, targets: np.ndarray, config: EngineConfig, funding=None, **kw):
    return run_sweep(
        bars["close"],
        targets,
        config,
        open=bars["open"],
        high=bars["high"],
        low=bars["low"],
        volume=bars["volume"],
        gap=bars["gap"],
        funding_rate=funding,
        keep_equity=True,
        **kw,
    )


@SETTINGS
@given(market(columns=3), st.sampled_from(["next_open", "next_close", "vwap_hlc3", "vwap_ohlc4"]))
def test_zero_signal_gives_zero_pnl_and_zero_cost(data, fill_price) -> None:
    bars, targets, funding = data
    res = sweep(bars, np.zeros_like(targets), COSTLY.replace(fill_price=fill_price), funding)
    assert (res.equity == COSTLY.initial_capital).all()
    summary = res.summary
    assert (summary["n_fills"] == 0).all()
    for col in ("pnl_net", "pnl_gross", "fees", "slippage_cost", "funding_pnl", "turnover"):
        assert (summary[col] == 0.0).all(), col


@SETTINGS
@given(market(columns=3), st.just(0.0) | st.floats(MIN_NONZERO_BPS, 20.0))  # below: refused as a fraction
def test_doubling_costs_never_raises_pnl(data, fee_bps) -> None:
    bars, targets, funding = data
    base = COSTLY.replace(taker_fee_bps=fee_bps)
    once = sweep(bars, targets, base, funding).summary
    twice = sweep(bars, targets, base.replace(taker_fee_bps=2 * fee_bps), funding).summary
    assert (once["n_fills"] == twice["n_fills"]).all()
    slack = 1e-9 * base.initial_capital
    assert (twice["pnl_net"] <= once["pnl_net"] + slack).all()
    more_slip = sweep(bars, targets, base.replace(slippage_base_bps=5.0), funding).summary
    assert (more_slip["pnl_net"] <= once["pnl_net"] + slack).all()


@SETTINGS
@given(market(min_bars=10), st.data())
def test_prices_before_the_fill_bar_never_change_the_fill(data, draw) -> None:
    bars, _, _ = data
    n = len(bars["close"])
    signal_bar = draw.draw(st.integers(0, n - 3))
    target = np.zeros((n, 1))
    target[signal_bar:] = draw.draw(st.sampled_from([-1.0, 0.5, 1.0]))
    config = COSTLY.replace(latency_bars=draw.draw(st.integers(0, 1)))
    first = sweep(bars, target, config)
    # scale every price at and before the signal bar (the bars an order could peek at); the slippage may
    # read the last such bar's range relative to its close and its volume, both unchanged by the scaling
    shaken = {k: v.copy() for k, v in bars.items()}
    for key in ("open", "high", "low", "close"):
        shaken[key][: signal_bar + 1] *= 1.37
    second = sweep(shaken, target, config)
    assert first.summary["n_fills"].item() == second.summary["n_fills"].item()
    if first.summary["n_fills"].item():
        fill_bar = int(np.argmax(first.equity[:, 0] != first.config.initial_capital))
        # from the fill bar on, equity moves identically: the fill used only bars after the signal
        np.testing.assert_allclose(
            np.diff(first.equity[fill_bar - 1 :, 0]),
            np.diff(second.equity[fill_bar - 1 :, 0]),
            rtol=0,
            atol=1e-7,
        )


@SETTINGS
@given(market(min_bars=8), st.data())
def test_slippage_of_a_fill_never_reads_its_own_bars_range_or_volume(data, draw) -> None:
    bars, targets, _ = data
    config = COSTLY.replace(latency_bars=draw.draw(st.integers(0, 1)))
    n = len(bars["close"])
    frame = pl.DataFrame(
        {"symbol": "X", "ts": np.arange(n, dtype=np.int64) * 300_000, **bars},
    ).with_columns(pl.from_epoch("ts", "ms").dt.replace_time_zone("UTC"), pl.col(pl.Float64).fill_nan(None))
    first = run_backtest(frame, targets[:, 0], config)
    if first.trades.height == 0:
        return
    fill_ts = first.trades["ts"][draw.draw(st.integers(0, first.trades.height - 1))]
    at_fill = pl.col("ts") == fill_ts
    shaken = frame.with_columns(
        high=pl.when(at_fill).then(pl.col("high") * 3.0).otherwise(pl.col("high")),
        low=pl.when(at_fill).then(pl.col("low") * 0.2).otherwise(pl.col("low")),
        volume=pl.when(at_fill).then(1e-3).otherwise(pl.col("volume")),
    )
    second = run_backtest(shaken, targets[:, 0], config)
    # every fill up to and including the shaken bar is priced exactly as before
    upto = pl.col("ts") <= fill_ts
    for col in ("ts", "qty", "slippage_bps", "exec_price", "fee"):
        assert first.trades.filter(upto)[col].to_list() == second.trades.filter(upto)[col].to_list(), col


@SETTINGS
@given(market(min_bars=12), st.integers(1, 4))
def test_shifting_signals_later_shifts_every_fill_later(data, shift) -> None:
    bars, targets, _ = data
    bars = {**bars, "gap": np.zeros_like(bars["gap"])}
    for key in ("open", "high", "low", "close"):
        bars[key] = np.where(np.isnan(bars[key]), 100.0, bars[key])
    frame = make_bars(bars["close"], open_=bars["open"])
    early = run_backtest(frame, targets[:, 0], COSTLY)
    late_targets = np.r_[np.zeros(shift), targets[:-shift, 0]]
    late = run_backtest(frame, late_targets, COSTLY)
    early_ts = early.trades["ts"].to_list()
    late_ts = late.trades["ts"].to_list()
    step = frame["ts"][1] - frame["ts"][0]
    assert late_ts == [t + shift * step for t in early_ts[: len(late_ts)]]


@SETTINGS
@given(market(min_bars=12))
def test_appending_future_bars_never_changes_the_past(data) -> None:
    bars, targets, funding = data
    n = len(bars["close"])
    cut = n // 2
    full = sweep(bars, targets, COSTLY, funding)
    head = sweep({k: v[:cut] for k, v in bars.items()}, targets[:cut], COSTLY, funding[:cut])
    np.testing.assert_array_equal(full.equity[:cut], head.equity)


@SETTINGS
@given(market(columns=5), st.integers(1, 5))
def test_columns_are_independent_and_block_size_never_changes_results(data, chunk) -> None:
    bars, targets, funding = data
    noisy = COSTLY.replace(slippage_noise_bps=3.0, seed=9)
    whole = sweep(bars, targets, noisy, funding, chunk_columns=5)
    blocks = sweep(bars, targets, noisy, funding, chunk_columns=chunk)
    np.testing.assert_array_equal(whole.equity, blocks.equity)
    assert whole.summary.columns == blocks.summary.columns
    for col in whole.summary.columns:  # NaN-aware: NaN == NaN here (e.g. no daily Sharpe without ts)
        np.testing.assert_array_equal(
            whole.summary[col].to_numpy(), blocks.summary[col].to_numpy(), err_msg=col
        )
    alone = sweep(bars, targets[:, 2:3], COSTLY, funding)
    together = sweep(bars, targets, COSTLY, funding)
    np.testing.assert_array_equal(alone.equity[:, 0], together.equity[:, 2])


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    rng = np.random.default_rng(5)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, 300))
    bars = pl.concat([make_bars(close, symbol="A"), make_bars(close[::-1].copy(), symbol="B")])
    targets = pl.DataFrame(
        {
            "symbol": ["A"] * 300 + ["B"] * 300,
            "ts": pl.concat([bars["ts"][:300], bars["ts"][:300]]),
            "target_weight": np.sign(np.sin(np.arange(600) / 7.0)) * 0.4,
        }
    )
    config = EngineConfig(slippage_noise_bps=4.0, seed=123)
    a = run_backtest(bars, targets, config)
    b = run_backtest(bars, targets, config)
    assert a.parquet_bytes() == b.parquet_bytes()
    assert a.content_hash() == b.content_hash()
    c = run_backtest(bars, targets, config.replace(seed=124))
    assert c.content_hash() != a.content_hash()
    assert c.trades["qty"].equals(a.trades["qty"])  # only the slippage noise differs


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 60), st.sampled_from(["long", "short"]))
def test_signals_to_targets_matches_a_state_machine(seed, n, direction) -> None:
    rng = np.random.default_rng(seed)
    entries, exits = rng.random((n, 2)) < 0.2, rng.random((n, 2)) < 0.2
    got = signals_to_targets(entries, exits, size=0.5, direction=direction)
    sign = 1.0 if direction == "long" else -1.0
    for k in range(2):
        state = 0.0
        for t in range(n):
            if entries[t, k] and not exits[t, k]:
                state = 0.5 * sign
            elif exits[t, k] and not entries[t, k]:
                state = 0.0
            assert got[t, k] == state


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.floats(0.2, 1.5), st.floats(0.3, 2.0))
def test_caps_hold_for_every_target(seed, symbol_cap, gross_cap) -> None:
    rng = np.random.default_rng(seed)
    frames = [make_bars(100 * np.cumprod(1 + rng.normal(0, 0.01, 30)), symbol=s) for s in "ABC"]
    bars = pl.concat(frames)
    targets = rng.uniform(-2, 2, (30, 3))
    config = EngineConfig(max_symbol_weight=symbol_cap, max_gross_weight=gross_cap, hard_max_abs_weight=1.8)
    res = run_backtest(bars, targets, config)
    weights = res.steps.pivot(on="symbol", index="ts", values="target_weight").drop("ts").to_numpy()
    assert (np.abs(weights) <= symbol_cap + 1e-12).all()
    assert (np.abs(weights).sum(axis=1) <= gross_cap + 1e-12).all()
    assert res.metrics["n_orders_rejected"] == int((np.abs(targets) > 1.8).sum())
