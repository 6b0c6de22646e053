"""A hand-made two-symbol, two-day world in a real Parquet store and registry, for experiment tests.

Prices move by exactly 0.01 per bar (open = 100 + 0.01 i, close = open + 0.005), so every fill price and
round trip can be computed by hand; events are placed at known bars.
"""

from datetime import date

import numpy as np
import polars as pl
import pytest

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform.storage import ParquetStore

A, B, C = "AAAUSDT", "BBBUSDT", "CCCUSDT"
DAY1, DAY2 = date(2024, 1, 1), date(2024, 1, 2)
BARS_PER_DAY = 288
# (symbol, bar index from 2024-01-01 00:00, event type, direction)
EVENTS = [
    (A, 10, "VOL_SHOCK", 1),
    (A, 300, "VOL_SHOCK", -1),
    (B, 20, "VOL_SHOCK", -1),
    (B, 400, "VOL_SHOCK", 1),
    (A, 50, "RANGE_BREAKOUT", 1),
]


def open_price(i: int) -> float:
    return 100.0 + 0.01 * i


def bar_ts(i: int):
    return pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(minutes=5 * i)


def make_bars(symbols: list[str]) -> pl.DataFrame:
    n = 2 * BARS_PER_DAY
    i = np.arange(n)
    frames = []
    for symbol in symbols:
        opens = 100.0 + 0.01 * i
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "i": i,
                    "open": opens,
                    "high": opens + 0.02,
                    "low": opens - 0.01,
                    "close": opens + 0.005,
                    "volume": np.full(n, 1e9),
                }
            )
        )
    frame = pl.concat(frames)
    start = pl.lit(DAY1).cast(pl.Datetime("ms", "UTC"))
    return frame.select(
        "symbol",
        (start + pl.duration(minutes=5 * pl.col("i"))).cast(TS_DTYPE).alias("ts"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.lit(False).alias("gap"),
    )


def make_events() -> pl.DataFrame:
    frame = pl.DataFrame(EVENTS, schema=["symbol", "i", "event_type", "direction"], orient="row")
    start = pl.lit(DAY1).cast(pl.Datetime("ms", "UTC"))
    return frame.select(
        "symbol",
        (start + pl.duration(minutes=5 * pl.col("i"))).cast(TS_DTYPE).alias("ts"),
        "event_type",
        pl.col("direction").cast(pl.Int8),
    )


def write_days(
    store: ParquetStore, asset: str, frame: pl.DataFrame, upstream: dict[str, str] | None = None
) -> dict[str, str]:
    """Write one partition per day; ``upstream`` ``{day: bars content hash}`` is recorded as each day's
    lineage (as if the asset were computed from that day's bars). Returns ``{day: content hash}``."""
    written = {}
    days = frame.with_columns(day=pl.col("ts").dt.date()).partition_by("day", as_dict=True)
    for (day,), part in days.items():
        key = day.isoformat()
        lineage = None
        if upstream is not None:
            lineage = [{"asset": "bars_5m", "partition": key, "content_hash": upstream[key]}]
        written[key] = store.write(asset, key, part.drop("day"), lineage=lineage).record.content_hash
    return written


def build_lab(root) -> dict:
    store = ParquetStore(str(root / "store"))
    bars = write_days(store, "bars_5m", make_bars([A, B]))  # C is in the dataset but never has bars
    events = write_days(store, "market_events", make_events(), upstream=bars)
    registry = Registry(str(root / "registry"), str(root / "store"))
    registry.register_dataset(
        DatasetSpec(dataset_id="hand", source="hand_world", assets=["bars_5m", "market_events"],
                    symbols=[A, B, C], first_day=DAY1, last_day=DAY2)
    )  # fmt: skip
    registry.create_runset("both_days", RunSetSpec(dataset_id="hand", symbols=[A, B], start=DAY1, end=DAY2))
    registry.create_runset("day_one", RunSetSpec(dataset_id="hand", symbols=[A, B], start=DAY1, end=DAY1))
    registry.create_runset("only_c", RunSetSpec(dataset_id="hand", symbols=[C], start=DAY1, end=DAY2))
    return {"store": store, "registry": registry, "root": root, "bars": bars, "events": events}


@pytest.fixture
def lab(tmp_path):
    return build_lab(tmp_path)
