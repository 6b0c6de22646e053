"""Read the Parquet store's version records (one per IO-manager write) as the registry's artifact facts.

The store writes ``<store_root>/_versions/<asset>/<partition>/<ns>-<content_hash>.parquet``; the registry
only reads them (the IO manager never writes twice). The current version of a partition is its newest
record by that file name, exactly as the store itself decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import polars as pl

from quant_platform.registry.fs import FILE_COLUMN, RootFS
from quant_platform.registry.ids import artifact_id, materialization_run_id
from quant_platform.storage.keys import asset_path
from quant_platform.storage.store import VERSION_RECORD_SCHEMA, VERSIONS_DIR

RECORD_SEQ = "record_seq"
RECORD_FILE = "record_file"
_NAME_SEQ = r"(\d{1,20})-[0-9a-f]+\.parquet$"


def read_version_records(
    store: RootFS, assets: Sequence[str] | None = None, partitions: Iterable[str] | None = None
) -> pl.DataFrame:
    """Every version record (of ``assets``, or of all assets; of ``partitions`` only, if given), oldest
    first, with derived artifact ids. Partitions are filtered by directory before any file is opened.

    Added columns: ``record_file`` (path relative to the store root), ``record_seq`` (write stamp, ns),
    ``kind`` (the asset key), ``producer_run_id`` (the record's deterministic ``run_id``; for a record
    without one, the materialization run id derived from its asset, partition and lineage) and
    ``artifact_id = sha256(canonical_json([content_hash, kind, producer_run_id]))``. The Dagster run UUID
    stays in ``dagster_run_id`` as provenance only: it differs on every run, so no id is built from it.

    Artifacts are these version records rather than a separate registry fact: the store writes exactly one
    append-only record per IO-manager write, atomically after the data file, so a second copy could only
    drift from it (a crash between two writes) without adding information.
    """
    if assets is None:
        files = store.glob(f"{VERSIONS_DIR}/**/*.parquet")
    else:
        keys = sorted({asset_path(a.split("/")) for a in assets})
        files = sorted({f for key in keys for f in store.glob(f"{VERSIONS_DIR}/{key}/*/*.parquet")})
    if partitions is not None:
        wanted = set(partitions)
        files = [f for f in files if f.rsplit("/", 2)[-2] in wanted]
    frame = store.read_parquet(files, VERSION_RECORD_SCHEMA).rename({FILE_COLUMN: RECORD_FILE})
    if assets is not None:
        frame = frame.filter(pl.col("asset").is_in(keys))  # a glob may also catch a deeper asset key
    if partitions is not None:
        frame = frame.filter(pl.col("partition").is_in(list(wanted)))
    return _with_artifact_ids(frame)


def empty_version_records() -> pl.DataFrame:
    """The shape of ``read_version_records`` with no rows (a registry without a store)."""
    frame = pl.DataFrame(schema={**VERSION_RECORD_SCHEMA, RECORD_FILE: pl.String()})
    return _with_artifact_ids(frame)


def _with_artifact_ids(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(
        pl.col(RECORD_FILE).str.extract(_NAME_SEQ, 1).cast(pl.Int64).alias(RECORD_SEQ),
        pl.col("asset").alias("kind"),
    ).sort([RECORD_SEQ, RECORD_FILE], maintain_order=True)
    producers = [
        run or materialization_run_id(asset, partition, json.loads(lineage or "[]"))
        for run, asset, partition, lineage in zip(
            frame["run_id"], frame["asset"], frame["partition"], frame["lineage_json"], strict=True
        )
    ]
    frame = frame.with_columns(pl.Series("producer_run_id", producers, dtype=pl.String))
    ids = [
        artifact_id(h, k, r)
        for h, k, r in zip(frame["content_hash"], frame["kind"], frame["producer_run_id"], strict=True)
    ]
    return frame.with_columns(pl.Series("artifact_id", ids, dtype=pl.String))


def current_versions(records: pl.DataFrame, as_of_ns: int | None = None) -> pl.DataFrame:
    """The newest record per (asset, partition) among those written at or before ``as_of_ns``."""
    visible = records if as_of_ns is None else records.filter(pl.col(RECORD_SEQ) <= as_of_ns)
    return (
        visible.sort([RECORD_SEQ, RECORD_FILE]).group_by(["asset", "partition"], maintain_order=True).last()
    )
