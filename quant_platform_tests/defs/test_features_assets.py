"""The features layer in a real Dagster run: market + features assets over a lookback-sized range on the
synthetic market; checks pass, prevalence checks are WARN, and stored days equal the library's output."""

import math
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.core.day_blocks import partitions_read
from quant_platform.defs import features, market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.events import load_event_registry
from quant_platform.events.detect import events_lookback_bars
from quant_platform.features import compute_features_for_day, lookback_days
from quant_platform.features.spec import feature_spec_for, load_feature_spec
from quant_platform.specs.profiles import load_profile
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
        # the mapping reaches the anchored window's first day: look-back + block - 1 (core/day_blocks.py)
        assert mapping.start_offset == -partitions_read(expected_days), (asset, bar_minutes)
    events = layer.get_assets_def("market_events")
    for upstream in ("features_v1", "context_features"):
        assert events.get_partition_mapping(dg.AssetKey(upstream)).start_offset == -partitions_read(
            days(events_lookback_bars())
        )
    if bar_minutes == 60:
        assert mapping.start_offset == -partitions_read(
            math.ceil((913 + 720) / 24) + 1
        )  # not 5m bars' 7 days
    if bar_minutes == 1440:
        assert mapping.start_offset == -partitions_read(913 + 720 + 1)


def test_layer_refuses_a_market_of_another_bar_length() -> None:
    from quant_platform.defs.features import LayerLookbacks, _require_bar_minutes

    _require_bar_minutes(MarketDataResource(bar_minutes=60), LayerLookbacks.for_bar_minutes(60))
    with pytest.raises(ValueError, match="build_features_layer\\(bar_minutes=60\\)"):
        _require_bar_minutes(MarketDataResource(bar_minutes=60), LayerLookbacks.for_bar_minutes(5))


def test_layer_refuses_a_market_of_other_sessions() -> None:
    from quant_platform.defs.features import LayerLookbacks, _require_bar_minutes

    observed = LayerLookbacks.for_bar_minutes(1440, "observed")
    _require_bar_minutes(MarketDataResource(bar_minutes=1440, sessions="observed"), observed)
    with pytest.raises(ValueError, match="build_features_layer\\(bar_minutes=1440\\)"):
        _require_bar_minutes(MarketDataResource(bar_minutes=1440), observed)
    with pytest.raises(ValueError, match="sessions='observed'\\)"):
        _require_bar_minutes(
            MarketDataResource(bar_minutes=1440, sessions="observed"), LayerLookbacks.for_bar_minutes(1440)
        )


def test_observed_daily_equities_materialise_with_closed_days_empty(tmp_path: Path) -> None:
    """The real stocks file through a QP_SESSIONS=observed daily graph (the us_equity_daily profile): Good
    Friday 2010 and the weekend store no bars_5m rows, trading days a row per symbol, every check but
    leaves_warmup passes, and the stored features equal the library's observed-session output."""
    from quant_platform_tests.market.test_ohlcv_csv import STOCKS, need

    layer = features.build_features_layer(1440, "observed")
    market_data = MarketDataResource(
        kind="ohlcv_csv",
        path=str(need(STOCKS)),
        symbols=["AAPL", "IBM"],
        bar_minutes=1440,
        sessions="observed",
    )
    result = dg.materialize(
        [*market.raw_assets, market.clean_market, layer.get_assets_def("features_v1")],
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": market_data,
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2010-03-31",
            "dagster/asset_partition_range_end": "2010-04-06",
        },
    )
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    # A week with nothing stored before it is all warm-up (a year of trading days is the longest window):
    # the non-blocking leaves_warmup check says so, every other check passes.
    warming = checks.pop(features.LEAVES_WARMUP_CHECK)
    assert not warming.passed and warming.metadata["warmup_bars_needed"].value == 271
    assert len(warming.metadata["days_entirely_warmup"].value) == 4  # the range's trading days
    assert all(c.passed for c in checks.values())
    store = ParquetStore(str(tmp_path / "store"))
    days = store.partitions("bars_5m")
    rows = {d: store.scan("bars_5m", [d])[0].collect().height for d in days}
    assert rows == {
        "2010-03-31": 2,
        "2010-04-01": 2,
        "2010-04-02": 0,  # Good Friday
        "2010-04-03": 0,
        "2010-04-04": 0,
        "2010-04-05": 2,
        "2010-04-06": 2,
    }
    bars = pl.concat([store.scan("bars_5m", [d])[0].collect() for d in days])
    stored = store.scan("features_v1", ["2010-04-05"])[0].collect()
    daily = feature_spec_for(load_profile("us_equity_daily"))
    expected = compute_features_for_day(bars, "2010-04-05", daily, grid_minutes=1440, sessions="observed")
    assert stored.equals(expected)
    # Monday's return reads Thursday's close across the closed Good Friday and weekend
    close = {(r["symbol"], r["ts"].day): r["close"] for r in bars.iter_rows(named=True)}
    for symbol, ret_1 in stored.select("symbol", "ret_1").iter_rows():
        assert ret_1 == pytest.approx(math.log(close[symbol, 5] / close[symbol, 1]), rel=1e-12)
