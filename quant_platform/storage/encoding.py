"""Deterministic Parquet encoding: the same frame under the same code always gives the same bytes.

The content hash is sha256 of the exact Parquet bytes on disk, so anyone can verify a file with ``sha256sum``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import polars as pl

from quant_platform.core.hashing import sha256_hex


@dataclass(frozen=True)
class EncodedFrame:
    """A frame already serialised: its Parquet bytes, their content hash, row count and schema."""

    data: bytes
    content_hash: str
    rows: int
    schema: dict[str, str]

    @property
    def schema_json(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))


def encode_frame(frame: pl.DataFrame | pl.LazyFrame) -> EncodedFrame:
    """Serialise ``frame`` to zstd Parquet (with statistics) and hash the bytes."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}")
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=True)
    data = buffer.getvalue()
    return EncodedFrame(
        data=data,
        content_hash=sha256_hex(data),
        rows=frame.height,
        schema={name: str(dtype) for name, dtype in frame.schema.items()},
    )
