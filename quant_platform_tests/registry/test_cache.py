"""The DuckDB cache is a pure function of the facts: rebuild equivalence and views checked by hand."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from quant_platform.registry import DatasetSpec, Registry, RunSetSpec, artifact_id, run_id
from quant_platform.registry.cache import TABLES, VIEWS
from quant_platform.registry.ids import materialization_run_id

# Two registry runs executed by one Dagster run ("run-market"); only the first wrote artifacts of its own.
RUN_A = run_id(["synthetic_v1"], "a" * 64, "e1", 1)


@pytest.fixture
def populated(registry: Registry, dataset: DatasetSpec, materialize) -> Registry:
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        materialize("bars_5m", day, f"bars {day}", dagster_run_id="run-market")
    materialize("trades", "2024-01-01", "run a trades", dagster_run_id="run-market", run_id=RUN_A)
    materialize("trades", "2024-01-02", "run a trades 2", dagster_run_id="run-market", run_id=RUN_A)
    materialize("features_v1", "2024-01-01", "features 1", dagster_run_id="run-features")
    materialize("bars_5m", "2024-01-02", "bars 2 corrected", dagster_run_id="run-fix")
    registry.create_runset(
        "frozen_set", RunSetSpec(dataset_id="synthetic_v1", start="2024-01-01", end="2024-01-02")
    )
    registry.create_runset("explore_set", RunSetSpec(dataset_id="synthetic_v1", end="2024-01-03", tags=["x"]))
    registry.freeze("frozen_set", allow_incomplete=True)
    materialize("features_v1", "2024-01-02", "features 2", dagster_run_id="run-features")
    registry.resolve("explore_set")
    registry.resolve("explore_set")
    registry.register_run(
        dataset_ids=["synthetic_v1"],
        strategy_hash="a" * 64,
        engine_version="e1",
        seed=1,
        dagster_run_id="run-market",
    )
    registry.register_run(
        dataset_ids=["synthetic_v1"],
        strategy_hash="b" * 64,
        engine_version="e1",
        seed=1,
        dagster_run_id="run-market",
    )
    registry.record_trials(
        pl.DataFrame(
            {
                "runset_id": ["explore_set"] * 2,
                "stage": ["s"] * 2,
                "trial_id": ["1", "2"],
                "family": ["f"] * 2,
            }
        )
    )
    return registry


def _snapshot(registry: Registry) -> dict[str, pl.DataFrame]:
    return {
        name: registry.query(f"SELECT * FROM {name} ORDER BY ALL")
        for name in (*TABLES, *VIEWS)
        if name != "cache_meta"
    }


def test_deleting_the_cache_and_rebuilding_gives_identical_results(populated: Registry) -> None:
    first = populated.rebuild()
    assert first["rebuilt"] and first["rows"]["runsets"] == 2
    before = _snapshot(populated)
    assert populated.rebuild() == {
        "rebuilt": False,
        "path": first["path"],
        "fingerprint": first["fingerprint"],
        "quarantined": [],
    }
    os.remove(populated.cache_path)
    assert populated.rebuild()["rebuilt"]
    after = _snapshot(populated)
    for name, frame in before.items():
        assert frame.equals(after[name]), name
    assert populated.rebuild(force=True)["rebuilt"]


def test_cache_notices_new_facts(populated: Registry, materialize) -> None:
    populated.rebuild()
    materialize("bars_5m", "2024-01-04", "bars 4")
    assert populated.rebuild()["rebuilt"]
    assert populated.query("SELECT count(*) AS n FROM artifacts")["n"][0] == 9  # 8 populated + 1 new


def test_membership_is_each_runsets_current_resolution(populated: Registry) -> None:
    membership = populated.query(
        "SELECT runset_name, asset, partition, content_hash, frozen FROM runset_membership ORDER BY ALL"
    )
    for name in ("frozen_set", "explore_set"):
        current = populated.current_resolution(name)
        rows = membership.filter(pl.col("runset_name") == name)
        assert (
            rows.select("asset", "partition", "content_hash").rows()
            == current.artifacts.select("asset", "partition", "content_hash").rows()
        )
        assert rows["frozen"].to_list() == [current.frozen] * rows.height
    # The frozen RunSet still points at the features gap that was filled after its freeze.
    frozen_features = membership.filter(
        (pl.col("runset_name") == "frozen_set") & (pl.col("asset") == "features_v1")
    )
    assert frozen_features["content_hash"].null_count() == 1


def test_views_against_hand_counts(populated: Registry) -> None:
    latest = populated.query("SELECT runset_name, n_artifacts, n_missing FROM latest_resolutions ORDER BY 1")
    # explore_set: Jan 1-3 (dataset start to its end) x 2 assets; only features on Jan 3 is missing.
    assert latest.rows() == [("explore_set", 6, 1), ("frozen_set", 4, 1)]
    counts = populated.query(
        "SELECT strategy_hash, dagster_run_id, n_artifacts, artifact_rows FROM runs_with_artifact_counts "
        "ORDER BY 1"
    )
    # Same Dagster run, but each run is credited only with the artifacts it produced (joined on run id).
    assert counts.rows() == [("a" * 64, "run-market", 2, 20), ("b" * 64, "run-market", 0, 0)]
    coverage = populated.query(
        "SELECT asset, n_days_materialized, n_days_expected, n_days_missing, last_materialized "
        "FROM dataset_coverage ORDER BY asset"
    )
    assert coverage.select("asset", "n_days_materialized", "n_days_expected", "n_days_missing").rows() == [
        ("bars_5m", 3, 31, 28),
        ("features_v1", 2, 31, 29),
    ]
    artifacts = populated.query("SELECT content_hash, kind, producer_run_id, artifact_id FROM artifacts")
    for content_hash, kind, run, derived in artifacts.rows():
        assert derived == artifact_id(content_hash, kind, run)
    # A record without a run id gets its materialization run id, never the Dagster run UUID.
    bars = populated.query("SELECT partition, producer_run_id FROM artifacts WHERE kind = 'bars_5m'")
    for partition, producer in bars.rows():
        assert producer == materialization_run_id("bars_5m", partition, [])


def test_queries_are_parameterized_and_read_only(populated: Registry) -> None:
    hostile = "x' OR '1'='1"
    assert populated.query("SELECT * FROM runsets WHERE runset_name = ?", [hostile]).height == 0
    assert populated.query("SELECT * FROM runsets WHERE runset_name = $n", {"n": "explore_set"}).height == 1
    with pytest.raises(ValueError, match=r"(?i)read.only"):
        populated.query("DROP TABLE runsets")
    assert populated.query("SELECT count(*) AS n FROM runsets")["n"][0] == 2


def test_empty_registry_builds_typed_empty_tables(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path / "r"), str(tmp_path / "s"))
    report = registry.rebuild()
    assert all(n == 0 for t, n in report["rows"].items() if t != "cache_meta")
    schema = registry.query("DESCRIBE trials")
    assert dict(zip(schema["column_name"], schema["column_type"], strict=True))["value"] == "DOUBLE"
