"""The synthetic equity panel through the market layer in a real Dagster single-run backfill: closed days
have no bars, and every symbol is on the grid exactly from its listing through its last trading day (the
planted listings and delistings are the truth), so a delisted stock is neither a gap row afterwards nor
dropped before its last day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from quant_platform.defs import market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.market.sources.synthetic_equity import (
    SyntheticEquityConfig,
    SyntheticEquityMarket,
    sessions,
)
from quant_platform.storage import ParquetStore

SYMBOLS = [f"EQ{i:03d}" for i in range(12)]
START, END = "2015-01-01", "2015-02-20"


def test_equity_panel_bars_follow_the_point_in_time_universe(tmp_path: Path) -> None:
    truth = SyntheticEquityMarket(SyntheticEquityConfig(symbols=tuple(SYMBOLS), seed=3, start=START, end=END))
    listings = truth.listings()
    assert (
        listings["delisted"].is_not_null().sum() >= 2 and (listings["listed"] > date(2015, 1, 2)).sum() >= 2
    )
    resource = MarketDataResource(
        kind="synthetic_equity", symbols=SYMBOLS, seed=3, equity_start=START, equity_end=END,
        bar_minutes=1440, sessions="observed",
    )  # fmt: skip
    result = dg.materialize(
        [*market.raw_assets, market.clean_market],
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": resource,
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
    )
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    store = ParquetStore(str(tmp_path / "store"))
    days = pl.date_range(date(2015, 1, 1), date(2015, 2, 20), eager=True).cast(pl.String).to_list()
    bars = pl.concat([store.scan("bars_5m", [d], allow_missing=True)[0].collect() for d in days])
    open_days = set(sessions(START, END))
    assert set(bars["ts"].dt.date().unique().to_list()) == open_days  # no weekend or holiday rows
    assert date(2015, 1, 19) not in open_days and date(2015, 2, 16) not in open_days  # MLK, Presidents' Day
    assert bars.filter(pl.col("gap")).is_empty()  # the panel never misses a member's bar
    spans = bars.group_by("symbol").agg(
        pl.col("ts").min().dt.date().alias("first"), pl.col("ts").max().dt.date().alias("last"), pl.len()
    )
    for symbol, first, last, n in spans.sort("symbol").iter_rows():
        row = listings.filter(pl.col("symbol") == symbol).row(0, named=True)
        assert first == row["listed"], symbol
        assert last == (row["delisted"] or max(open_days)), symbol
        assert n == sum(1 for d in open_days if first <= d <= last), symbol
    assert spans.height == len(SYMBOLS)
