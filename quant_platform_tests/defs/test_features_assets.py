"""The features layer in a real Dagster run: market + features assets over a lookback-sized range on the
synthetic market; checks pass, prevalence checks are WARN, and stored days equal the library's output."""

import math
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs import features, market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.events import load_event_registry
from quant_platform.events.detect import events_lookback_bars
from quant_platform.features import compute_features_for_day, lookback_days
from quant_platform.features.spec import load_feature_spec
from quant_platform.storage import ParquetStore

LAST_DAY = "2024-01-08"


def test_features_layer_materialises_with_checks(tmp_path: Path) -> None:
    assert lookback_days() == 7  # the range below covers the last day's full window
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


@pytest.mark.parametrize("bar_minutes", [5, 60, 1440])
def test_layer_lookback_is_the_spec_warmup_at_the_built_bar_length(bar_minutes: int) -> None:
    """start_offset = -(ceil(longest warm-up in bars x bar length / one day) + margin), from the spec."""
    spec = load_feature_spec()

    def days(bars: int) -> int:
        return math.ceil(bars * bar_minutes / (24 * 60))

    layer = features.build_features_layer(bar_minutes)
    expected = {
        ("features_v1", "bars_5m"): max(f.warmup_bars for f in spec.table_features("features_v1")),
        ("context_features", "features_v1"): max(
            f.warmup_bars for f in spec.table_features("context_features")
        ),
    }
    for (asset, upstream), warmup in expected.items():
        mapping = layer.get_assets_def(asset).get_partition_mapping(dg.AssetKey(upstream))
        expected_days = days(warmup + spec.recursive_burn_in_bars) + spec.daily_lookback_margin_days
        assert mapping.start_offset == -expected_days, (asset, bar_minutes)
    events = layer.get_assets_def("market_events")
    for upstream in ("features_v1", "context_features"):
        assert events.get_partition_mapping(dg.AssetKey(upstream)).start_offset == -days(
            events_lookback_bars()
        )
    if bar_minutes == 60:
        assert mapping.start_offset == -(math.ceil((913 + 720) / 24) + 1)  # not 5 days as for 5m bars
    if bar_minutes == 1440:
        assert mapping.start_offset == -(913 + 720 + 1)


def test_layer_refuses_a_market_of_another_bar_length() -> None:
    from quant_platform.defs.features import LayerLookbacks, _require_bar_minutes

    _require_bar_minutes(MarketDataResource(bar_minutes=60), LayerLookbacks.for_bar_minutes(60))
    with pytest.raises(ValueError, match="build_features_layer\\(bar_minutes=60\\)"):
        _require_bar_minutes(MarketDataResource(bar_minutes=60), LayerLookbacks.for_bar_minutes(5))
