"""The IO manager inside real Dagster runs (ephemeral instance): versions, windows, backfills, data versions."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs.io_manager import ALLOW_MISSING_KEY, ImmutableParquetIOManager, parquet_output
from quant_platform.defs.partitions import daily_partitions, lookback
from quant_platform.storage import ParquetStore

SCALE = {"value": 1.0}


@dg.asset(partitions_def=daily_partitions)
def toy_bars(context: dg.AssetExecutionContext) -> dg.Output:
    start = datetime.fromisoformat(context.partition_time_window.start.isoformat()).astimezone(UTC)
    days = (context.partition_time_window.end - context.partition_time_window.start).days
    ts = [start + timedelta(hours=h) for h in range(24 * days)]
    frame = pl.DataFrame(
        {"ts": ts, "close": [SCALE["value"] * (i + 1) for i in range(len(ts))]}
    ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    return parquet_output(context, frame)


@dg.asset(
    partitions_def=daily_partitions,
    ins={"bars": dg.AssetIn("toy_bars", partition_mapping=lookback(1), metadata={ALLOW_MISSING_KEY: True})},
)
def toy_window(context: dg.AssetExecutionContext, bars: pl.LazyFrame) -> dg.Output:
    assert isinstance(bars, pl.LazyFrame)
    frame = bars.select(pl.len().alias("n_rows"), pl.col("ts").min().alias("first_ts")).collect()
    return dg.Output(frame.with_columns(pl.lit(context.partition_key).alias("day")))


def _run(tmp_path: Path, assets, partition_key=None, instance=None, **kwargs):
    return dg.materialize(
        assets,
        partition_key=partition_key,
        resources={"io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store"))},
        instance=instance or dg.DagsterInstance.ephemeral(),
        **kwargs,
    )


def test_round_trip_metadata_and_data_version(tmp_path: Path) -> None:
    SCALE["value"] = 1.0
    result = _run(tmp_path, [toy_bars], partition_key="2024-01-02")
    assert result.success
    mat = result.asset_materializations_for_node("toy_bars")[0]
    store = ParquetStore(str(tmp_path / "store"))
    record = store.current("toy_bars", "2024-01-02")
    assert mat.metadata["content_hash"].value == record.content_hash
    assert mat.metadata["rows"].value == 24
    assert mat.tags["dagster/data_version"] == record.content_hash
    assert store.scan("toy_bars", ["2024-01-02"])[0].collect().height == 24


def test_rematerialize_identical_then_changed(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    SCALE["value"] = 1.0
    first = _run(tmp_path, [toy_bars], "2024-01-02", instance)
    again = _run(tmp_path, [toy_bars], "2024-01-02", instance)
    assert again.asset_materializations_for_node("toy_bars")[0].metadata["new_versions_written"].value == 0
    SCALE["value"] = 2.0
    changed = _run(tmp_path, [toy_bars], "2024-01-02", instance)
    SCALE["value"] = 1.0
    old_hash = first.asset_materializations_for_node("toy_bars")[0].metadata["content_hash"].value
    new_hash = changed.asset_materializations_for_node("toy_bars")[0].metadata["content_hash"].value
    assert old_hash != new_hash
    store = ParquetStore(str(tmp_path / "store"))
    assert store.current_hash("toy_bars", "2024-01-02") == new_hash
    assert store.read_version("toy_bars", "2024-01-02", old_hash)["close"][0] == 1.0


def test_lookback_window_loads_several_partitions_with_lineage(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    SCALE["value"] = 1.0
    for day in ["2024-01-02", "2024-01-03"]:
        assert _run(tmp_path, [toy_bars], day, instance).success
    result = _run(tmp_path, [toy_bars, toy_window], "2024-01-03", instance, selection=[toy_window])
    assert result.success
    store = ParquetStore(str(tmp_path / "store"))
    out = store.scan("toy_window", ["2024-01-03"])[0].collect()
    assert out["n_rows"][0] == 48  # two days of hourly rows
    lineage = store.current("toy_window", "2024-01-03").lineage_json
    assert "2024-01-02" in lineage and "2024-01-03" in lineage


def test_missing_lookback_partition_is_recorded_not_hidden(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert _run(tmp_path, [toy_bars], "2024-01-05", instance).success
    assert _run(tmp_path, [toy_bars, toy_window], "2024-01-05", instance, selection=[toy_window]).success
    store = ParquetStore(str(tmp_path / "store"))
    lineage = store.current("toy_window", "2024-01-05").lineage_json
    assert '"content_hash":null' in lineage and "2024-01-04" in lineage


def test_single_run_backfill_writes_one_file_per_partition(tmp_path: Path) -> None:
    SCALE["value"] = 1.0
    # A single-run backfill is a run tagged with a partition range; the asset sees all three keys at once.
    result = dg.materialize(
        [toy_bars],
        resources={"io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store"))},
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2024-01-02",
            "dagster/asset_partition_range_end": "2024-01-04",
        },
    )
    assert result.success
    store = ParquetStore(str(tmp_path / "store"))
    assert store.partitions("toy_bars") == ["2024-01-02", "2024-01-03", "2024-01-04"]
    for day in store.partitions("toy_bars"):
        frame = store.scan("toy_bars", [day])[0].collect()
        assert frame.height == 24
        assert frame["ts"].dt.date().unique().to_list() == [datetime.fromisoformat(day).date()]


@dg.asset(partitions_def=daily_partitions)
def uneven_bars(context: dg.AssetExecutionContext) -> dg.Output:
    """Day d of January holds d hourly rows, so every partition of a backfill differs in rows and bytes."""
    window = context.partition_time_window
    ts, day = [], window.start
    while day < window.end:
        ts += [day + timedelta(hours=h) for h in range(day.day)]
        day += timedelta(days=1)
    frame = pl.DataFrame({"ts": ts, "close": [float(i) for i in range(len(ts))]})
    return parquet_output(context, frame.with_columns(pl.col("ts").dt.cast_time_unit("ms")))


def test_single_run_backfill_reports_each_partition_on_its_own_event(tmp_path: Path) -> None:
    """A 3-day single-run backfill: each partition's materialization carries that partition's rows, content
    hash and file (checked against the store); the Dagster data version is run-wide (one per asset per
    step in Dagster 1.13) and equals the run_content_hash every event carries."""
    days = ["2024-01-02", "2024-01-03", "2024-01-04"]
    result = dg.materialize(
        [uneven_bars],
        resources={"io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store"))},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
    )
    assert result.success
    store = ParquetStore(str(tmp_path / "store"))
    events = {m.partition: m for m in result.asset_materializations_for_node("uneven_bars")}
    assert sorted(events) == days
    for day, event in events.items():
        record = store.current("uneven_bars", day)
        expected_rows = datetime.fromisoformat(day).day
        assert record.rows == expected_rows
        assert event.metadata["rows"].value == event.metadata["dagster/row_count"].value == expected_rows
        assert event.metadata["content_hash"].value == record.content_hash
        assert event.metadata["path"].value == store.uri(record.path)
        assert event.metadata["path"].value.endswith(f"/{day}/{record.content_hash}.parquet")
        assert event.tags["dagster/data_version"] == event.metadata["run_content_hash"].value
    assert len({e.metadata["content_hash"].value for e in events.values()}) == 3
    assert len({e.tags["dagster/data_version"] for e in events.values()}) == 1


def test_rejects_non_frames(tmp_path: Path) -> None:
    @dg.asset
    def not_a_frame() -> dict:
        return {"a": 1}

    with pytest.raises(TypeError, match="stores polars frames"):
        _run(tmp_path, [not_a_frame])
