"""run_backtest consumes the Bars5m contract as it is (every column, gap rows with null prices)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.engine import EngineConfig, run_backtest
from quant_platform.market.schemas import Bars5m


def bars5m(symbols: list[str], n: int, gap_every: int = 13) -> pl.DataFrame:
    rng = np.random.default_rng(21)
    frames = []
    for s in symbols:
        close = 100 * np.cumprod(1 + rng.normal(0, 0.002, n))
        open_ = close * (1 + rng.normal(0, 0.0005, n))
        gap = (np.arange(n) % gap_every) == 5
        high = np.maximum(open_, close) * 1.001
        low = np.minimum(open_, close) * 0.999

        def masked(a: np.ndarray, gap: np.ndarray = gap) -> list:
            return [None if g else float(v) for v, g in zip(a, gap, strict=True)]

        frames.append(
            pl.DataFrame(
                {
                    "symbol": [s] * n,
                    "ts": [datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(n)],
                    "open": masked(open_),
                    "high": masked(high),
                    "low": masked(low),
                    "close": masked(close),
                    "volume": masked(rng.uniform(10, 100, n)),
                    "quote_volume": masked(rng.uniform(1e3, 1e4, n)),
                    "trades": [None if g else 10 for g in gap],
                    "taker_buy_volume": masked(rng.uniform(1, 10, n)),
                    "n_source_bars": pl.Series([0 if g else 5 for g in gap], dtype=pl.Int32),
                    "gap": gap,
                    "spot_close": masked(close),
                    "basis_bps": masked(np.zeros(n)),
                    "funding_rate": [1e-4] * n,
                    "open_interest": [1e6] * n,
                    "liq_long_notional": [0.0] * n,
                    "liq_short_notional": [0.0] * n,
                    "volume_ok": [not g for g in gap],
                },
                schema_overrides={"ts": pl.Datetime("ms", "UTC")},
            )
        )
    return pl.concat(frames)


def test_backtest_on_a_valid_bars5m_frame_never_fills_on_gap_rows() -> None:
    bars = Bars5m.validate(bars5m(["BTCUSDT", "ETHUSDT"], 300))
    ts = bars["ts"].unique().sort()
    signal = np.sign(np.sin(np.arange(300) / 9.0))
    targets = pl.DataFrame(
        {
            "symbol": ["BTCUSDT"] * 300 + ["ETHUSDT"] * 300,
            "ts": pl.concat([ts, ts]),
            "target_weight": np.r_[0.5 * signal, -0.5 * signal],
        }
    )
    funding = pl.DataFrame(
        {"symbol": ["BTCUSDT", "ETHUSDT"], "ts": [ts[96], ts[192]], "funding_rate": [1e-4, 1e-4]}
    )
    res = run_backtest(bars, targets, EngineConfig(), funding)
    gap_keys = set(bars.filter(pl.col("gap")).select("symbol", "ts").iter_rows())
    fill_keys = set(res.trades.select("symbol", "ts").iter_rows())
    assert res.trades.height > 10
    assert not fill_keys & gap_keys
    assert res.metrics["funding_prints_applied"] == 2
    assert res.metrics["final_equity"] == pytest.approx(res.equity["equity"][-1])
    assert res.equity["equity"][-1] == pytest.approx(
        1e6 + res.steps["pnl_net"].sum(), rel=1e-12
    )  # the portfolio curve is the sum of the symbols' PnL
