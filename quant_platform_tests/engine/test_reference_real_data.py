"""Agreement with the plain event-loop reference (helpers.reference_backtest) on real AAPL daily bars."""

import numpy as np
import polars as pl
import pytest

from quant_platform.engine import EngineConfig, run_backtest, run_sweep, signals_to_targets
from quant_platform_tests.engine.helpers import reference_backtest
from quant_platform_tests.shared_data import real_data_dir, require_real

REAL = real_data_dir() / "stocks_daily_ohlcv.csv.gz"


@pytest.fixture(scope="module")
def aapl() -> pl.DataFrame:
    raw = pl.read_csv(require_real(REAL)).filter(pl.col("Ticker") == "AAPL").sort("Date")
    factor = pl.col("Adj Close") / pl.col("Close")  # split/dividend adjustment applied to every price
    return raw.select(
        pl.lit("AAPL").alias("symbol"),
        pl.col("Date").str.to_datetime("%Y-%m-%d", time_unit="ms", time_zone="UTC").alias("ts"),
        (pl.col("Open") * factor).alias("open"),
        (pl.col("High") * factor).alias("high"),
        (pl.col("Low") * factor).alias("low"),
        pl.col("Adj Close").alias("close"),
        (pl.col("Volume") / factor).cast(pl.Float64).alias("volume"),
        pl.lit(False).alias("gap"),
    )


def sma_cross_targets(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    def sma(n: int) -> np.ndarray:
        out = np.full(close.shape, np.nan)
        c = np.cumsum(close)
        out[n - 1 :] = (c[n - 1 :] - np.r_[0.0, c[:-n]]) / n
        return out

    f, s = sma(fast), sma(slow)
    above = f > s
    entries = above & ~np.r_[False, above[:-1]]
    exits = ~above & np.r_[False, above[:-1]]
    return signals_to_targets(entries, exits)


@pytest.mark.parametrize("fill_price", ["next_open", "next_close", "vwap_hlc3"])
def test_sma_cross_matches_reference_loop(aapl: pl.DataFrame, fill_price: str) -> None:
    close = aapl["close"].to_numpy()
    target = sma_cross_targets(close, 10, 40)
    config = EngineConfig(
        initial_capital=100_000.0,
        fill_price=fill_price,  # type: ignore[arg-type]
        taker_fee_bps=7.5,
        slippage_base_bps=1.5,
        slippage_vol_coef=0.02,
        slippage_impact_bps=30.0,
        latency_bars=1 if fill_price == "vwap_hlc3" else 0,
        min_observation_days=30,
    )
    arrays = [aapl[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    ref_fills, ref_equity = reference_backtest(*arrays, aapl["gap"].to_numpy(), target, config)
    res = run_backtest(aapl, target, config)
    assert len(ref_fills) > 50
    assert res.trades.height == len(ref_fills)
    bar_of = {ts: i for i, ts in enumerate(aapl["ts"].to_list())}
    assert [bar_of[t] for t in res.trades["ts"].to_list()] == [f[0] for f in ref_fills]
    np.testing.assert_allclose(res.trades["qty"].to_numpy(), [f[1] for f in ref_fills], rtol=1e-12)
    np.testing.assert_allclose(res.trades["exec_price"].to_numpy(), [f[2] for f in ref_fills], rtol=1e-12)
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), ref_equity, rtol=1e-9)
    assert res.metrics["final_equity"] == pytest.approx(ref_equity[-1], rel=1e-9)
    assert res.metrics["status"] == "ok"
    assert res.metrics["observation_days"] == aapl.height


def test_gaps_and_funding_match_reference_loop(aapl: pl.DataFrame) -> None:
    rng = np.random.default_rng(11)
    frame = aapl.head(1500)
    gap = rng.random(frame.height) < 0.08
    frame = frame.with_columns(
        pl.Series("gap", gap),
        *(
            pl.when(pl.Series(gap)).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ),
    )
    target = np.round(np.sin(np.arange(frame.height) / 17.0) * 2) / 2  # weights in {-1, -0.5, 0, 0.5, 1}
    rate = np.where(np.arange(frame.height) % 5 == 0, rng.normal(1e-4, 3e-4, frame.height), 0.0)
    funding = pl.DataFrame({"symbol": "AAPL", "ts": frame["ts"], "funding_rate": rate}).filter(
        pl.col("funding_rate") != 0
    )
    config = EngineConfig(initial_capital=50_000.0, taker_fee_bps=4.0, slippage_base_bps=2.0)
    arrays = [frame[c].fill_null(np.nan).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    ref_fills, ref_equity = reference_backtest(*arrays, gap, target, config, funding_rate=rate)
    res = run_backtest(frame, target, config, funding=funding)
    assert res.trades.height == len(ref_fills)
    np.testing.assert_allclose(res.trades["qty"].to_numpy(), [f[1] for f in ref_fills], rtol=1e-12)
    # equity passes close to 0 on this path: compare in units of the capital base there
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), ref_equity, rtol=1e-9, atol=1e-9 * 50_000.0)
    assert res.metrics["funding_pnl"] != 0.0
    # the same run through the array API agrees with the frame API
    sweep = run_sweep(
        arrays[3],
        target,
        config,
        open=arrays[0],
        high=arrays[1],
        low=arrays[2],
        volume=arrays[4],
        gap=gap,
        funding_rate=rate,
        keep_equity=True,
    )
    np.testing.assert_array_equal(sweep.equity[:, 0], res.equity["equity"].to_numpy())
    assert sweep.summary["n_fills"].item() == res.trades.height
