"""``external_events`` / ``external_quarantined_records`` on an ephemeral instance: one synthetic day over
stored bars; every record kept or quarantined, the freshness table and the checks as a user sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from quant_platform.defs.external import ExternalDataResource, ingest_external
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import daily_partitions
from quant_platform.defs.resources import MarketDataResource
from quant_platform.storage import ParquetStore

DAY = "2024-03-01"


def _bars(symbols: list[str]) -> pl.DataFrame:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    rng = np.random.default_rng(0)
    frames = []
    for symbol in symbols:
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, 288)))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": [start + timedelta(minutes=5 * i) for i in range(288)],
                    "open": prices,
                }
            ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
        )
    return pl.concat(frames)


def test_external_day_materializes_with_reconciliation_and_freshness(tmp_path: Path) -> None:
    store_root = str(tmp_path / "store")
    ParquetStore(store_root).write("bars_5m", DAY, _bars(["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]))
    bars_spec = dg.AssetSpec("bars_5m", partitions_def=daily_partitions)
    result = dg.materialize(
        [bars_spec, ingest_external],
        partition_key=DAY,
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "io_manager": ImmutableParquetIOManager(root=store_root),
            "external_data": ExternalDataResource(),
            "market_data": MarketDataResource(),
        },
    )
    assert result.success
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()
    }
    assert checks == {
        ("external_events", "schema"): True,
        ("external_quarantined_records", "schema"): True,
        ("external_events", "reconciliation"): True,
        ("external_events", "sources_reported"): True,
    }
    events = ParquetStore(store_root).scan("external_events", [DAY])[0].collect()
    quarantine = ParquetStore(store_root).scan("external_quarantined_records", [DAY])[0].collect()
    assert set(events["kind"]) == {"alert", "news", "macro"}
    assert {"malformed_json", "future_dated"} <= set(quarantine["reason"])
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("ingest_external")
        if m.asset_key.path == ["external_events"]
    ]
    meta = materialization.metadata
    assert "p95_publish_to_ingest_s" in meta["freshness_vs_slo"].value


def test_synthetic_external_records_are_refused_over_real_market_data(tmp_path: Path) -> None:
    """The generator invents news about the universe's symbols: over real bars it must not run, or invented
    items would be stored as genuine information about real tickers."""
    store_root = str(tmp_path / "store")
    bars = _bars(["AAPL"]).with_columns(
        pl.when(pl.col("ts").dt.hour() < 9).then(None).otherwise(pl.col("open")).alias("open")  # gap rows
    )
    ParquetStore(store_root).write("bars_5m", DAY, bars)
    result = dg.materialize(
        [dg.AssetSpec("bars_5m", partitions_def=daily_partitions), ingest_external],
        partition_key=DAY,
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "io_manager": ImmutableParquetIOManager(root=store_root),
            "external_data": ExternalDataResource(),
            "market_data": MarketDataResource(kind="ohlcv_csv", path=str(tmp_path / "real.csv")),
        },
        raise_on_error=False,
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "only runs over the synthetic market" in failure.step_failure_data.user_failure_data.description
