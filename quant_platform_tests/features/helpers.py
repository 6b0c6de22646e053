"""Small builders for hand-made Bars5m series used by the truth tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE

START = datetime(2024, 1, 1, tzinfo=UTC)


def bars_from_close(
    close: np.ndarray | list[float],
    *,
    symbol: str = "AAAUSDT",
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    gap: np.ndarray | None = None,
    start: datetime = START,
    **extra: np.ndarray,
) -> pl.DataFrame:
    """A single-symbol Bars5m frame from closes (high/low default to close ± 0.1%); gap rows null prices."""
    close = np.asarray(close, dtype=float)
    n = close.size
    high = close * 1.001 if high is None else np.asarray(high, dtype=float)
    low = close * 0.999 if low is None else np.asarray(low, dtype=float)
    gap = np.zeros(n, dtype=bool) if gap is None else np.asarray(gap, dtype=bool)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum.reduce([high, open_, close])
    low = np.minimum.reduce([low, open_, close])
    volume = extra.pop("volume", np.full(n, 100.0))
    columns = {
        "symbol": [symbol] * n,
        "ts": [start + timedelta(minutes=5 * i) for i in range(n)],
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "quote_volume": extra.pop("quote_volume", volume * close),
        "trades": np.full(n, 10, dtype=np.int64),
        "taker_buy_volume": extra.pop("taker_buy_volume", volume / 2),
        "n_source_bars": np.where(gap, 0, 5).astype(np.int32),
        "gap": gap,
        "spot_close": close,
        "basis_bps": extra.pop("basis_bps", np.zeros(n)),
        "funding_rate": extra.pop("funding_rate", np.full(n, 1e-4)),
        "open_interest": extra.pop("open_interest", np.full(n, 1e6)),
        "liq_long_notional": extra.pop("liq_long_notional", np.zeros(n)),
        "liq_short_notional": extra.pop("liq_short_notional", np.zeros(n)),
        "volume_ok": ~gap,
    }
    if extra:
        raise ValueError(f"unknown columns {sorted(extra)}")
    frame = pl.DataFrame(columns, schema_overrides={"ts": TS_DTYPE, "n_source_bars": pl.Int32})
    nullable = ["open", "high", "low", "close", "volume", "quote_volume", "trades", "taker_buy_volume",
                "spot_close", "basis_bps"]  # fmt: skip
    return frame.with_columns(pl.when(~pl.col("gap")).then(pl.col(c)).alias(c) for c in nullable)


def random_walk(n: int, seed: int = 0, vol: float = 0.003) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
