"""Reconciliation of stored market partitions: the checks an asset check runs on raw + clean + quarantine.

Works from what is persisted (the raw perp table, ``bars_5m`` and ``quarantined_rows`` of one day), without
re-running cleaning, so a Dagster asset check can prove ``raw = clean + quarantined`` after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from quant_platform.core.timeutil import MS_PER_DAY, MS_PER_MINUTE, day_bounds


@dataclass(frozen=True)
class ReconcileReport:
    """``problems`` is empty when every check passed; ``coverage`` is the non-gap share per symbol."""

    problems: tuple[str, ...]
    perp_raw_rows: int
    perp_clean_rows: int
    perp_quarantined_rows: int
    coverage: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile_bars(
    day: str,
    raw_perp_rows: int,
    bars: pl.DataFrame,
    quarantined: pl.DataFrame,
    *,
    interval_minutes: int = 5,
    universe: tuple[str, ...] | None = None,
) -> ReconcileReport:
    """Check one day's cleaned bars against its raw row count and quarantine.

    Checks: perp accounting (``raw == sum(n_source_bars) + quarantined perp rows``); no duplicate
    ``(symbol, ts)``; a complete grid per symbol (every slot of the day, nothing outside it; every universe
    symbol present when ``universe`` is given); gap rows have no prices and ``n_source_bars == 0``; OHLC
    invariants on the other rows.
    """
    problems: list[str] = []
    start, end = day_bounds(day)
    slots = MS_PER_DAY // (interval_minutes * MS_PER_MINUTE)
    clean_rows = int(bars["n_source_bars"].sum() or 0)
    quarantined_perp = quarantined.filter(pl.col("source_table") == "perp_bars").height
    if raw_perp_rows != clean_rows + quarantined_perp:
        problems.append(
            f"perp accounting: raw {raw_perp_rows} != clean {clean_rows} + quarantined {quarantined_perp}"
        )
    duplicates = bars.height - bars.select("symbol", "ts").n_unique()
    if duplicates:
        problems.append(f"{duplicates} duplicate (symbol, ts) rows")
    outside = bars.filter((pl.col("ts") < start) | (pl.col("ts") >= end)).height
    off_grid = bars.filter((pl.col("ts").dt.epoch("ms") % (interval_minutes * MS_PER_MINUTE)) != 0).height
    if outside or off_grid:
        problems.append(f"{outside} rows outside the day, {off_grid} rows off the {interval_minutes}m grid")
    per_symbol = bars.group_by("symbol").agg(
        pl.len().alias("rows"), (~pl.col("gap")).mean().alias("coverage")
    )
    incomplete = per_symbol.filter(pl.col("rows") != slots)
    if incomplete.height:
        problems.append(
            f"incomplete grid (expected {slots} rows) for {sorted(incomplete['symbol'].to_list())}"
        )
    if universe is not None:
        absent = sorted(set(universe) - set(per_symbol["symbol"].to_list()))
        if absent:
            problems.append(f"universe symbols without rows: {absent}")
    bad_gaps = bars.filter(
        pl.col("gap") & (pl.col("close").is_not_null() | (pl.col("n_source_bars") != 0))
    ).height
    fake_gaps = bars.filter(
        ~pl.col("gap") & (pl.col("close").is_null() | (pl.col("n_source_bars") == 0))
    ).height
    if bad_gaps or fake_gaps:
        problems.append(f"{bad_gaps} gap rows with data, {fake_gaps} non-gap rows without")
    ohlc = (pl.col("high") >= pl.max_horizontal("open", "close", "low")) & (
        pl.col("low") <= pl.min_horizontal("open", "close", "high")
    )
    broken = bars.filter(~pl.col("gap") & ~ohlc.fill_null(False)).height
    if broken:
        problems.append(f"{broken} bars violate OHLC invariants")
    coverage = dict(zip(per_symbol["symbol"].to_list(), per_symbol["coverage"].to_list(), strict=True))
    return ReconcileReport(
        problems=tuple(problems),
        perp_raw_rows=raw_perp_rows,
        perp_clean_rows=clean_rows,
        perp_quarantined_rows=quarantined_perp,
        coverage=dict(sorted(coverage.items())),
    )
