"""Test helpers shared by registry, CLI and Dagster tests: a ticking clock and store version records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from quant_platform.core.hashing import sha256_hex
from quant_platform.storage.store import VERSION_RECORD_SCHEMA

T0_NS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


class TickingClock:
    """A deterministic clock: every call advances one millisecond (records and facts stay ordered)."""

    def __init__(self, start_ns: int = T0_NS) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        self.now_ns += 1_000_000
        return self.now_ns


def write_version_record(
    store_root: Path,
    asset: str,
    partition: str,
    content: str,
    written_ns: int,
    dagster_run_id: str | None = "run-a",
    rows: int = 10,
    run_id: str | None = None,
) -> dict:
    """Write one version record exactly as the Parquet store lays it out (data file not needed)."""
    content_hash = sha256_hex(content)
    record = {
        "asset": asset,
        "partition": partition,
        "content_hash": content_hash,
        "path": f"{asset}/{partition}/{content_hash}.parquet",
        "rows": rows,
        "n_bytes": 1000,
        "schema_json": json.dumps({"x": "Float64"}),
        "written_at": datetime.fromtimestamp(written_ns // 1_000_000 / 1000, tz=UTC),
        "dagster_run_id": dagster_run_id,
        "lineage_json": "[]",
        "run_id": run_id,
    }
    directory = store_root / "_versions" / asset / partition
    directory.mkdir(parents=True, exist_ok=True)
    pl.DataFrame([record], schema=VERSION_RECORD_SCHEMA).write_parquet(
        directory / f"{written_ns:020d}-{content_hash}.parquet"
    )
    return record
