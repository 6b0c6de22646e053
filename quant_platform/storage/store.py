"""The content-addressed, append-only Parquet store (Dagster-free; the IO manager in ``defs/`` wraps it).

Layout under a root (a local path or any fsspec URL)::

    <root>/<asset>/<partition>/<sha256>.parquet              the data, named by the sha256 of its bytes
    <root>/_versions/<asset>/<partition>/<seq>-<sha256>.parquet   one append-only record per write
    <root>/_versions/<asset>/<partition>/<seq>.seq                the claim that reserved <seq>

Durability
    Every file is written whole and durably (``storage.durable``: temporary name, fsync, rename, fsync of
    the directory; one PUT on object storage), and the data file is durable before its version record is
    written. A data file only becomes *current* once its record exists, so a crash at any point leaves the
    previous version current; its leftovers (``.tmp-`` files, an unrecorded data file) are removed by
    ``qp store gc`` (``storage.maintenance``).

Ordering without clocks
    The current version of a partition is its record with the highest sequence number ``<seq>``. A writer
    takes ``seq = max(its clock in ns, highest seq in the partition + 1)`` and reserves it by creating
    ``<seq>.seq`` exclusively (``O_EXCL``-style link locally, a conditional put with ``If-None-Match: *`` on
    object storage); a writer that loses the race re-lists and takes the next one. A write therefore
    always becomes current over every record it could see, however far behind its clock is, and no two
    writes share a sequence (object-store listings are strongly consistent after a write, as S3's are,
    so a writer sees every claim made before it lists). A write is ordered by its claim: one that claimed
    earlier but records later is an older version. The sequence stays close to real time while clocks
    agree, which is what historical (``as_of``) RunSet resolutions compare it with; the writer's own clock
    is kept as ``written_at`` (provenance only).

Integrity
    Every read checks each data file against the sha256 it is named by and each version record against
    its checksum and name (``storage.integrity``); a mismatch raises ``IntegrityError`` naming the file.
    Re-writing identical content repairs a corrupt or missing data file (and writes a fresh record if the
    current one is corrupt); ``qp store verify [--repair]`` checks every file.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import fsspec
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.storage import durable
from quant_platform.storage.encoding import EncodedFrame, encode_frame
from quant_platform.storage.integrity import (
    IntegrityError,
    check_bytes,
    check_local_files,
    record_checksum,
    record_problem,
)
from quant_platform.storage.keys import asset_path, content_hash_of_path, validate_key_segment

VERSIONS_DIR = "_versions"
CLAIM_SUFFIX = ".seq"
RECORD_NAME = re.compile(r"(\d{1,20})-([0-9a-f]{64})\.parquet")
_SEQ_PREFIX = re.compile(r"(\d{1,20})[-.]")  # records, claims and in-flight temp files all start with <seq>
_MAX_CLAIM_ATTEMPTS = 1000

VERSION_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "asset": pl.String(),
    "partition": pl.String(),
    "content_hash": pl.String(),
    "path": pl.String(),
    "rows": pl.Int64(),
    "n_bytes": pl.Int64(),
    "schema_json": pl.String(),
    "written_at": TS_DTYPE,
    "dagster_run_id": pl.String(),
    "lineage_json": pl.String(),
    # The deterministic id of the run that produced this version (the registry's artifact ids use it);
    # null in records written before the column existed or by a writer that gave none.
    "run_id": pl.String(),
    # sha256 of the canonical JSON of the fields above (storage.integrity.record_checksum); null in records
    # written before the column existed.
    "record_checksum": pl.String(),
}


@dataclass(frozen=True)
class VersionRecord:
    """One write of one partition of one asset. ``path`` is relative to the store root."""

    asset: str
    partition: str
    content_hash: str
    path: str
    rows: int
    n_bytes: int
    schema_json: str
    written_at: datetime
    dagster_run_id: str | None
    lineage_json: str
    run_id: str | None = None
    record_checksum: str | None = None

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame([asdict(self)], schema=VERSION_RECORD_SCHEMA)


@dataclass(frozen=True)
class WriteResult:
    record: VersionRecord
    created: bool  # False when the content was already the current version (no new version)
    # True when this write replaced a corrupt or missing data file, or a corrupt current record, with the
    # identical content it was written with.
    repaired: bool = False


def record_sequence(name: str) -> int | None:
    """The sequence number of a record file name (``<seq>-<sha256>.parquet``), else ``None``."""
    match = RECORD_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


class ParquetStore:
    """Immutable versioned Parquet under ``root`` (a local directory or an fsspec URL such as ``s3://b/p``).

    ``clock`` (ns) stamps ``written_at`` and is the lower bound of a new record's sequence (see module
    docstring); it never decides which version is current."""

    def __init__(self, root: str, clock: Callable[[], int] = time.time_ns) -> None:
        self._fs, self._root = fsspec.core.url_to_fs(root)
        self._clock = clock
        self.root = root

    # ---- paths -------------------------------------------------------------------------------------------
    def _abs(self, relative: str) -> str:
        return f"{self._root.rstrip('/')}/{relative}"

    def data_path(self, asset: Sequence[str] | str, partition: str, content_hash: str) -> str:
        validate_key_segment(partition, "partition key")
        validate_key_segment(content_hash, "content hash")
        return f"{asset_path(asset)}/{partition}/{content_hash}.parquet"

    def _records_dir(self, asset: Sequence[str] | str, partition: str) -> str:
        return f"{VERSIONS_DIR}/{asset_path(asset)}/{validate_key_segment(partition, 'partition key')}"

    def uri(self, relative: str) -> str:
        """A full URL/path for a relative store path (what polars or DuckDB can read)."""
        absolute = self._abs(relative)
        return absolute if self._is_local else self._fs.unstrip_protocol(absolute)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs

    @property
    def _is_local(self) -> bool:
        return durable.is_local(self._fs)

    # ---- writing -----------------------------------------------------------------------------------------
    def _put_atomic(self, relative: str, data: bytes) -> None:
        durable.put_atomic(self._fs, self._abs(relative), data)

    def _ensure_data_file(self, relative: str, data: bytes) -> str:
        """Make ``relative`` hold exactly ``data``: ``"present"`` (it did), ``"written"`` (it was absent) or
        ``"repaired"`` (it held other bytes: corruption under a content-addressed name)."""
        absolute = self._abs(relative)
        if not self._fs.exists(absolute):
            self._put_atomic(relative, data)
            return "written"
        if self._fs.cat_file(absolute) == data:
            return "present"
        self._put_atomic(relative, data)
        return "repaired"

    def _allocate_sequence(self, records_dir: str, content_hash: str) -> int:
        """Reserve the next sequence number of a partition (see module docstring) by exclusive creation."""
        directory = self._abs(records_dir)
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            candidate = max(self._clock(), self._top_sequence(directory) + 1)
            claim = f"{directory}/{candidate:020d}{CLAIM_SUFFIX}"
            # Not fsynced: a claim lost in a power cut reserved nothing that was recorded, and the record's
            # own directory fsync (same folder) makes the claim durable with it.
            if durable.create_exclusive(self._fs, claim, content_hash.encode(), sync=False):
                return candidate
        raise RuntimeError(
            f"could not reserve a version sequence under {directory} in {_MAX_CLAIM_ATTEMPTS} tries"
        )

    def _top_sequence(self, directory: str) -> int:
        if not self._fs.exists(directory):
            return 0
        found = (_SEQ_PREFIX.match(p.rsplit("/", 1)[-1]) for p in self._fs.ls(directory, detail=False))
        return max((int(m.group(1)) for m in found if m), default=0)

    def write(
        self,
        asset: Sequence[str] | str,
        partition: str,
        frame: pl.DataFrame | pl.LazyFrame | EncodedFrame,
        *,
        dagster_run_id: str | None = None,
        lineage: dict | list | None = None,
        run_id: str | None = None,
    ) -> WriteResult:
        """Write one partition. Identical content to the current version adds no version (but repairs a
        corrupt or missing data file, or a corrupt current record).

        ``dagster_run_id`` records which Dagster run wrote it (provenance); ``run_id`` is the deterministic
        id of the producing run that artifact ids are built from (same inputs and code ⇒ same id)."""
        encoded = frame if isinstance(frame, EncodedFrame) else encode_frame(frame)
        key = asset_path(asset)
        relative = self.data_path(asset, partition, encoded.content_hash)
        data_state = self._ensure_data_file(relative, encoded.data)  # durable before any record names it
        repaired = data_state == "repaired"
        records_dir = self._records_dir(asset, partition)
        names = self._record_names(asset, partition)
        current_hash = RECORD_NAME.fullmatch(names[-1]).group(2) if names else None
        if current_hash == encoded.content_hash:
            try:
                return WriteResult(self._read_record(f"{records_dir}/{names[-1]}"), False, repaired)
            except IntegrityError:
                repaired = True  # the current record is corrupt: a fresh one for the same content repairs it
        sequence = self._allocate_sequence(records_dir, encoded.content_hash)
        now_ns = self._clock()
        fields = VersionRecord(
            asset=key,
            partition=partition,
            content_hash=encoded.content_hash,
            path=relative,
            rows=encoded.rows,
            n_bytes=len(encoded.data),
            schema_json=encoded.schema_json,
            written_at=datetime.fromtimestamp(now_ns // 1_000_000 / 1000, tz=UTC),
            dagster_run_id=dagster_run_id,
            lineage_json=json.dumps(
                lineage if lineage is not None else [], sort_keys=True, separators=(",", ":")
            ),
            run_id=run_id,
        )
        # The checksum covers the values exactly as a reader decodes them (timestamps at ms precision).
        stored = fields.to_frame().row(0, named=True)
        record = VersionRecord(**{**stored, "record_checksum": record_checksum(stored)})
        record_name = f"{sequence:020d}-{encoded.content_hash}.parquet"
        self._put_atomic(f"{records_dir}/{record_name}", encode_frame(record.to_frame()).data)
        return WriteResult(record, created=current_hash != encoded.content_hash, repaired=repaired)

    # ---- reading -----------------------------------------------------------------------------------------
    def _record_names(self, asset: Sequence[str] | str, partition: str) -> list[str]:
        """Record file names of one partition, oldest first (by sequence; claims and temp files excluded)."""
        directory = self._abs(self._records_dir(asset, partition))
        if not self._fs.exists(directory):
            return []
        names = (p.rsplit("/", 1)[-1] for p in self._fs.ls(directory, detail=False))
        return sorted((n for n in names if RECORD_NAME.fullmatch(n)), key=lambda n: (record_sequence(n), n))

    def current_hash(self, asset: Sequence[str] | str, partition: str) -> str | None:
        """Content hash of the current version, from the newest record's name alone (no file read)."""
        names = self._record_names(asset, partition)
        return RECORD_NAME.fullmatch(names[-1]).group(2) if names else None

    def _read_record(self, relative: str) -> VersionRecord:
        """One version record, checked against its checksum and its own name (``IntegrityError`` if not)."""
        try:
            frame = self._read_bytes_frame(relative)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise IntegrityError(f"version record {self.uri(relative)} cannot be read: {exc}") from exc
        if frame.height != 1:
            raise IntegrityError(f"version record {self.uri(relative)} has {frame.height} rows, expected 1")
        row = frame.row(0, named=True)
        fields = {k: row.get(k) for k in VERSION_RECORD_SCHEMA}  # older records lack newer columns
        problem = record_problem(fields, relative)
        if problem:
            raise IntegrityError(f"version record {self.uri(relative)} is corrupt: {problem}")
        return VersionRecord(**fields)

    def history(self, asset: Sequence[str] | str, partition: str) -> pl.DataFrame:
        """Every version record of one partition, oldest first."""
        directory = self._records_dir(asset, partition)
        records = [self._read_record(f"{directory}/{n}") for n in self._record_names(asset, partition)]
        return pl.DataFrame([asdict(r) for r in records], schema=VERSION_RECORD_SCHEMA)

    def current(self, asset: Sequence[str] | str, partition: str) -> VersionRecord | None:
        names = self._record_names(asset, partition)
        if not names:
            return None
        return self._read_record(f"{self._records_dir(asset, partition)}/{names[-1]}")

    def _read_bytes_frame(self, relative: str) -> pl.DataFrame:
        with self._fs.open(self._abs(relative), "rb") as handle:
            return pl.read_parquet(handle.read())

    def partitions(self, asset: Sequence[str] | str) -> list[str]:
        """Partitions of ``asset`` that have at least one version, sorted."""
        directory = self._abs(f"{VERSIONS_DIR}/{asset_path(asset)}")
        if not self._fs.exists(directory):
            return []
        return sorted(p.rsplit("/", 1)[-1] for p in self._fs.ls(directory, detail=False))

    def scan(
        self,
        asset: Sequence[str] | str,
        partitions: Iterable[str],
        *,
        allow_missing: bool = False,
        partition_column: str | None = None,
    ) -> tuple[pl.LazyFrame, list[dict]]:
        """The current versions of ``partitions`` as one LazyFrame, plus the exact versions read (lineage).

        Every file is checked against its content hash first (``IntegrityError`` if it differs). A partition
        never written raises ``LookupError`` unless ``allow_missing`` (then it is reported in the returned
        lineage with ``content_hash=None``, never silently skipped). ``partition_column`` adds the partition
        key each row was stored under (rows of a raw table may carry timestamps of another day).
        """
        sources, lineage = [], []
        key = asset_path(asset)
        for partition in partitions:
            content_hash = self.current_hash(asset, partition)
            lineage.append({"asset": key, "partition": partition, "content_hash": content_hash})
            if content_hash is None:
                if not allow_missing:
                    raise LookupError(f"{key} partition {partition!r} has never been materialized")
                continue
            sources.append(self.data_path(asset, partition, content_hash))
        if not sources:
            raise LookupError(
                f"{key}: none of the requested partitions has been materialized: {[x['partition'] for x in lineage]}"
            )
        if partition_column is None:
            return self._verified_scan(sources), lineage
        present = [x["partition"] for x in lineage if x["content_hash"] is not None]
        scans = self._verified_scans(sources)
        tagged = [
            s.with_columns(pl.lit(p).alias(partition_column)) for s, p in zip(scans, present, strict=True)
        ]
        return pl.concat(tagged, how="vertical"), lineage

    def scan_paths(self, relative_paths: Sequence[str]) -> pl.LazyFrame:
        """Exact stored files (paths relative to the root, e.g. a RunSet resolution's) as one LazyFrame.

        Each path must have the store's data layout (``<asset>/<partition>/<sha256>.parquet``, no ``..``,
        nothing absolute), so a tampered record or resolution cannot read outside the root; each file is
        checked against the sha256 it is named by."""
        if not relative_paths:
            raise LookupError("no stored files to read")
        return self._verified_scan(list(relative_paths))

    def _verified_scans(self, relatives: list[str]) -> list[pl.LazyFrame]:
        """One LazyFrame per file, each file checked against its name's sha256 before anything is read."""
        expected = [content_hash_of_path(r) for r in relatives]  # validates the layout first
        if self._is_local:
            paths = [self._abs(r) for r in relatives]
            check_local_files(paths, expected)
            return [pl.scan_parquet(p) for p in paths]
        frames = []
        for relative, content_hash in zip(relatives, expected, strict=True):
            try:
                data = self._fs.cat_file(self._abs(relative))
            except FileNotFoundError:
                raise IntegrityError(f"data file {self.uri(relative)} is missing") from None
            check_bytes(data, content_hash, self.uri(relative))
            frames.append(pl.read_parquet(io.BytesIO(data)).lazy())
        return frames

    def _verified_scan(self, relatives: list[str]) -> pl.LazyFrame:
        if self._is_local:
            expected = [content_hash_of_path(r) for r in relatives]
            paths = [self._abs(r) for r in relatives]
            check_local_files(paths, expected)
            return pl.scan_parquet(paths)  # one scan: polars plans projection and predicates across files
        return pl.concat(self._verified_scans(relatives), how="vertical")

    def read_version(self, asset: Sequence[str] | str, partition: str, content_hash: str) -> pl.DataFrame:
        """Any version ever written (current or not), by its content hash (checked against the file)."""
        return self._verified_scan([self.data_path(asset, partition, content_hash)]).collect()
