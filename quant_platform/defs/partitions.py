"""Partitions shared by every layer."""

from __future__ import annotations

import dagster as dg

# Market layer: one partition per UTC day, every symbol of the universe inside the file.
# From 2000 so the real equity and FX files (2000-2017) fit; ~10k daily keys stays far below 100k.
MARKET_START_DATE = "2000-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=MARKET_START_DATE, timezone="UTC", end_offset=0)

# Research layer: one partition per RunSet id; the `qp runset create` command (or a sensor) adds them.
RUNSET_PARTITIONS_NAME = "runset"
runset_partitions = dg.DynamicPartitionsDefinition(name=RUNSET_PARTITIONS_NAME)


def lookback(days: int) -> dg.TimeWindowPartitionMapping:
    """Map a daily partition to itself plus the ``days`` days before it (a point-in-time warm-up window)."""
    if days < 0:
        raise ValueError("lookback days must be >= 0")
    return dg.TimeWindowPartitionMapping(
        start_offset=-days, end_offset=0, allow_nonexistent_upstream_partitions=True
    )
