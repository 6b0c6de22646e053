"""The content-addressed, append-only Parquet store (Dagster-free; the IO manager in ``defs/`` wraps it).

Writes go to a temporary name and are renamed into place, so a write that fails half-way leaves nothing
visible; on object stores (no rename) the object is put whole, which is atomic there. A data file only
becomes *current* once its version record exists, and the record is written last.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import fsspec
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.storage.encoding import EncodedFrame, encode_frame
from quant_platform.storage.keys import asset_path, validate_key_segment

VERSIONS_DIR = "_versions"
# URL schemes polars reads natively (object_store); any other fsspec protocol is read through fsspec.
POLARS_NATIVE_PROTOCOLS = frozenset(
    {"file", "local", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "http", "https"}
)

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

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame([asdict(self)], schema=VERSION_RECORD_SCHEMA)


@dataclass(frozen=True)
class WriteResult:
    record: VersionRecord
    created: bool  # False when the content was already the current version (nothing written)


class ParquetStore:
    """Immutable versioned Parquet under ``root`` (a local directory or an fsspec URL such as ``s3://b/p``)."""

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
    def _is_local(self) -> bool:
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        return "file" in protocols

    # ---- writing -----------------------------------------------------------------------------------------
    def _put_atomic(self, relative: str, data: bytes) -> None:
        final = self._abs(relative)
        self._fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if self._is_local:
            temp = f"{final}.tmp-{uuid.uuid4().hex}"
            try:
                with self._fs.open(temp, "wb") as handle:
                    handle.write(data)
                self._fs.mv(temp, final)
            finally:
                if self._fs.exists(temp):
                    self._fs.rm(temp)
        else:
            self._fs.pipe_file(final, data)

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
        """Write one partition. Identical content to the current version writes nothing.

        ``dagster_run_id`` records which Dagster run wrote it (provenance); ``run_id`` is the deterministic
        id of the producing run that artifact ids are built from (same inputs and code ⇒ same id)."""
        encoded = frame if isinstance(frame, EncodedFrame) else encode_frame(frame)
        key = asset_path(asset)
        current = self.current(asset, partition)
        if current is not None and current.content_hash == encoded.content_hash:
            return WriteResult(current, created=False)
        relative = self.data_path(asset, partition, encoded.content_hash)
        if not self._fs.exists(self._abs(relative)):  # an older version may hold these exact bytes already
            self._put_atomic(relative, encoded.data)
        now_ns = self._clock()
        record = VersionRecord(
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
        record_name = f"{now_ns:020d}-{encoded.content_hash}.parquet"
        self._put_atomic(
            f"{self._records_dir(asset, partition)}/{record_name}", encode_frame(record.to_frame()).data
        )
        return WriteResult(record, created=True)

    # ---- reading -----------------------------------------------------------------------------------------
    def _record_names(self, asset: Sequence[str] | str, partition: str) -> list[str]:
        directory = self._abs(self._records_dir(asset, partition))
        if not self._fs.exists(directory):
            return []
        names = [p.rsplit("/", 1)[-1] for p in self._fs.ls(directory, detail=False)]
        return sorted(n for n in names if n.endswith(".parquet") and ".tmp-" not in n)

    def current_hash(self, asset: Sequence[str] | str, partition: str) -> str | None:
        """Content hash of the current version, from the newest record's name alone (no file read)."""
        names = self._record_names(asset, partition)
        return names[-1].split("-", 1)[1].removesuffix(".parquet") if names else None

    def history(self, asset: Sequence[str] | str, partition: str) -> pl.DataFrame:
        """Every version record of one partition, oldest first."""
        names = self._record_names(asset, partition)
        directory = self._records_dir(asset, partition)
        frames = [self._read_bytes_frame(f"{directory}/{n}") for n in names]
        if not frames:
            return pl.DataFrame(schema=VERSION_RECORD_SCHEMA)
        # Older records lack newer columns: they read as null there, in the current column order.
        merged = pl.concat(frames, how="diagonal_relaxed")
        return merged.select(
            (pl.col(n) if n in merged.columns else pl.lit(None)).cast(t).alias(n)
            for n, t in VERSION_RECORD_SCHEMA.items()
        )

    def current(self, asset: Sequence[str] | str, partition: str) -> VersionRecord | None:
        names = self._record_names(asset, partition)
        if not names:
            return None
        row = self._read_bytes_frame(f"{self._records_dir(asset, partition)}/{names[-1]}").row(0, named=True)
        return VersionRecord(**{k: row.get(k) for k in VERSION_RECORD_SCHEMA})  # older records lack run_id

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

        A partition never written raises ``LookupError`` unless ``allow_missing`` (then it is reported in the
        returned lineage with ``content_hash=None``, never silently skipped). ``partition_column`` adds the
        partition key each row was stored under (rows of a raw table may carry timestamps of another day).
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
            sources.append(self.uri(self.data_path(asset, partition, content_hash)))
        if not sources:
            raise LookupError(
                f"{key}: none of the requested partitions has been materialized: {[x['partition'] for x in lineage]}"
            )
        if partition_column is None:
            return self._scan_uris(sources), lineage
        present = [x["partition"] for x in lineage if x["content_hash"] is not None]
        tagged = [
            self._scan_uris([src]).with_columns(pl.lit(part).alias(partition_column))
            for src, part in zip(sources, present, strict=True)
        ]
        return pl.concat(tagged, how="vertical"), lineage

    def scan_paths(self, relative_paths: Sequence[str]) -> pl.LazyFrame:
        """Exact stored files (paths relative to the root, e.g. a RunSet resolution's) as one LazyFrame."""
        if not relative_paths:
            raise LookupError("no stored files to read")
        return self._scan_uris([self.uri(p) for p in relative_paths])

    def _scan_uris(self, uris: list[str]) -> pl.LazyFrame:
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        if POLARS_NATIVE_PROTOCOLS.intersection(protocols):
            return pl.scan_parquet(uris)
        # e.g. memory:// or a custom fsspec filesystem: polars cannot open these, fsspec can.
        frames = []
        for uri in uris:
            with self._fs.open(uri, "rb") as handle:
                frames.append(pl.read_parquet(handle.read()))
        return pl.concat(frames, how="vertical").lazy()

    def read_version(self, asset: Sequence[str] | str, partition: str, content_hash: str) -> pl.DataFrame:
        """Any version ever written (current or not), by its content hash."""
        return self._read_bytes_frame(self.data_path(asset, partition, content_hash))
