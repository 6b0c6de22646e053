"""The registry's tiny filesystem layer: atomic whole-file writes, listing and Parquet reads under a root.

The root is a local directory or any fsspec URL (``s3://bucket/registry``); nothing else in the registry
touches paths directly. Writes go through ``storage.durable``: locally a temporary name, fsync, rename and
fsync of the directory (atomic and durable on POSIX), so a reader never sees half a file and concurrent
writers of different files never contend; object stores put whole objects, which is atomic there.
``create_exclusive`` creates a name only if it does not exist (``os.link`` locally, a conditional put with
``If-None-Match: *`` on object storage): the primitive behind RunSet names that exactly one creator wins.
"""

from __future__ import annotations

import io

import fsspec
import polars as pl

from quant_platform.storage import durable

TEMP_MARKER = durable.TEMP_MARKER
FILE_COLUMN = "fact_file"


class UnreadableFileError(OSError):
    """A stored file that exists but cannot be read as Parquet (truncated, corrupt or foreign); the message
    names the file so an operator can inspect or move it."""


class RootFS:
    """Relative-path file operations under one root."""

    def __init__(self, root: str) -> None:
        self.root = str(root)
        self._fs, base = fsspec.core.url_to_fs(self.root)
        self._base = base.rstrip("/")
        self.is_local = durable.is_local(self._fs)

    @property
    def fsspec(self) -> fsspec.AbstractFileSystem:
        return self._fs

    def abs(self, relative: str) -> str:
        if relative.startswith("/") or ".." in relative.split("/"):
            raise ValueError(f"path escapes the root: {relative!r}")
        return f"{self._base}/{relative}" if relative else self._base

    def uri(self, relative: str) -> str:
        """What polars or DuckDB can open: a local path, or the full URL on a remote filesystem."""
        absolute = self.abs(relative)
        return absolute if self.is_local else self._fs.unstrip_protocol(absolute)

    def _relative(self, absolute: str) -> str:
        return absolute[len(self._base) + 1 :] if absolute.startswith(self._base + "/") else absolute

    def put_atomic(self, relative: str, data: bytes) -> None:
        """Write ``data`` whole and durably at ``relative``; a crash mid-way leaves no visible file."""
        durable.put_atomic(self._fs, self.abs(relative), data)

    def create_exclusive(self, relative: str, data: bytes) -> bool:
        """Create ``relative`` holding ``data`` unless it exists; ``True`` if this call created it."""
        return durable.create_exclusive(self._fs, self.abs(relative), data)

    def read_bytes(self, relative: str) -> bytes:
        return self._fs.cat_file(self.abs(relative))

    def remove(self, relative: str) -> None:
        self._fs.rm_file(self.abs(relative))

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching ``pattern`` (``*``, ``**``), sorted, temporary files excluded."""
        matches = self._fs.glob(self.abs(pattern))
        return sorted(self._relative(m) for m in matches if TEMP_MARKER not in m.rsplit("/", 1)[-1])

    def read_parquet(
        self, relatives: list[str], schema: dict[str, pl.DataType], where: pl.Expr | None = None
    ) -> pl.DataFrame:
        """Concatenate Parquet files into one frame with ``schema`` plus the ``fact_file`` they came from,
        keeping only rows matching ``where`` (pushed down into the scan on a local root)."""
        try:
            return self._read_parquet(relatives, schema, where)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise self.unreadable(relatives, exc) from exc

    def unreadable(self, relatives: list[str], exc: BaseException) -> OSError:
        """The error to raise after reading ``relatives`` together failed: name the first file that cannot
        be read on its own (only this failure path opens files one by one)."""
        for relative in relatives:
            try:
                with self._fs.open(self.abs(relative), "rb") as handle:
                    pl.read_parquet(io.BytesIO(handle.read()))
            except (pl.exceptions.PolarsError, OSError) as single:
                return UnreadableFileError(f"cannot read {self.uri(relative)}: {single}")
        if isinstance(exc, OSError):
            return exc
        return UnreadableFileError(f"cannot read Parquet files under {self.root}: {exc}")

    def _read_parquet(
        self, relatives: list[str], schema: dict[str, pl.DataType], where: pl.Expr | None
    ) -> pl.DataFrame:
        if not relatives:
            frame = pl.DataFrame(schema=schema).with_columns(pl.lit(None, pl.String).alias(FILE_COLUMN))
        elif self.is_local:
            prefix_len = len(self._base) + 1
            lazy = pl.scan_parquet(
                [self.abs(r) for r in relatives],
                include_file_paths=FILE_COLUMN,
                schema=schema,
                missing_columns="insert",  # a column added later reads as null in older fact files
            ).with_columns(pl.col(FILE_COLUMN).str.slice(prefix_len))
            return (lazy if where is None else lazy.filter(where)).collect()
        else:
            frames = []
            for relative in relatives:
                with self._fs.open(self.abs(relative), "rb") as handle:
                    part = pl.read_parquet(io.BytesIO(handle.read()), schema=schema, missing_columns="insert")
                frames.append(part.with_columns(pl.lit(relative).alias(FILE_COLUMN)))
            frame = pl.concat(frames, how="vertical")
        return frame if where is None else frame.filter(where)

    def exists(self, relative: str) -> bool:
        return self._fs.exists(self.abs(relative))
