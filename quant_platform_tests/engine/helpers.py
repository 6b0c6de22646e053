"""Shared builders and an independent, deliberately plain reference backtester for the engine tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from quant_platform.engine import EngineConfig

NO_COSTS = {
    "taker_fee_bps": 0.0,
    "slippage_base_bps": 0.0,
    "slippage_vol_coef": 0.0,
    "slippage_impact_bps": 0.0,
}


def make_bars(
    close: list[float] | np.ndarray,
    *,
    symbol: str = "X",
    open_: list[float] | np.ndarray | None = None,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    minutes: int = 5,
    volume: float | list[float] | np.ndarray = 1e9,
    gap_at: tuple[int, ...] = (),
) -> pl.DataFrame:
    close = np.asarray(close, dtype=float)
    open_ = close.copy() if open_ is None else np.asarray(open_, dtype=float)
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    gap = np.zeros(len(close), dtype=bool)
    gap[list(gap_at)] = True
    frame = pl.DataFrame(
        {
            "symbol": [symbol] * len(close),
            "ts": [start + timedelta(minutes=minutes * i) for i in range(len(close))],
            "open": np.where(gap, np.nan, open_),
            "high": np.where(gap, np.nan, high),
            "low": np.where(gap, np.nan, low),
            "close": np.where(gap, np.nan, close),
            "volume": np.where(gap, np.nan, np.asarray(volume, dtype=float)),
            "gap": gap,
        }
    )
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")), pl.col(pl.Float64).fill_nan(None))


def reference_backtest(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    gap: np.ndarray,
    target: np.ndarray,
    config: EngineConfig,
    funding_rate: np.ndarray | None = None,
) -> tuple[list[tuple[int, float, float]], list[float]]:
    """Bar-by-bar event loop with explicit cash: the engine's documented rules, written the obvious way.

    ``target`` is the (already valid, uncapped) weight decided at each bar's close. Slippage reads the range
    and volume of the last bar that could fill before the current one (what an order knows when it is sent).
    Returns the fills as (bar, qty, exec_price) and the equity after every bar.
    """
    capital = config.initial_capital
    delay = config.entry_lag_bars + config.latency_bars
    cash, units, held, last_close = capital, 0.0, 0.0, 0.0
    known_high = known_low = known_close = known_volume = math.nan  # nothing seen yet
    fills, equity = [], []
    for t in range(len(close)):
        if funding_rate is not None and funding_rate[t] != 0 and t > 0:
            cash -= units * last_close * funding_rate[t]
        price = {
            "next_open": open_[t],
            "next_close": close[t],
            "vwap_hlc3": (high[t] + low[t] + close[t]) / 3.0,
            "vwap_ohlc4": (open_[t] + high[t] + low[t] + close[t]) / 4.0,
        }[config.fill_price]
        can_fill = (not gap[t]) and math.isfinite(price) and math.isfinite(close[t])
        if can_fill and t >= delay and target[t - delay] != held:
            wanted = target[t - delay]
            new_units = wanted * capital / price
            qty = new_units - units
            slip = config.slippage_base_bps
            range_bps = 1e4 * (known_high - known_low) / known_close
            slip += config.slippage_vol_coef * (0.0 if math.isnan(range_bps) else range_bps)
            participation = abs(qty) / known_volume if known_volume > 0 else math.inf  # False for NaN
            slip += config.slippage_impact_bps * math.sqrt(min(participation, config.max_participation))
            slip = min(max(slip, 0.0), config.max_slippage_bps)
            side = 1.0 if qty > 0 else -1.0
            exec_price = price * (1.0 + side * slip / 1e4)
            fee = abs(qty) * exec_price * config.taker_fee_bps / 1e4
            cash -= qty * exec_price + fee
            units, held = new_units, wanted
            fills.append((t, qty, exec_price))
        if can_fill:  # this bar's range and volume are known to every later order
            known_high, known_low, known_close, known_volume = high[t], low[t], close[t], volume[t]
        if math.isfinite(close[t]):
            last_close = close[t]
        equity.append(cash + units * last_close)
    return fills, equity
