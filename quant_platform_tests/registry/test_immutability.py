"""Ids bind to content once: corrections need new ids, and conflicting re-registrations are errors."""

from __future__ import annotations

import pytest

from quant_platform.registry import DatasetSpec, NotFoundError, Registry, RunSetSpec


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
