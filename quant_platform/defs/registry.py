"""The registry in Dagster: a ``Registry`` resource over the library, the sensor that turns every RunSet into
a ``runset`` partition, and the metadata every research output attaches.

A research asset partitioned by ``runset_partitions`` resolves its RunSet and reads exactly those versions::

    @dg.asset(partitions_def=runset_partitions)
    def hypothesis_candidates(context, registry: Registry) -> dg.Output[pl.DataFrame]:
        resolution = registry.resolve(context.partition_key)
        bars = registry.scan(resolution, "bars_5m")
        frame = ...
        return dg.Output(frame, metadata=runset_output_metadata(resolution))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg
import polars as pl

from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME, runset_partitions
from quant_platform.defs.resources import default_registry_root, default_store_root
from quant_platform.registry import Registry as RegistryLibrary
from quant_platform.registry import Resolution
from quant_platform.storage import ParquetStore, validate_data_path


class Registry(dg.ConfigurableResource):
    """The registry at ``root`` reading artifact versions from the Parquet store at ``store_root``
    (local paths or fsspec URLs; ``cache_path`` is the local DuckDB cache file, default under ``root``)."""

    root: str = "data/registry"
    store_root: str = "data/store"
    cache_path: str | None = None

    def library(self) -> RegistryLibrary:
        return RegistryLibrary(self.root, self.store_root, cache_path=self.cache_path)

    def resolve(self, runset: str) -> Resolution:
        """The exact artifact versions a RunSet partition reads (its pin if frozen, else the latest)."""
        return self.library().resolve(runset)

    def resolution(self, runset: str, resolution_hash: str) -> Resolution:
        """A recorded resolution by hash: downstream research assets read exactly what upstream resolved."""
        return self.library().resolution(runset, resolution_hash)

    def uris(self, resolution: Resolution, asset: str) -> list[str]:
        """Readable locations (paths or URLs) of the resolved versions of ``asset``, each path checked to
        lie in the store's data layout. A reader of these bypasses verification: prefer :meth:`scan`."""
        store = self.library().store
        assert store is not None
        return [store.uri(validate_data_path(p)) for p in resolution.paths(asset)]

    def scan(self, resolution: Resolution, asset: str) -> pl.LazyFrame:
        """The resolved versions of ``asset`` as one LazyFrame (local paths or any fsspec URL), each file
        checked against its content hash (``IntegrityError`` if it differs)."""
        return ParquetStore(self.store_root).scan_paths(resolution.paths(asset))

    def runset_metadata(self, runset: str) -> dict[str, str]:
        return self.library().runset_metadata(runset)

    def register_replays(
        self, resolution: Resolution, strategy_ids: list[str], config: Any, dagster_run_id: str
    ) -> dict[str, str]:
        """Record one registry run per replayed strategy; ``{strategy_id: run_id}``.

        ``run_id = sha256(dataset ids + strategy hash + engine version + seed)`` where the strategy hash covers
        the rule (its candidate id) and the exact engine configuration, so the same replay under the same
        costs always has the same id, and a re-materialization records another execution of it.
        """
        from quant_platform.core.hashing import canonical_hash
        from quant_platform.engine import ENGINE_VERSION

        library = self.library()
        dataset_id = library.runset(resolution.runset_name).spec.dataset_id
        config_id = config.content_id()
        runs = {}
        for strategy_id in sorted(strategy_ids):
            runs[strategy_id] = library.register_run(
                dataset_ids=[dataset_id],
                strategy_hash=canonical_hash({"candidate_id": strategy_id, "engine_config_id": config_id}),
                engine_version=ENGINE_VERSION,
                seed=config.seed,
                runset=resolution.runset_name,
                dagster_run_id=dagster_run_id,
                config={"candidate_id": strategy_id, "engine_config_id": config_id},
            )
        return runs

    def record_trials(self, frame: pl.DataFrame) -> int:
        return self.library().record_trials(frame)

    def count_trials(self, runset: str, stage: str | None = None) -> int:
        return self.library().count_trials(runset, stage)

    def count_hypotheses(self, runset: str, stage: str | None = None) -> int:
        return self.library().count_hypotheses(runset, stage)

    def count_evaluations(self, runset: str, stage: str | None = None, kind: str | None = None) -> int:
        return self.library().count_evaluations(runset, stage, kind)

    def trials(self, runset: str, stage: str | None = None, kind: str | None = None) -> pl.DataFrame:
        return self.library().trials(runset, stage, kind)


def runset_output_metadata(resolution: Resolution) -> dict[str, Any]:
    """Materialization metadata of a research output: RunSet id and name, resolution hash, mode."""
    return {key: dg.MetadataValue.text(value) for key, value in resolution.metadata().items()}


def upstream_resolution(context: dg.AssetExecutionContext, registry: Registry, upstream: str) -> Resolution:
    """The exact resolution an upstream research asset read for this RunSet partition.

    Downstream research assets never re-resolve: between two steps of one run a daily partition may gain a
    new version, and every stage of a RunSet must read the same artifact versions. The hash is taken from the
    upstream materialization's metadata (``resolution_hash``, attached by :func:`runset_output_metadata`).
    """
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(upstream), asset_partitions=[context.partition_key]),
        limit=1,
    ).records
    event = records[0].event_log_entry if records else None
    materialization = event.asset_materialization if event else None
    if materialization is None or "resolution_hash" not in materialization.metadata:
        raise LookupError(
            f"{upstream} has no materialization with a resolution for RunSet {context.partition_key!r}"
        )
    return registry.resolution(context.partition_key, materialization.metadata["resolution_hash"].value)


def missing_runset_partitions(names: Iterable[str], instance: dg.DagsterInstance) -> list[str]:
    existing = set(instance.get_dynamic_partitions(RUNSET_PARTITIONS_NAME))
    return sorted({n for n in names if n not in existing})


def add_runset_partitions(names: Iterable[str], instance: dg.DagsterInstance | None = None) -> list[str]:
    """Add ``runset`` partitions for ``names`` that lack one (``$DAGSTER_HOME``'s instance by default)."""
    instance = instance or dg.DagsterInstance.get()
    new = missing_runset_partitions(names, instance)
    if new:
        instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, new)
    return new


@dg.sensor(
    name="runset_partition_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `runset` partition for every RunSet found in the registry facts.",
)
def runset_partition_sensor(context: dg.SensorEvaluationContext, registry: Registry) -> dg.SensorResult:
    names = [info.name for info in registry.library().runsets()]
    new = missing_runset_partitions(names, context.instance)
    if not new:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"all {len(names)} RunSets already have partitions"))
    context.log.info(f"adding runset partitions: {new}")
    return dg.SensorResult(dynamic_partitions_requests=[runset_partitions.build_add_request(new)])


defs = dg.Definitions(
    sensors=[runset_partition_sensor],
    resources={"registry": Registry(root=default_registry_root(), store_root=default_store_root())},
)
