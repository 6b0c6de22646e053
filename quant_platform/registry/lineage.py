"""Artifacts and lineage: from a result back to the exact input versions it was computed from.

A *result* is one of
- an experiment run (its ``run_id``): the run read exactly its RunSet resolution, so its inputs are that
  resolution's artifact versions;
- a trade set (an experiment fact file, ``experiments/facts/<table>/<run_id>.parquet``): the facts of one run,
  so the same inputs as the run;
- a stored artifact (its ``artifact_id`` or content hash): its version record names the upstream versions the
  IO manager loaded to produce it (``lineage_json``).

:func:`lineage` walks breadth-first from the result through the version records' upstream lists until versions
with no recorded upstream (raw inputs), one row per (version, what pointed at it), with its depth. A version
named in a lineage but absent from the store is reported (``artifact_id`` null, ``note``), never skipped.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import polars as pl

from quant_platform.registry import experiment_facts as facts
from quant_platform.registry.names import is_content_id
from quant_platform.registry.registry import NotFoundError

if TYPE_CHECKING:
    from quant_platform.registry.registry import Registry

ARTIFACT_COLUMNS = ["artifact_id", "asset", "partition", "content_hash", "rows", "written_at", "path"]
LINEAGE_SCHEMA: dict[str, pl.DataType] = {
    "depth": pl.Int64(),
    "asset": pl.String(),
    "partition": pl.String(),
    "content_hash": pl.String(),
    "artifact_id": pl.String(),
    "path": pl.String(),
    "needed_by": pl.String(),
    "note": pl.String(),
}
_FACT_FILE = re.compile(r"(?:^|/)experiments/facts/([a-z_]+)/([0-9a-f]{64})\.parquet$")


def list_artifacts(registry: Registry, asset: str | None = None) -> pl.DataFrame:
    """Every stored version (optionally of one asset), oldest first."""
    frame = registry.artifacts(None if asset is None else [asset])
    return frame.select(ARTIFACT_COLUMNS)


def find_artifacts(
    registry: Registry,
    *,
    asset: str | None = None,
    partition: str | None = None,
    content_hash: str | None = None,
) -> pl.DataFrame:
    """Stored versions matching every given filter (a content hash may be given by a prefix of 8+ digits)."""
    if content_hash is not None and len(content_hash) < 8:
        raise ValueError("give at least 8 leading hex digits of a content hash")
    frame = list_artifacts(registry, asset)
    if partition is not None:
        frame = frame.filter(pl.col("partition") == partition)
    if content_hash is not None:
        frame = frame.filter(pl.col("content_hash").str.starts_with(content_hash))
    return frame


def get_artifact(registry: Registry, ref: str) -> dict[str, Any]:
    """One stored version by its ``artifact_id`` or content hash, with its recorded upstream versions."""
    records = registry.artifacts()
    found = records.filter((pl.col("artifact_id") == ref) | (pl.col("content_hash") == ref))
    if found.height == 0:
        raise NotFoundError(f"no stored artifact has id or content hash {ref!r}")
    row = found.row(0, named=True)
    return {
        **{k: row[k] for k in ARTIFACT_COLUMNS},
        "producer_run_id": row["producer_run_id"],
        "dagster_run_id": row["dagster_run_id"],
        "inputs": json.loads(row["lineage_json"] or "[]"),
    }


def _start(registry: Registry, ref: str, records: pl.DataFrame) -> tuple[str, list[dict[str, Any]]]:
    """What ``ref`` is, and the versions it was computed from directly."""
    match = _FACT_FILE.search(ref)
    if match:
        ref = match.group(2)
    if not is_content_id(ref):
        ref = _expand_prefix(registry, ref, records)
    runs = facts.read_facts(registry.fs, "experiment_runs", pl.col("run_id") == ref)
    if runs.height:
        run = runs.row(0, named=True)
        resolution = registry.resolution(run["runset_id"], run["resolution_hash"])
        inputs = resolution.artifacts.select("asset", "partition", "content_hash").to_dicts()
        what = f"experiment run {ref} (RunSet {run['runset_name']}, resolution {run['resolution_hash']})"
        return what, inputs
    found = records.filter((pl.col("artifact_id") == ref) | (pl.col("content_hash") == ref))
    if found.height:
        row = found.row(0, named=True)
        return f"artifact {row['asset']}/{row['partition']} {row['content_hash']}", [
            {"asset": row["asset"], "partition": row["partition"], "content_hash": row["content_hash"]}
        ]
    raise NotFoundError(f"{ref!r} is not an experiment run, an artifact id or a stored content hash")


def _expand_prefix(registry: Registry, ref: str, records: pl.DataFrame) -> str:
    """The one run id, artifact id or content hash starting with ``ref`` (8+ lowercase hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{8,63}", ref):
        raise ValueError(
            f"{ref!r} is neither a run id, an artifact id, a content hash (or 8+ leading hex digits of one) "
            "nor an experiment fact file"
        )
    runs = facts.read_facts(registry.fs, "experiment_runs")["run_id"].to_list()
    known = {*runs, *records["artifact_id"].to_list(), *records["content_hash"].to_list()}
    matches = sorted(k for k in known if k.startswith(ref))
    if len(matches) != 1:
        raise NotFoundError(f"{len(matches) or 'no'} ids start with {ref!r}; give more digits")
    return matches[0]


def lineage(registry: Registry, ref: str) -> tuple[str, pl.DataFrame]:
    """``(what ref is, the versions it depends on)`` (module docstring)."""
    records = registry.artifacts()
    by_version = {
        (r["asset"], r["partition"], r["content_hash"]): r
        for r in records.select("asset", "partition", "content_hash", "artifact_id", "path", "lineage_json")
        .unique(["asset", "partition", "content_hash"], keep="first", maintain_order=True)
        .iter_rows(named=True)
    }
    what, inputs = _start(registry, ref, records)
    rows: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    frontier = [(0, i, "result") for i in inputs]
    while frontier:
        depth, item, needed_by = frontier.pop(0)
        key = (item["asset"], item["partition"], item.get("content_hash"))
        record = by_version.get(key)
        note = None
        if key[2] is None:
            note = "never materialized"
        elif record is None:
            note = "not in the store's version records"
        rows.append(
            {
                "depth": depth,
                "asset": key[0],
                "partition": key[1],
                "content_hash": key[2],
                "artifact_id": record["artifact_id"] if record else None,
                "path": record["path"] if record else None,
                "needed_by": needed_by,
                "note": note,
            }
        )
        if key in seen or record is None:
            continue
        seen.add(key)
        label = f"{key[0]}/{key[1]}"
        for upstream in json.loads(record["lineage_json"] or "[]"):
            frontier.append((depth + 1, upstream, label))
    return what, pl.DataFrame(rows, schema=LINEAGE_SCHEMA)
