"""The append-only fact log: layout, validation, round trip of every fact type, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import re
import uuid
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest

from quant_platform.governance.observations import DayObservation, record_observations
from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform.registry.columns import FACT_SCHEMAS, FACT_TYPES
from quant_platform.registry.facts import FactLog
from quant_platform.registry.fs import RootFS

_FACT_NAME = re.compile(r"^facts/(\w+)/(\d{4}-\d{2}-\d{2})/(\d{20})-([0-9a-f]{12})\.parquet$")


def test_every_fact_type_round_trips(registry: Registry, dataset: DatasetSpec, materialize) -> None:
    for day in ("2024-01-01", "2024-01-02"):
        materialize("bars_5m", day, f"bars {day}")
        materialize("features_v1", day, f"features {day}")
    spec = RunSetSpec(dataset_id=dataset.dataset_id, start="2024-01-01", end="2024-01-02", tags=["t"])
    created = registry.create_runset("jan_start", spec)
    resolution = registry.resolve("jan_start")
    frozen = registry.freeze("jan_start")
    run = registry.register_run(
        dataset_ids=[dataset.dataset_id],
        strategy_hash="e" * 64,
        engine_version="engine-1",
        seed=3,
        runset="jan_start",
        dagster_run_id="run-a",
        config={"lookback": 12, "threshold": 0.5},
    )
    record_observations(
        registry, [DayObservation(run_id=run, candidate_id="c1", day=date(2024, 1, 2), daily_return=0.01)]
    )
    registry.record_trials(
        pl.DataFrame(
            {
                "runset_id": ["jan_start"],
                "stage": ["stage_a"],
                "trial_id": ["t1"],
                "family": ["mom"],
                "ic": [0.1],
            }
        )
    )

    # Reopen from disk alone: everything reads back as written.
    again = Registry(registry.fs.root, registry.store.root)
    assert again.dataset("synthetic_v1") == dataset
    info = again.runset("jan_start")
    assert (info.runset_id, info.spec, info.frozen) == (created.runset_id, spec, True)
    assert again.runset(created.runset_id).name == "jan_start"
    pinned = again.resolve("jan_start")
    assert pinned.resolution_hash == resolution.resolution_hash == frozen.resolution_hash
    assert pinned.artifacts.equals(resolution.artifacts)
    runs = again.runs()
    assert runs.select("run_id", "seed", "dagster_run_id", "runset_id").row(0) == (
        run,
        3,
        "run-a",
        created.runset_id,
    )
    assert runs["config_json"][0] == '{"lookback":12,"threshold":0.5}'
    # provenance left out: the conservative labels that no production gate counts
    assert runs.select("run_source", "score_source", "data_regime").row(0) == (
        "maintenance",
        "heuristic",
        "maintenance_replay",
    )
    observed = again.facts.read("run_observations")
    assert observed.select("run_id", "candidate_id", "day", "daily_return").row(0) == (
        run,
        "c1",
        date(2024, 1, 2),
        0.01,
    )
    trials = again.trials("jan_start")
    assert trials.select("stage", "trial_id", "family", "metric", "value").row(0) == (
        "stage_a",
        "t1",
        "mom",
        "ic",
        0.1,
    )
    # One file per write, laid out as specified, each readable and schema-valid on its own.
    for fact_type in FACT_TYPES:
        files = again.facts.files(fact_type)
        assert files, fact_type
        for relative in files:
            match = _FACT_NAME.match(relative)
            assert match and match.group(1) == fact_type
            frame = pl.read_parquet(Path(again.fs.abs(relative)))
            assert frame.schema == pl.Schema(FACT_SCHEMAS[fact_type])
    assert not list(Path(again.fs.root).rglob("*.tmp-*"))


def test_append_validates_against_the_schema(tmp_path: Path) -> None:
    log = FactLog(RootFS(str(tmp_path)))
    good = {"runset_id": "a" * 64, "runset_name": "x", "resolution_hash": "b" * 64}
    log.append("freezes", pl.DataFrame([good]))
    with pytest.raises(pa.errors.SchemaError):
        log.append("freezes", pl.DataFrame([good | {"resolution_hash": "not-hex"}]))
    with pytest.raises(ValueError, match="columns"):
        log.append("freezes", pl.DataFrame([good | {"extra": 1}]))
    with pytest.raises(ValueError, match="unknown fact type"):
        log.append("../runs", pl.DataFrame([good]))
    with pytest.raises(ValueError, match="empty"):
        log.append("freezes", pl.DataFrame([good]).head(0))
    assert log.read("freezes").height == 1


def _writer(root: str, worker: int, n: int) -> None:
    registry = Registry(root)
    for i in range(n):
        registry.register_dataset(
            DatasetSpec(
                dataset_id=f"w{worker}_ds{i}",
                source="synthetic",
                assets=["bars_5m"],
                symbols=["BTCUSDT"],
                first_day="2024-01-01",
            )
        )


def test_two_processes_writing_concurrently_lose_nothing(tmp_path: Path) -> None:
    root = str(tmp_path / "registry")
    context = mp.get_context("spawn")
    workers = [context.Process(target=_writer, args=(root, w, 50)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    registry = Registry(root)
    ids = sorted(d.dataset_id for d in registry.datasets())
    assert ids == sorted(f"w{w}_ds{i}" for w in range(2) for i in range(50))
    assert len(registry.facts.files("datasets")) == 100


def test_registry_on_an_fsspec_url(tmp_path: Path) -> None:
    """The same code on a non-local filesystem (fsspec memory://, standing in for s3://)."""
    root = f"memory://qp-{uuid.uuid4().hex}/registry"
    registry = Registry(root, str(tmp_path / "store"), cache_path=str(tmp_path / "cache.duckdb"))
    registry.register_dataset(
        DatasetSpec(
            dataset_id="d", source="s", assets=["bars_5m"], symbols=["BTCUSDT"], first_day="2024-01-01"
        )
    )
    registry.create_runset("on_memory", RunSetSpec(dataset_id="d", end="2024-01-02"))
    assert registry.resolve("on_memory").missing.height == 2
    assert Registry(root).runset("on_memory").latest_resolution_hash is not None
    assert registry.rebuild()["rows"]["resolutions"] == 2
    assert registry.query("SELECT runset_name FROM runset_bindings")["runset_name"].to_list() == ["on_memory"]
    with pytest.raises(ValueError, match="cache_path"):
        Registry(root).rebuild()
