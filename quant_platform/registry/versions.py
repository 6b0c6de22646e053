"""Read the Parquet store's version records (one per IO-manager write) as the registry's artifact facts.

The store writes ``<store_root>/_versions/<asset>/<partition>/<seq>-<content_hash>.parquet``; the registry
only reads them (the IO manager never writes twice). The current version of a partition is its record with
the highest sequence in that file name, exactly as the store itself decides.

One bad record never blocks the others: :func:`load_version_records` checks every record (readable, its
checksum, consistent with its own name, as ``storage.integrity`` defines) and sets the ones that fail aside
as *quarantined*, each with its file and reason, while the rest are served. A reader that needs the
quarantined record's partition (a RunSet whose window covers it) fails naming the file; everyone else goes
on, and the DuckDB cache lists them in ``quarantined_records``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from quant_platform.registry.fs import FILE_COLUMN, RootFS
from quant_platform.registry.ids import artifact_id, materialization_run_id
from quant_platform.storage.integrity import IntegrityError, record_problem
from quant_platform.storage.keys import asset_path
from quant_platform.storage.store import VERSION_RECORD_SCHEMA, VERSIONS_DIR

RECORD_SEQ = "record_seq"
RECORD_FILE = "record_file"
_NAME_SEQ = r"(\d{1,20})-[0-9a-f]+\.parquet$"


QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    RECORD_FILE: pl.String(),  # relative to the store root
    "asset": pl.String(),  # from the record's folder (its content cannot be trusted)
    "partition": pl.String(),
    "reason": pl.String(),
    RECORD_SEQ: pl.Int64(),  # from its file name
}


@dataclass(frozen=True)
class VersionRecords:
    records: pl.DataFrame  # as read_version_records returns them
    quarantined: pl.DataFrame  # QUARANTINE_SCHEMA: records that failed their checks, set aside

    def blocking(self, as_of_ns: int | None = None) -> pl.DataFrame:
        """Quarantined records that could be the current version of their partition at ``as_of_ns`` (no
        trusted record of that partition is newer), i.e. those a reader of the partition cannot ignore."""
        visible = self.quarantined
        if as_of_ns is not None:
            visible = visible.filter(pl.col(RECORD_SEQ) <= as_of_ns)
        newest = current_versions(self.records, as_of_ns).select(
            "asset", "partition", pl.col(RECORD_SEQ).alias("trusted_seq")
        )
        joined = visible.join(newest, on=["asset", "partition"], how="left")
        blocking = joined.filter(
            pl.col("trusted_seq").is_null() | (pl.col(RECORD_SEQ) > pl.col("trusted_seq"))
        )
        return blocking.select(list(QUARANTINE_SCHEMA))

    def describe_quarantined(self, store: RootFS, limit: int = 5, rows: pl.DataFrame | None = None) -> str:
        rows = self.quarantined if rows is None else rows
        listed = "; ".join(
            f"{store.uri(r[RECORD_FILE])} ({r['asset']} {r['partition']}): {r['reason']}"
            for r in rows.head(limit).iter_rows(named=True)
        )
        more = f" and {rows.height - limit} more" if rows.height > limit else ""
        return (
            f"{rows.height} version records are corrupt and quarantined: {listed}{more}; run "
            "`qp store verify`, and re-materialize the partition "
            "(an identical re-write writes a fresh record)"
        )


def _record_files(
    store: RootFS, assets: Sequence[str] | None, partitions: Iterable[str] | None
) -> tuple[list[str], list[str] | None, set[str] | None]:
    if assets is None:
        files, keys = store.glob(f"{VERSIONS_DIR}/**/*.parquet"), None
    else:
        keys = sorted({asset_path(a.split("/")) for a in assets})
        files = sorted({f for key in keys for f in store.glob(f"{VERSIONS_DIR}/{key}/*/*.parquet")})
    wanted = None
    if partitions is not None:
        wanted = set(partitions)
        files = [f for f in files if f.rsplit("/", 2)[-2] in wanted]
    return files, keys, wanted


def _unreadable(store: RootFS, files: list[str]) -> dict[str, str]:
    """``{file: reason}`` for each file that cannot be read as a version record on its own."""
    bad = {}
    for relative in files:
        try:
            pl.read_parquet(
                io.BytesIO(store.read_bytes(relative)), schema=VERSION_RECORD_SCHEMA, missing_columns="insert"
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            bad[relative] = f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return bad


def load_version_records(
    store: RootFS, assets: Sequence[str] | None = None, partitions: Iterable[str] | None = None
) -> VersionRecords:
    """:func:`read_version_records`, with each record that is unreadable or fails its checks set aside in
    ``quarantined`` instead of failing the whole read."""
    files, keys, wanted = _record_files(store, assets, partitions)
    try:
        frame = store.read_parquet(files, VERSION_RECORD_SCHEMA)
        bad: dict[str, str] = {}
    except OSError:
        bad = _unreadable(store, files)
        frame = store.read_parquet([f for f in files if f not in bad], VERSION_RECORD_SCHEMA)
    frame = frame.rename({FILE_COLUMN: RECORD_FILE})
    for row in frame.iter_rows(named=True):
        problem = record_problem({k: row[k] for k in VERSION_RECORD_SCHEMA}, row[RECORD_FILE])
        if problem:
            bad[row[RECORD_FILE]] = problem
    if bad:
        frame = frame.filter(~pl.col(RECORD_FILE).is_in(list(bad)))
    if keys is not None:
        frame = frame.filter(pl.col("asset").is_in(keys))  # a glob may also catch a deeper asset key
    if wanted is not None:
        frame = frame.filter(pl.col("partition").is_in(list(wanted)))
    folders = [f[len(VERSIONS_DIR) + 1 :].rsplit("/", 2) for f in sorted(bad)]
    quarantined = pl.DataFrame(
        {
            RECORD_FILE: sorted(bad),
            "asset": [f[0] for f in folders],
            "partition": [f[1] for f in folders],
            "reason": [bad[f] for f in sorted(bad)],
            RECORD_SEQ: [None] * len(bad),
        },
        schema=QUARANTINE_SCHEMA,
    ).with_columns(pl.col(RECORD_FILE).str.extract(_NAME_SEQ, 1).cast(pl.Int64).alias(RECORD_SEQ))
    return VersionRecords(_with_artifact_ids(frame), quarantined)


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

    A record that is unreadable or fails its checks raises ``IntegrityError`` naming it (use
    :func:`load_version_records` to serve the rest).
    """
    loaded = load_version_records(store, assets, partitions)
    if loaded.quarantined.height:
        raise IntegrityError(loaded.describe_quarantined(store))
    return loaded.records


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
