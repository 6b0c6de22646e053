"""Hostile names never reach a path or a SQL string: every entry point rejects them with a clear error."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform.registry.fs import RootFS
from quant_platform.registry.names import validate_name

HOSTILE = [
    "../x",
    "..",
    "/etc/passwd",
    "a/b",
    "a'; drop table x; --",
    'x" OR 1=1',
    "Upper",
    "-starts-with-dash",
    "",
    "a" * 65,
    "tab\tname",
    "nul\x00",
    "é",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_runset_names_rejected_everywhere(
    registry: Registry, dataset: DatasetSpec, name: str
) -> None:
    with pytest.raises(ValueError, match="invalid RunSet name"):
        registry.create_runset(name, RunSetSpec(dataset_id=dataset.dataset_id))
    with pytest.raises(ValueError, match="invalid RunSet name"):
        registry.resolve(name)
    with pytest.raises(ValueError, match="invalid"):
        RunSetSpec(dataset_id=name)
    with pytest.raises(ValueError, match="invalid"):
        RunSetSpec(dataset_id="ok", tags=[name])
    assert registry.facts.files("runsets") == []


@pytest.mark.parametrize("bad", ["../../etc", "a/../b", "/abs", "bars 5m", "x';--"])
def test_hostile_asset_keys_and_symbols_rejected(bad: str) -> None:
    with pytest.raises(ValidationError):
        DatasetSpec(dataset_id="d", source="s", assets=[bad], symbols=["BTCUSDT"], first_day="2024-01-01")
    with pytest.raises(ValidationError):
        DatasetSpec(dataset_id="d", source="s", assets=["bars_5m"], symbols=[bad], first_day="2024-01-01")


def test_valid_names_pass() -> None:
    for name in ("btc_eth_2024q4", "a", "0-9_x", "a" * 64):
        assert validate_name(name) == name


def test_filesystem_layer_refuses_escapes(tmp_path: Path) -> None:
    fs = RootFS(str(tmp_path / "root"))
    for bad in ("../outside.parquet", "facts/../../x", "/etc/passwd"):
        with pytest.raises(ValueError, match="escapes"):
            fs.put_atomic(bad, b"x")
    assert not (tmp_path / "outside.parquet").exists()


def test_trial_ledger_rejects_hostile_stage_and_unknown_runset(
    registry: Registry, dataset: DatasetSpec
) -> None:
    registry.create_runset("ok", RunSetSpec(dataset_id=dataset.dataset_id))
    frame = pl.DataFrame(
        {"runset_id": ["ok"], "stage": ["x'; drop table trials; --"], "trial_id": ["1"], "family": ["f"]}
    )
    with pytest.raises(ValueError, match="invalid stage"):
        registry.record_trials(frame)
    with pytest.raises(LookupError, match="unknown RunSet"):
        registry.record_trials(
            frame.with_columns(pl.lit("nope").alias("runset_id"), pl.lit("s").alias("stage"))
        )
    assert registry.facts.files("trials") == []


def test_cache_queries_cannot_touch_files_or_change_tables(tmp_path: Path) -> None:
    """`qp registry query` runs user SQL: it may read the cache's tables and nothing else."""
    registry = Registry(str(tmp_path / "registry"), str(tmp_path / "store"))
    assert registry.query("SELECT count(*) AS n FROM datasets")["n"].to_list() == [0]
    outside = tmp_path / "exfiltrated.csv"
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    hostile = [
        f"COPY (SELECT 1) TO '{outside}'",
        f"SELECT * FROM read_text('{secret}')",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "SET enable_external_access = true",
        "DROP TABLE datasets",
    ]
    for sql in hostile:
        with pytest.raises(ValueError, match="query failed"):
            registry.query(sql)
    assert not outside.exists()
    assert registry.query("SELECT count(*) AS n FROM datasets")["n"].to_list() == [0]
