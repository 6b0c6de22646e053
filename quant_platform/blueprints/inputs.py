"""The bars, events and states a blueprint's RunSet resolution points at (what ``qp blueprint check`` replays).

The blueprint's lineage names its RunSet and the exact resolution (hash) the research chain read, so the
parity check reads those very versions — never a newer resolution."""

from __future__ import annotations

from typing import Any

import polars as pl

from quant_platform.discovery.config import load_discovery_spec
from quant_platform.storage import ParquetStore


def lineage_inputs(
    library: Any, store_root: str, lineage: dict[str, Any]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(bars_5m, market_events, features_v1 state columns)`` of the lineage's resolution, for its symbol."""
    resolution = library.resolution(lineage["runset_name"], lineage["resolution_hash"])
    if resolution.runset_id != lineage["runset_id"]:
        raise ValueError(
            f"RunSet {lineage['runset_name']!r} is {resolution.runset_id[:12]}, the blueprint's {lineage['runset_id'][:12]}"
        )
    store = ParquetStore(store_root)
    columns = ["symbol", "ts", *load_discovery_spec().conditioning_columns]

    def read(asset: str, select: list[str] | None = None) -> pl.DataFrame:
        paths = resolution.paths(asset)
        if not paths:
            raise LookupError(f"the resolution {lineage['resolution_hash'][:12]} holds no {asset}")
        scan = store.scan_paths(paths)
        if select:
            scan = scan.select(select)
        return scan.filter(pl.col("symbol") == lineage["symbol"]).collect()

    return read("bars_5m"), read("market_events"), read("features_v1", columns)
