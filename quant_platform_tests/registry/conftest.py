"""Fixtures: a temp registry over a temp Parquet store, and a helper that writes store version records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from quant_platform.registry import DatasetSpec, Registry
from quant_platform_tests.registry.helpers import TickingClock, write_version_record


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "registry", tmp_path / "store"


@pytest.fixture
def registry(roots: tuple[Path, Path], clock: TickingClock) -> Registry:
    return Registry(str(roots[0]), str(roots[1]), clock=clock)


DATASET = DatasetSpec(
    dataset_id="synthetic_v1",
    source="synthetic",
    assets=["bars_5m", "features_v1"],
    symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"],
    first_day="2024-01-01",
    last_day="2024-01-31",
)


@pytest.fixture
def dataset(registry: Registry) -> DatasetSpec:
    return registry.register_dataset(DATASET)


@pytest.fixture
def materialize(roots: tuple[Path, Path], clock: TickingClock) -> Callable[..., dict]:
    """Write a version record for (asset, day, content) stamped by the shared clock."""

    def write(
        asset: str, day: str, content: str, dagster_run_id: str | None = "run-a", run_id: str | None = None
    ) -> dict:
        return write_version_record(roots[1], asset, day, content, clock(), dagster_run_id, run_id=run_id)

    return write
