"""The RunSet resolver: from a declarative selection to the exact artifact versions to read.

It only points. It lists, for each asset of the RunSet's dataset and each UTC day of its window, the current
version (content hash and path) as of the resolution time, and records a never-materialized partition as a
row with a null hash rather than dropping it. It never opens, filters or alters the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from quant_platform.core.hashing import canonical_hash
from quant_platform.core.timeutil import TS_DTYPE, day_range
from quant_platform.registry.versions import current_versions

# Bump when the mapping from (spec, records) to artifacts changes; it is part of every resolution hash.
RESOLVER_VERSION = "1"

ARTIFACT_SCHEMA: dict[str, pl.DataType] = {
    "asset": pl.String(),
    "partition": pl.String(),
    "content_hash": pl.String(),
    "path": pl.String(),
    "version_written_at": TS_DTYPE,
}


def resolve_artifacts(
    records: pl.DataFrame, assets: tuple[str, ...], start: date, end: date, as_of_ns: int
) -> pl.DataFrame:
    """One row per (asset, day) in the window, with the version current at ``as_of_ns`` (null if none)."""
    wanted = pl.DataFrame({"asset": list(assets)}).join(
        pl.DataFrame({"partition": day_range(start, end)}), how="cross"
    )
    latest = current_versions(records, as_of_ns).select(
        "asset", "partition", "content_hash", "path", pl.col("written_at").alias("version_written_at")
    )
    resolved = wanted.join(latest, on=["asset", "partition"], how="left")
    return resolved.select([pl.col(n).cast(t) for n, t in ARTIFACT_SCHEMA.items()]).sort("asset", "partition")


def resolution_hash(runset_id: str, start: date, end: date, artifacts: pl.DataFrame) -> str:
    """Identifies *what was resolved* (not when): the same versions give the same hash."""
    rows = artifacts.sort("asset", "partition").select("asset", "partition", "content_hash").rows()
    return canonical_hash(
        {
            "artifacts": [list(r) for r in rows],
            "range": [start, end],
            "resolver_version": RESOLVER_VERSION,
            "runset_id": runset_id,
        }
    )


@dataclass(frozen=True)
class Resolution:
    """The exact inputs of a RunSet. ``mode`` is ``reproducible`` when pinned (frozen), else ``exploratory``:
    the same word ``qp runset list/get`` shows for the RunSet (``RunSetInfo.mode``)."""

    runset_name: str
    runset_id: str
    resolution_hash: str
    resolver_version: str
    resolved_at: datetime
    as_of: datetime
    range_start: date
    range_end: date
    frozen: bool
    symbols: tuple[str, ...]
    templates: tuple[str, ...]
    strategies: tuple[str, ...]
    artifacts: pl.DataFrame  # ARTIFACT_SCHEMA, one row per (asset, day)
    historical: bool = False  # resolved against an explicit past instant; never a RunSet's latest

    @property
    def mode(self) -> str:
        return "reproducible" if self.frozen else "exploratory"

    @property
    def missing(self) -> pl.DataFrame:
        return self.artifacts.filter(pl.col("content_hash").is_null())

    @property
    def complete(self) -> bool:
        return self.missing.height == 0

    def partitions(self, asset: str) -> dict[str, str | None]:
        """``{day: content_hash}`` of one asset (``None`` for a never-materialized day)."""
        rows = self.artifacts.filter(pl.col("asset") == asset)
        if rows.height == 0:
            raise KeyError(f"asset {asset!r} is not part of RunSet {self.runset_name!r}")
        return dict(zip(rows["partition"], rows["content_hash"], strict=True))

    def paths(self, asset: str) -> list[str]:
        """Store-relative paths of the resolved versions of ``asset``; refuses if any day is missing."""
        rows = self.artifacts.filter(pl.col("asset") == asset)
        if rows.height == 0:
            raise KeyError(f"asset {asset!r} is not part of RunSet {self.runset_name!r}")
        absent = rows.filter(pl.col("path").is_null())["partition"].to_list()
        if absent:
            raise LookupError(f"RunSet {self.runset_name!r}: {asset} never materialized for {absent}")
        return rows["path"].to_list()

    def metadata(self) -> dict[str, str]:
        """What every research output attaches to its materialization."""
        return {
            "runset_id": self.runset_id,
            "runset_name": self.runset_name,
            "resolution_hash": self.resolution_hash,
            "mode": self.mode,
        }
