"""``external_hypothesis_candidates`` for a RunSet through the real registry and Parquet IO manager: the RunSet's
source filter decides which callers are tested, the informed caller passes, and a filter that leaves nothing
fails the step instead of writing an empty table."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs.external_research import external_hypothesis_candidates
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.registry import Registry
from quant_platform.discovery.sources import SOURCE_STATE
from quant_platform.external.config import ExternalSpec
from quant_platform.external.pipeline import process_external
from quant_platform.external.synthetic import SyntheticExternalConfig, synthetic_external
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.storage import ParquetStore
from quant_platform_tests.discovery.test_source_discovery import SYMBOLS, _bars

SEED = 1001
CONFIG = SyntheticExternalConfig()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("external_research")
    bars = _bars(SEED, 12)
    raw = synthetic_external(
        bars, SyntheticExternalConfig(seed=SEED, alerts_per_caller_per_day=10.0, hit_rate=0.9)
    )
    events = process_external(raw, SYMBOLS, ExternalSpec.from_spec()).events
    store = ParquetStore(str(root / "store"))
    days = sorted({ts.date() for ts in bars["ts"]})
    for day in days:
        store.write("bars_5m", day.isoformat(), bars.filter(pl.col("ts").dt.date() == day))
        store.write(
            "external_events", day.isoformat(), events.filter(pl.col("available_at").dt.date() == day)
        )
    registry = Registry(root=str(root / "registry"), store_root=str(root / "store"))
    library = registry.library()
    library.register_dataset(
        DatasetSpec(dataset_id="ext", source="synthetic", assets=["bars_5m", "external_events"], symbols=SYMBOLS,
                    first_day=days[0], last_day=days[-1])
    )  # fmt: skip
    return root, registry, days


def _materialize(root: Path, registry: Registry, runset: str) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, [runset])
    return dg.materialize(
        [external_hypothesis_candidates],
        partition_key=runset,
        instance=instance,
        resources={"registry": registry, "io_manager": ImmutableParquetIOManager(root=str(root / "store"))},
        raise_on_error=False,
    )


def test_runset_source_filter_decides_what_is_tested_and_the_informed_caller_passes(world) -> None:
    root, registry, _ = world
    chosen = [CONFIG.informed_caller, CONFIG.noise_callers[0]]
    registry.library().create_runset("two_callers", RunSetSpec(dataset_id="ext", external_sources=chosen))
    result = _materialize(root, registry, "two_callers")
    assert result.success
    frame = (
        ParquetStore(str(root / "store"))
        .scan(external_hypothesis_candidates.key.path, ["two_callers"])[0]
        .collect()
    )
    cells = frame.filter(pl.col("state_column") == SOURCE_STATE)
    assert set(cells["state_value"]) == set(chosen)
    assert set(frame["event_type"]) == {"CALLER_ALERT"}
    passing = set(cells.filter(pl.col("passes_gates"))["state_value"])
    assert passing == {CONFIG.informed_caller}
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    assert registry.library().trials("two_callers").height > 0  # every tested hypothesis is in the ledger


def test_a_filter_that_leaves_nothing_fails_naming_it(world) -> None:
    root, registry, _ = world
    registry.library().create_runset(
        "nobody", RunSetSpec(dataset_id="ext", external_sources=["caller_unknown"])
    )
    result = _materialize(root, registry, "nobody")
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "caller_unknown" in failure.step_failure_data.user_failure_data.description


def test_runset_content_id_is_unchanged_without_external_filters() -> None:
    plain = RunSetSpec(dataset_id="ext")
    assert "external_sources" not in plain.canonical() and "max_external_tier" not in plain.canonical()
    assert RunSetSpec(dataset_id="ext", max_external_tier=2).canonical()["max_external_tier"] == 2
    with pytest.raises(ValueError, match="invalid external source"):
        RunSetSpec(dataset_id="ext", external_sources=["bad source"])
