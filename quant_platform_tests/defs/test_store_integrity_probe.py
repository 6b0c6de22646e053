"""Issue 15's bit-flip probe: 60 single-bit flips in stored Parquet, each read through the Dagster IO manager
and through a RunSet read (the registry resource), must each raise a clear integrity error.

Before the fix, 54 of 60 flips were read back as different values without any error."""

import random
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import daily_partitions
from quant_platform.defs.registry import Registry
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.storage import IntegrityError, ParquetStore
from quant_platform_tests.defs.test_io_manager import SCALE, toy_bars

DAY = "2024-01-02"
N_FLIPS = 60


@dg.asset(partitions_def=daily_partitions)
def toy_reader(context: dg.AssetExecutionContext, toy_bars: pl.DataFrame) -> pl.DataFrame:
    return toy_bars.select(pl.col("close").sum())


def _materialize(
    store_root: Path, assets: list, instance: dg.DagsterInstance, **kwargs
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        partition_key=DAY,
        resources={"io_manager": ImmutableParquetIOManager(root=str(store_root))},
        instance=instance,
        **kwargs,
    )


def _load_through_io_manager(store_root: Path) -> pl.DataFrame:
    context = dg.build_input_context(
        asset_key=dg.AssetKey("toy_bars"), partition_key=DAY, asset_partitions_def=daily_partitions
    )
    return ImmutableParquetIOManager(root=str(store_root)).load_input(context)


def test_sixty_bit_flips_each_fail_through_the_io_manager_and_runset_reads(tmp_path: Path) -> None:
    store_root = tmp_path / "store"
    instance = dg.DagsterInstance.ephemeral()
    SCALE["value"] = 1.0
    assert _materialize(store_root, [toy_bars], instance).success
    record = ParquetStore(str(store_root)).current("toy_bars", DAY)
    registry = Registry(root=str(tmp_path / "registry"), store_root=str(store_root))
    library = registry.library()
    library.register_dataset(
        DatasetSpec(
            dataset_id="toy", source="synthetic", assets=["toy_bars"], symbols=["BTCUSDT"], first_day=DAY
        )
    )
    library.create_runset("probe", RunSetSpec(dataset_id="toy", start=DAY, end=DAY))
    resolution = registry.resolve("probe")
    expected = registry.scan(resolution, "toy_bars").collect()
    assert expected.height == 24

    path = store_root / record.path
    original = path.read_bytes()
    bits = random.Random(60).sample(range(len(original) * 8), N_FLIPS)
    caught = {"io_manager": 0, "runset": 0}
    for bit in bits:
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        with pytest.raises(IntegrityError, match=f"integrity check failed for {path}"):
            _load_through_io_manager(store_root)
        caught["io_manager"] += 1
        with pytest.raises(IntegrityError, match=f"integrity check failed for {path}"):
            registry.scan(resolution, "toy_bars").collect()
        caught["runset"] += 1
    assert caught == {"io_manager": N_FLIPS, "runset": N_FLIPS}

    # Inside a real run, the downstream step fails and names the file; nothing downstream is written.
    result = _materialize(
        store_root, [toy_bars, toy_reader], instance, selection=[toy_reader], raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "integrity check failed" in str(failure.step_failure_data.error) and str(path) in str(
        failure.step_failure_data.error
    )
    assert ParquetStore(str(store_root)).current("toy_reader", DAY) is None

    # An identical re-materialization repairs the file, and every reader sees the original values again.
    assert _materialize(store_root, [toy_bars], instance).success
    assert path.read_bytes() == original
    assert registry.scan(resolution, "toy_bars").collect().equals(expected)
    assert _materialize(store_root, [toy_bars, toy_reader], instance, selection=[toy_reader]).success
