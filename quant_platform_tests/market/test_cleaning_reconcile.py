"""Reconciliation from stored outputs: passes on real cleaning output, names each kind of corruption."""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.market.cleaning import clean_day
from quant_platform.market.reconcile import reconcile_bars
from quant_platform.market.sources.base import RAW_TABLES
from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket

DAY = "2024-01-04"


@pytest.fixture(scope="module")
def cleaned():
    market = SyntheticMarket(SyntheticConfig(seed=2, gap_rate=0.05, gap_mean_run=8.0, invalid_rate=0.01))
    raw = {t: market.fetch(t, DAY) for t in RAW_TABLES}
    return raw, clean_day(DAY, *(raw[t] for t in RAW_TABLES))


def test_clean_output_reconciles(cleaned) -> None:
    raw, result = cleaned
    report = reconcile_bars(
        DAY, raw["perp_bars"].height, result.bars, result.quarantined, universe=("BTCUSDT",)
    )
    assert report.ok, report.problems
    assert report.perp_clean_rows + report.perp_quarantined_rows == raw["perp_bars"].height
    expected = result.bars.group_by("symbol").agg((~pl.col("gap")).mean()).sort("symbol").rows()
    assert list(report.coverage.items()) == expected
    assert 0.9 < min(report.coverage.values()) < 1.0


def test_each_corruption_is_named(cleaned) -> None:
    raw, result = cleaned
    bars, quarantined, n = result.bars, result.quarantined, raw["perp_bars"].height

    def problems(**kwargs) -> str:
        args = {"raw_perp_rows": n, "bars": bars, "quarantined": quarantined} | kwargs
        return " | ".join(reconcile_bars(DAY, **args).problems)

    assert "perp accounting" in problems(raw_perp_rows=n + 1)
    assert "perp accounting" in problems(
        quarantined=quarantined.filter(pl.col("source_table") != "perp_bars")
    )
    doubled = pl.concat(
        [bars, bars.head(1).with_columns(pl.col("n_source_bars") * 0, pl.lit(True).alias("gap"))]
    )
    doubled = doubled.with_columns(
        pl.when(pl.col("gap")).then(None).otherwise(pl.col("close")).alias("close")
    )
    assert "duplicate" in problems(bars=doubled)
    assert "incomplete grid" in problems(bars=bars.slice(1), raw_perp_rows=n - bars["n_source_bars"][0])
    assert "universe symbols without rows: ['XRPUSDT']" in problems(universe=("XRPUSDT",))
    swapped = bars.with_columns(
        pl.when(pl.col("ts") == pl.col("ts").min())
        .then(pl.col("low"))
        .otherwise(pl.col("high"))
        .alias("high")
    )
    assert "OHLC" in problems(bars=swapped)
    hidden = bars.with_columns(pl.lit(False).alias("gap"))
    assert "non-gap rows without" in problems(bars=hidden)
    shifted = bars.with_columns(pl.col("ts") + pl.duration(minutes=1))
    assert "off the 5m grid" in problems(bars=shifted)
