"""A small seeded market with a planted predictable component, to prove the model layer finds what is
there, and nothing where nothing is (the null world: ``strength_bps = 0``).

Per symbol: ``n_features`` persistent AR(1) features ``f_j`` (coefficient ``persistence`` per bar, unit
variance) known at each bar's close, and log returns ``r[s] = vol * z[s] + strength * (0.5 tanh(f_0[s-1]) +
clip(f_1[s-1] * f_2[s-1], -2, 2))`` (a mostly non-linear planted drift on three features, whose interaction a
linear model cannot see; the rest are noise), so
the forward return from the next open predicts from the features at ``t`` only. Opens equal the previous
close (no gaps), highs/lows bracket open and close, volume is constant and large (no impact slippage to
speak of). Frames follow the layouts the model layer reads: ``bars`` (Bars5m columns) and ``features``
(symbol, ts, f_0.., warmup, gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE


@dataclass(frozen=True)
class PlantedModelWorld:
    n_symbols: int = 3
    n_days: int = 30
    bar_minutes: int = 5
    n_features: int = 6
    persistence: float = 0.95
    vol_bps: float = 15.0
    strength_bps: float = 2.0
    seed: int = 0
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)

    @property
    def feature_names(self) -> list[str]:
        return [f"f_{j}" for j in range(self.n_features)]


def make_planted_world(world: PlantedModelWorld) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(bars, features)`` of the world, deterministic in ``world.seed``."""
    rng = np.random.default_rng(world.seed)
    n_bars = world.n_days * 24 * 60 // world.bar_minutes
    ts_ms = (
        int(world.start.timestamp() * 1000) + np.arange(n_bars, dtype=np.int64) * world.bar_minutes * 60_000
    )
    bars_parts, feature_parts = [], []
    for i in range(world.n_symbols):
        shocks = rng.standard_normal((n_bars, world.n_features)) * np.sqrt(1 - world.persistence**2)
        f = np.empty_like(shocks)
        f[0] = rng.standard_normal(world.n_features)
        for t in range(1, n_bars):
            f[t] = world.persistence * f[t - 1] + shocks[t]
        drift = np.zeros(n_bars)
        drift[1:] = 0.5 * np.tanh(f[:-1, 0]) + np.clip(f[:-1, 1] * f[:-1, 2], -2.0, 2.0)
        r = (world.vol_bps * rng.standard_normal(n_bars) + world.strength_bps * drift) * 1e-4
        close = 100.0 * np.exp(np.cumsum(r))
        open_ = np.r_[100.0, close[:-1]]
        spread = np.abs(rng.standard_normal(n_bars)) * world.vol_bps * 1e-4 * close
        symbol = f"SYM{i:02d}USDT"
        bars_parts.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": ts_ms,
                    "open": open_,
                    "high": np.maximum(open_, close) + spread,
                    "low": np.minimum(open_, close) - spread,
                    "close": close,
                    "volume": np.full(n_bars, 1e9),
                    "gap": np.zeros(n_bars, dtype=bool),
                }
            )
        )
        feature_parts.append(
            pl.DataFrame(
                {"symbol": symbol, "ts": ts_ms, **dict(zip(world.feature_names, f.T, strict=True))}
            ).with_columns(warmup=pl.lit(False), gap=pl.lit(False))
        )
    to_ts = pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").cast(TS_DTYPE)
    bars = pl.concat(bars_parts).with_columns(to_ts)
    features = pl.concat(feature_parts).with_columns(to_ts)
    return bars, features
