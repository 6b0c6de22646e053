"""Ids bind to content once: corrections need new ids, and conflicting re-registrations are errors."""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.registry import DatasetSpec, NotFoundError, Registry, RunSetSpec, runset_id
from quant_platform.registry.columns import FACT_SCHEMAS


def test_dataset_is_immutable(registry: Registry, dataset: DatasetSpec) -> None:
    assert registry.register_dataset(dataset) == dataset  # identical content again: a no-op
    assert len(registry.facts.files("datasets")) == 1
    corrected = dataset.model_copy(update={"last_day": dataset.last_day.replace(day=30)})
    with pytest.raises(ValueError, match="new dataset id"):
        registry.register_dataset(corrected)
    registry.register_dataset(corrected.model_copy(update={"dataset_id": "synthetic_v2"}))
    assert registry.dataset("synthetic_v1") == dataset
    assert registry.dataset("synthetic_v2").last_day.day == 30


def test_runset_name_binds_once(registry: Registry, dataset: DatasetSpec) -> None:
    spec = RunSetSpec(dataset_id=dataset.dataset_id, symbols=["BTCUSDT"])
    first = registry.create_runset("btc", spec)
    assert registry.create_runset("btc", spec) == first  # idempotent
    with pytest.raises(ValueError, match="already exists with a different spec"):
        registry.create_runset("btc", spec.model_copy(update={"symbols": ("ETHUSDT",)}))
    with pytest.raises(ValueError, match="already exists as RunSet 'btc'"):
        registry.create_runset("btc_copy", spec)
    assert [i.name for i in registry.runsets()] == ["btc"]


def test_runset_must_fit_its_dataset(registry: Registry, dataset: DatasetSpec) -> None:
    with pytest.raises(NotFoundError, match="unknown dataset"):
        registry.create_runset("x", RunSetSpec(dataset_id="nope"))
    with pytest.raises(ValueError, match="not in dataset"):
        registry.create_runset("x", RunSetSpec(dataset_id=dataset.dataset_id, symbols=["DOGEUSDT"]))
    with pytest.raises(ValueError, match="outside dataset"):
        registry.create_runset("x", RunSetSpec(dataset_id=dataset.dataset_id, end="2024-02-01"))


def test_run_config_is_immutable(registry: Registry, dataset: DatasetSpec) -> None:
    common = {
        "dataset_ids": [dataset.dataset_id],
        "strategy_hash": "f" * 64,
        "engine_version": "e1",
        "seed": 1,
    }
    run = registry.register_run(**common, config={"a": 1}, dagster_run_id="r1")
    assert registry.register_run(**common, config={"a": 1}, dagster_run_id="r1") == run  # no-op
    assert registry.register_run(**common, config={"a": 1}, dagster_run_id="r2") == run  # another execution
    assert registry.runs().height == 2
    with pytest.raises(ValueError, match="different config"):
        registry.register_run(**common, config={"a": 2})
    with pytest.raises(NotFoundError):
        registry.register_run(**(common | {"dataset_ids": ["unknown_ds"]}))


def _competitor_first(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, fact_type: str, competitor
) -> None:
    """Make another writer's fact land between our existence check and our append (a lost race)."""
    original = registry.facts.append

    def racing_append(kind: str, frame):
        if kind == fact_type:
            original(kind, competitor)
            monkeypatch.setattr(registry.facts, "append", original)
        return original(kind, frame)

    monkeypatch.setattr(registry.facts, "append", racing_append)


def test_lost_dataset_race_is_an_error_and_the_earliest_fact_wins(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = DatasetSpec(
        dataset_id="raced", source="s", assets=["bars_5m"], symbols=["BTCUSDT"], first_day="2024-01-01"
    )
    theirs = ours.model_copy(update={"symbols": ("ETHUSDT",)})
    competitor = pl.DataFrame(
        {
            "dataset_id": ["raced"],
            "content_hash": [theirs.content_hash],
            "definition_json": [theirs.to_json()],
            "source": ["s"],
            "assets": [["bars_5m"]],
            "symbols": [["ETHUSDT"]],
            "first_day": [theirs.first_day],
            "last_day": [None],
        },
        schema={k: v for k, v in FACT_SCHEMAS["datasets"].items() if k != "written_at"},
    )
    _competitor_first(registry, monkeypatch, "datasets", competitor)
    with pytest.raises(ValueError, match="concurrent writer"):
        registry.register_dataset(ours)
    assert registry.dataset("raced") == theirs
    assert [d.dataset_id for d in registry.datasets()] == ["raced"]


def test_lost_runset_race_leaves_one_binding(
    registry: Registry, dataset: DatasetSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = RunSetSpec(dataset_id=dataset.dataset_id, symbols=["BTCUSDT"])
    theirs = RunSetSpec(dataset_id=dataset.dataset_id, symbols=["ETHUSDT"])
    competitor = pl.DataFrame(
        {
            "runset_name": ["contested"],
            "runset_id": [runset_id(theirs)],
            "spec_json": [theirs.to_json()],
            "dataset_id": [dataset.dataset_id],
            "mode": ["exploratory"],
            "tags": [[]],
        },
        schema={k: v for k, v in FACT_SCHEMAS["runsets"].items() if k != "written_at"},
    )
    _competitor_first(registry, monkeypatch, "runsets", competitor)
    with pytest.raises(ValueError, match="concurrent writer"):
        registry.create_runset("contested", ours)
    assert registry.runset("contested").spec == theirs
    with pytest.raises(NotFoundError, match="lost a concurrent creation"):
        registry.runset(runset_id(ours))  # our losing fact binds nothing
    assert [(i.name, i.spec) for i in registry.runsets()] == [("contested", theirs)]
