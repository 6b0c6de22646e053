"""The append-only fact log: one small Parquet file per write, validated by the fact type's pandera schema.

Layout: ``<root>/facts/<fact_type>/<yyyy-mm-dd>/<written_at_ns>-<hash12>.parquet`` where ``hash12`` is the
start of the sha256 of the file's bytes. Writers never touch each other's files, so any number of processes
append concurrently without locks. Readers order facts by ``fact_seq`` (the nanosecond stamp in the file
name, then the file name), which is the order every "earliest wins" / "latest wins" rule uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl

from quant_platform.core.hashing import sha256_hex
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.registry.columns import FACT_SCHEMAS
from quant_platform.registry.fs import FILE_COLUMN, RootFS
from quant_platform.storage import encode_frame

FACTS_DIR = "facts"
SEQ_COLUMN = "fact_seq"
_NAME_SEQ = r"(\d{1,20})-[0-9a-f]+\.parquet$"


def with_fact_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``fact_seq`` (the write's nanosecond stamp, from the file name) and sort by it, then file name."""
    seq = pl.col(FILE_COLUMN).str.extract(_NAME_SEQ, 1).cast(pl.Int64).alias(SEQ_COLUMN)
    return frame.with_columns(seq).sort([SEQ_COLUMN, FILE_COLUMN], maintain_order=True)


class FactLog:
    """Append and read registry facts under ``fs``."""

    def __init__(self, fs: RootFS, clock: Callable[[], int] = time.time_ns) -> None:
        self.fs = fs
        self._clock = clock
        self._last_ns = 0
        self._lock = threading.Lock()

    def _next_ns(self) -> int:
        # Strictly increasing within a process, so one writer's facts keep their order.
        with self._lock:
            self._last_ns = max(self._clock(), self._last_ns + 1)
            return self._last_ns

    @staticmethod
    def _check_type(fact_type: str) -> None:
        if fact_type not in FACT_SCHEMAS:
            raise ValueError(f"unknown fact type {fact_type!r}; known: {sorted(FACT_SCHEMAS)}")

    def append(self, fact_type: str, frame: pl.DataFrame) -> str:
        """Validate ``frame`` (without ``written_at``; it is stamped here) and write it as one fact file."""
        self._check_type(fact_type)
        if frame.height == 0:
            raise ValueError(f"refusing to write an empty {fact_type} fact")
        schema = FACT_SCHEMAS[fact_type]
        expected = set(schema) - {"written_at"}
        if set(frame.columns) != expected:
            raise ValueError(
                f"{fact_type} fact columns {sorted(frame.columns)} differ from the schema's {sorted(expected)}"
            )
        ns = self._next_ns()
        stamp = datetime.fromtimestamp(ns // 1_000_000 / 1000, tz=UTC)
        fact = frame.with_columns(pl.lit(stamp).cast(TS_DTYPE).alias("written_at")).select(
            [pl.col(name).cast(dtype) for name, dtype in schema.items()]
        )
        from quant_platform.registry.schemas import FACT_MODELS  # pandera is slow to import; writes only

        FACT_MODELS[fact_type].validate(fact)
        data = encode_frame(fact).data
        day = datetime.fromtimestamp(ns / 1e9, tz=UTC).date().isoformat()
        relative = f"{FACTS_DIR}/{fact_type}/{day}/{ns:020d}-{sha256_hex(data)[:12]}.parquet"
        self.fs.put_atomic(relative, data)
        return relative

    def files(self, fact_type: str) -> list[str]:
        self._check_type(fact_type)
        return self.fs.glob(f"{FACTS_DIR}/{fact_type}/*/*.parquet")

    def read(self, fact_type: str, where: pl.Expr | None = None) -> pl.DataFrame:
        """Facts of ``fact_type`` (those matching ``where``) in write order, with ``fact_file``/``fact_seq``."""
        self._check_type(fact_type)
        frame = self.fs.read_parquet(self.files(fact_type), FACT_SCHEMAS[fact_type], where)
        return with_fact_order(frame)
