"""The features layer in a real Dagster run: market + features assets over a lookback-sized range on the
synthetic market; checks pass, prevalence checks are WARN, and stored days equal the library's output."""

from pathlib import Path

import dagster as dg
import polars as pl

from quant_platform.defs import features, market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.events import load_event_registry
from quant_platform.features import compute_features_for_day, lookback_days
from quant_platform.storage import ParquetStore

LAST_DAY = "2024-01-06"


def test_features_layer_materialises_with_checks(tmp_path: Path) -> None:
    assert lookback_days() == 5  # the range below covers the last day's full window
    result = dg.materialize(
        [
            *market.raw_assets,
            market.clean_market,
            features.features_v1,
            features.context_features,
            features.market_events,
        ],
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": MarketDataResource(symbols=["BTCUSDT", "ETHUSDT"], seed=3),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": LAST_DAY,
        },
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    blocking = [c for c in checks if not c.check_name.startswith("prevalence_")]
    assert blocking and all(c.passed for c in blocking), [
        (c.asset_key, c.check_name) for c in blocking if not c.passed
    ]
    prevalence = [c for c in checks if c.check_name.startswith("prevalence_")]
    assert len(prevalence) == len(load_event_registry().events)
    assert all(c.severity == dg.AssetCheckSeverity.WARN for c in prevalence)
    # A skipped event was not evaluated: its prevalence check warns, it never counts as a pass.
    skipped = [c for c in prevalence if c.check_name == "prevalence_cross_venue_desync"]
    assert len(skipped) == 1 and not skipped[0].passed

    store = ParquetStore(str(tmp_path / "store"))
    bars = pl.concat([store.scan("bars_5m", [d])[0].collect() for d in store.partitions("bars_5m")])
    stored = store.scan("features_v1", [LAST_DAY])[0].collect()
    assert stored.equals(compute_features_for_day(bars, LAST_DAY))
    assert not stored["warmup"].all()
    flags = store.scan("event_flags", [LAST_DAY])[0].collect()
    assert flags.height == stored.height and flags["CROSS_VENUE_DESYNC"].null_count() == flags.height
