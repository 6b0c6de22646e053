"""Valid Bars5m frames for tests: a seeded random walk per symbol with gap rows, funding, OI and liquidations.

Used until (and beside) the synthetic market source; small enough for unit tests, honest about gaps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE

PRICE_LIKE = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "spot_close",
    "basis_bps",
)


def make_bars(
    n_symbols: int = 3,
    n_bars: int = 2000,
    *,
    seed: int = 7,
    gap_prob: float = 0.002,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    bar_minutes: int = 5,
    vol: float = 0.002,
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    ts = pl.datetime_range(
        start,
        start + timedelta(minutes=bar_minutes * (n_bars - 1)),
        f"{bar_minutes}m",
        time_unit="ms",
        time_zone="UTC",
        eager=True,
    )
    market = rng.normal(0, vol, n_bars)
    for k in range(n_symbols):
        beta = 0.5 + 0.5 * k / max(n_symbols - 1, 1)
        sigma = vol * np.exp(np.cumsum(rng.normal(0, 0.02, n_bars)) * 0.3)
        rets = beta * market + rng.normal(0, 1, n_bars) * sigma
        close = 100.0 * (k + 1) * np.exp(np.cumsum(rets))
        open_ = np.concatenate([[close[0]], close[:-1]])
        wick = np.abs(rng.normal(0, 1, (2, n_bars))) * sigma * close
        high = np.maximum(open_, close) + wick[0]
        low = np.minimum(open_, close) - wick[1]
        volume = rng.lognormal(3, 0.5, n_bars)
        taker = volume * rng.beta(5, 5, n_bars)
        funding_prints = rng.normal(1e-4, 2e-4, n_bars // 96 + 2)
        funding = funding_prints[np.arange(n_bars) // 96]
        oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.002, n_bars)))
        liq_long = np.where(rng.random(n_bars) < 0.05, rng.lognormal(8, 1, n_bars), 0.0)
        liq_short = np.where(rng.random(n_bars) < 0.05, rng.lognormal(8, 1, n_bars), 0.0)
        spot = close * np.exp(-rng.normal(2e-4, 1e-4, n_bars))
        gap = rng.random(n_bars) < gap_prob
        gap[0] = False

        frames.append(
            pl.DataFrame(
                {
                    "symbol": [f"SYM{k}USDT"] * n_bars,
                    "ts": ts,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                    "quote_volume": volume * close,
                    "trades": (volume * 3).astype(np.int64),
                    "taker_buy_volume": taker,
                    "n_source_bars": np.where(gap, 0, 5).astype(np.int32),
                    "gap": gap,
                    "spot_close": spot,
                    "basis_bps": 1e4 * (close / spot - 1),
                    "funding_rate": funding,
                    "open_interest": oi,
                    "liq_long_notional": np.where(gap, 0.0, liq_long),
                    "liq_short_notional": np.where(gap, 0.0, liq_short),
                    "volume_ok": ~gap,
                },
                schema_overrides={"ts": TS_DTYPE, "n_source_bars": pl.Int32, "trades": pl.Int64},
            ).with_columns(pl.when(~pl.col("gap")).then(pl.col(c)).alias(c) for c in PRICE_LIKE)
        )
    return pl.concat(frames)


def plant_gaps(bars: pl.DataFrame, symbol: str, indices: list[int]) -> pl.DataFrame:
    """Turn the symbol's bars at the given positions into gap rows (prices null, as cleaning emits them)."""
    position = pl.int_range(pl.len()).over("symbol")
    hit = (pl.col("symbol") == symbol) & position.is_in(indices)
    return bars.with_columns(
        *(pl.when(hit).then(None).otherwise(pl.col(c)).alias(c) for c in PRICE_LIKE),
        pl.when(hit).then(True).otherwise(pl.col("gap")).alias("gap"),
        pl.when(hit).then(False).otherwise(pl.col("volume_ok")).alias("volume_ok"),
        pl.when(hit).then(0).otherwise(pl.col("n_source_bars")).cast(pl.Int32).alias("n_source_bars"),
    )
