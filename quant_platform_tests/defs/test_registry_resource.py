"""The registry in Dagster: the RunSet partition sensor, the CLI adding partitions, and research-output
metadata attached by a RunSet-partitioned asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.cli import main
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME, runset_partitions
from quant_platform.defs.registry import (
    Registry,
    add_runset_partitions,
    runset_output_metadata,
    runset_partition_sensor,
)
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.storage import ParquetStore

DAY = "2024-01-01"


@pytest.fixture
def resource(tmp_path: Path) -> Registry:
    resource = Registry(root=str(tmp_path / "registry"), store_root=str(tmp_path / "store"))
    library = resource.library()
    library.register_dataset(
        DatasetSpec(
            dataset_id="ds", source="synthetic", assets=["bars_5m"], symbols=["BTCUSDT"], first_day=DAY
        )
    )
    for name in ("alpha", "beta"):
        library.create_runset(name, RunSetSpec(dataset_id="ds", start=DAY, end=DAY, tags=[name]))
    ParquetStore(str(tmp_path / "store")).write("bars_5m", DAY, pl.DataFrame({"close": [1.0, 2.0]}))
    return resource


def test_sensor_adds_a_partition_per_runset_once(resource: Registry) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"registry": resource})
        result = runset_partition_sensor(context)
        (request,) = result.dynamic_partitions_requests
        assert request.partitions_def_name == RUNSET_PARTITIONS_NAME
        assert sorted(request.partition_keys) == ["alpha", "beta"]
        instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys)
        )  # the daemon

        resource.library().create_runset("gamma", RunSetSpec(dataset_id="ds", start=DAY, end=DAY, tags=["g"]))
        again = runset_partition_sensor(
            dg.build_sensor_context(instance=instance, resources={"registry": resource})
        )
        assert [list(r.partition_keys) for r in again.dynamic_partitions_requests] == [["gamma"]]
        instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, ["gamma"])
        idle = runset_partition_sensor(
            dg.build_sensor_context(instance=instance, resources={"registry": resource})
        )
        assert not idle.dynamic_partitions_requests and idle.skip_reason is not None
        assert sorted(instance.get_dynamic_partitions(RUNSET_PARTITIONS_NAME)) == ["alpha", "beta", "gamma"]


def test_add_runset_partitions_is_idempotent() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert add_runset_partitions(["b", "a"], instance) == ["a", "b"]
        assert add_runset_partitions(["a", "c"], instance) == ["c"]
        assert sorted(instance.get_dynamic_partitions(RUNSET_PARTITIONS_NAME)) == ["a", "b", "c"]


def test_cli_create_adds_the_partition_when_dagster_home_is_set(
    resource: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    argv = ["runset", "create", "--id", "delta", "--dataset", "ds", "--registry-root", resource.root]
    assert main([*argv, "--store-root", resource.store_root]) == 0
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions(RUNSET_PARTITIONS_NAME) == ["delta"]


def test_research_asset_reads_resolved_versions_and_attaches_metadata(resource: Registry) -> None:
    @dg.asset(partitions_def=runset_partitions)
    def probe(context, registry: Registry) -> dg.MaterializeResult:  # no context annotation: nested + PEP 563
        resolution = registry.resolve(context.partition_key)
        frame = pl.scan_parquet(registry.uris(resolution, "bars_5m")).collect()
        return dg.MaterializeResult(metadata={**runset_output_metadata(resolution), "rows": frame.height})

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, ["alpha"])
        result = dg.materialize(
            [probe], partition_key="alpha", instance=instance, resources={"registry": resource}
        )
        assert result.success
        (event,) = result.asset_materializations_for_node("probe")
    expected = resource.library().runset_metadata("alpha")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata == {**expected, "rows": 2}
    assert metadata["mode"] == "exploratory" and len(metadata["resolution_hash"]) == 64


def test_downstream_asset_loads_the_upstream_resolution_by_hash(resource: Registry) -> None:
    upstream = resource.resolve("beta")
    ParquetStore(resource.store_root).write("bars_5m", DAY, pl.DataFrame({"close": [9.0]}))  # newer data
    downstream = resource.resolution("beta", upstream.resolution_hash)
    assert downstream.artifacts.equals(upstream.artifacts)
    assert resource.resolve("beta").resolution_hash != upstream.resolution_hash  # re-resolving would move


# ---- artifact ids are deterministic: same inputs and code give the same ids, whatever the Dagster run ----
_daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-03")


@dg.asset(partitions_def=_daily, code_version="v1")
def upstream_prices(context) -> pl.DataFrame:  # unannotated: dagster rejects a string annotation
    return pl.DataFrame({"day": [context.partition_key], "price": [100.0]})


@dg.asset(partitions_def=_daily, code_version="v1")
def doubled_prices(upstream_prices: pl.DataFrame) -> pl.DataFrame:
    return upstream_prices.with_columns(pl.col("price") * 2)


def _materialize_from_scratch(store_root: Path) -> tuple[pl.DataFrame, str]:
    from quant_platform.defs.io_manager import ImmutableParquetIOManager
    from quant_platform.registry import Registry as RegistryLibrary

    result = dg.materialize(
        [upstream_prices, doubled_prices],
        partition_key=DAY,
        resources={"io_manager": ImmutableParquetIOManager(root=str(store_root))},
    )
    assert result.success
    artifacts = RegistryLibrary(str(store_root.parent / "registry"), str(store_root)).artifacts()
    return artifacts.sort("asset"), result.run_id


def test_rematerializing_identical_inputs_from_scratch_gives_the_same_artifact_ids(tmp_path: Path) -> None:
    from quant_platform.registry.ids import artifact_id, materialization_run_id

    first, first_run = _materialize_from_scratch(tmp_path / "a" / "store")
    second, second_run = _materialize_from_scratch(tmp_path / "b" / "store")
    assert first_run != second_run and first["dagster_run_id"].to_list() == [first_run] * 2
    assert first["artifact_id"].to_list() == second["artifact_id"].to_list()
    # Recomputed by hand from what the design names: the downstream run id covers the upstream version.
    up, down = first.row(1, named=True), first.row(0, named=True)
    assert (up["asset"], down["asset"]) == ("upstream_prices", "doubled_prices")
    assert up["producer_run_id"] == materialization_run_id("upstream_prices", DAY, [], "v1")
    inputs = [{"asset": "upstream_prices", "partition": DAY, "content_hash": up["content_hash"]}]
    assert down["producer_run_id"] == materialization_run_id("doubled_prices", DAY, inputs, "v1")
    assert down["artifact_id"] == artifact_id(down["content_hash"], "doubled_prices", down["producer_run_id"])
