"""A range of daily partitions computed once per block of days, with the same bytes as one day at a time.

A daily partition of a windowed table (features, context, events) is computed on a window of history before
it. If that window started exactly ``lookback`` days before each day, a backfill of D days would compute D
overlapping windows (with daily bars and a 2,457-day look-back, each day of a 2-year backfill re-read and
re-computed the whole history). If instead one window served the whole range, a day's bytes would depend on
where the backfill started: recursions (EWMA, Wilder) restart from a seed at the window's first bar and
running sums accumulate round-off from there.

So the window of a day starts at a fixed point of the calendar: the first day of the day's *block* (blocks of
``lookback`` days counted from 1970-01-01) minus the lookback. Every day of a block shares that start, so one
pass over ``[block start - lookback, last day of the block]`` yields every day of the block, and because each
computation is causal (a row depends only on rows at or before it), a day's rows are the same bytes whether
it was computed alone, with its block, or inside a longer backfill. The window is ``lookback`` to
``2 x lookback - 1`` days long, never shorter than the warm-up it must cover; a backfill of D days computes
about ``D + D x lookback / block`` days, at most twice the single pass a library call would make.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import TypeVar

import polars as pl

from quant_platform.core.timeutil import day_bounds, day_start, parse_day

EPOCH = date(1970, 1, 1)
Result = TypeVar("Result")


def block_length(lookback_days: int) -> int:
    """Days per block for a window of ``lookback_days`` days: the look-back itself (at least one day)."""
    if lookback_days < 0:
        raise ValueError(f"lookback days must be >= 0, got {lookback_days}")
    return max(lookback_days, 1)


def block_first_day(day: str | date, lookback_days: int) -> date:
    """First day of the block that holds ``day``."""
    block = block_length(lookback_days)
    offset = (parse_day(day) - EPOCH).days
    return EPOCH + timedelta(days=offset - offset % block)


def window_first_day(day: str | date, lookback_days: int) -> date:
    """First day of the window ``day`` is computed on: its block's first day minus the look-back."""
    return block_first_day(day, lookback_days) - timedelta(days=lookback_days)


def partitions_read(lookback_days: int) -> int:
    """Upstream days before a partition that its window can reach: ``lookback + block - 1`` (the
    ``TimeWindowPartitionMapping`` start offset that covers every day's anchored window)."""
    return lookback_days + block_length(lookback_days) - 1


def blocks(days: Iterable[str], lookback_days: int) -> list[list[str]]:
    """``days`` (sorted, de-duplicated) grouped by the block they fall in, in calendar order."""
    grouped: dict[date, list[str]] = {}
    for day in sorted({parse_day(d).isoformat() for d in days}):
        grouped.setdefault(block_first_day(day, lookback_days), []).append(day)
    return [grouped[k] for k in sorted(grouped)]


def _window(frame: pl.DataFrame | pl.LazyFrame, first: date, last: str) -> pl.LazyFrame:
    return frame.lazy().filter(pl.col("ts") >= day_start(first), pl.col("ts") < day_bounds(last)[1])


def only_day(frame: pl.DataFrame, day: str) -> pl.DataFrame:
    """Rows of ``frame`` whose ``ts`` falls on ``day`` (UTC)."""
    start, end = day_bounds(day)
    return frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))


def compute_by_block(
    inputs: Sequence[pl.DataFrame | pl.LazyFrame | None],
    days: Iterable[str],
    lookback_days: int,
    compute: Callable[..., Result],
    split: Callable[[Result, str], Result],
) -> dict[str, Result]:
    """``{day: split(compute(*windows), day)}`` for every day, with ``compute`` called once per block.

    ``inputs`` are the upstream frames (None passes through as None), each cut to the block's anchored window
    ``[window_first_day(first day), last day of the block]``; ``compute`` must be causal (a row depends only on
    rows at or before it), which is what makes a day's result independent of the block's other days.
    """
    out: dict[str, Result] = {}
    for block in blocks(days, lookback_days):
        first = window_first_day(block[0], lookback_days)
        windows = [None if frame is None else _window(frame, first, block[-1]) for frame in inputs]
        result = compute(*windows)
        for day in block:
            out[day] = split(result, day)
    return out
