"""Split one frame into per-partition frames by time window (single-run backfills write one file each)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl


def split_by_windows(
    frame: pl.DataFrame, column: str, windows: Mapping[str, tuple[datetime, datetime]]
) -> dict[str, pl.DataFrame]:
    """Rows whose ``column`` lies in ``[start, end)`` of each window. A row in no window is an error."""
    if column not in frame.columns:
        raise ValueError(f"cannot split by partition: column {column!r} is missing (have {frame.columns})")
    parts: dict[str, pl.DataFrame] = {}
    assigned = 0
    for key, (start, end) in windows.items():
        part = frame.filter((pl.col(column) >= start) & (pl.col(column) < end))
        parts[key] = part
        assigned += part.height
    if assigned != frame.height:
        raise ValueError(
            f"{frame.height - assigned} rows of the output fall outside the partitions {sorted(windows)} "
            f"(by {column!r}); refusing to drop them"
        )
    return parts
