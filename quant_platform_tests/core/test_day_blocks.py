"""Blocks of days: a range computed once per block gives each day the bytes it has when computed alone.

Truth: the per-day functions (``compute_features_for_day`` and friends) run one day at a time are the
reference; the property is exact equality (``DataFrame.equals``), i.e. a single-run backfill's bytes do
not depend on how its range was batched. The block arithmetic is checked as properties with hypothesis.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from quant_platform.core.day_blocks import (
    block_first_day,
    blocks,
    partitions_read,
    window_first_day,
)
from quant_platform.events.detect import detect_events_for_day, detect_events_for_days
from quant_platform.features import compute_features_for_day, lookback_days
from quant_platform.features.compute import compute_features_for_days
from quant_platform.features.context import compute_context_for_day, compute_context_for_days
from quant_platform_tests.features.bars_fixture import make_bars


@given(
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 1, 1)),
    lookback=st.integers(min_value=0, max_value=3000),
)
def test_window_covers_the_lookback_and_stays_inside_the_mapping(day: date, lookback: int) -> None:
    first = window_first_day(day, lookback)
    # never shorter than the look-back, never beyond what the partition mapping loads
    assert first <= day - timedelta(days=lookback)
    assert first >= day - timedelta(days=partitions_read(lookback))
    # every day of the block shares the window's first day
    block = block_first_day(day, lookback)
    assert block <= day < block + timedelta(days=max(lookback, 1))
    assert window_first_day(block, lookback) == first


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    n=st.integers(min_value=1, max_value=60),
    lookback=st.integers(min_value=0, max_value=20),
)
def test_blocks_partition_the_days_in_order(start: date, n: int, lookback: int) -> None:
    days = [(start + timedelta(days=i)).isoformat() for i in range(n)]
    grouped = blocks(reversed(days), lookback)
    assert [d for block in grouped for d in block] == days
    starts = [window_first_day(block[0], lookback) for block in grouped]
    assert starts == sorted(set(starts))
    assert all(window_first_day(d, lookback) == window_first_day(b[0], lookback) for b in grouped for d in b)


def _range_around_a_block_boundary(bars: pl.DataFrame, lookback: int) -> list[str]:
    """Four days of the bars' last stretch that straddle a block boundary (two blocks)."""
    last = bars["ts"].max().date()
    day = last
    while block_first_day(day, lookback) != day:
        day -= timedelta(days=1)
    assert day - timedelta(days=2) > bars["ts"].min().date() + timedelta(days=lookback)
    return [(day + timedelta(days=i)).isoformat() for i in (-2, -1, 0, 1) if day + timedelta(days=i) <= last]


def test_a_range_computed_by_block_equals_each_day_alone() -> None:
    """features_v1, context_features and events/flags of a 4-day range spanning two blocks, computed once per
    block, equal the same days computed one at a time, to the byte (the per-day results of a single-run
    backfill therefore never depend on its batching)."""
    k = lookback_days()
    bars = make_bars(
        n_symbols=2, n_bars=288 * (3 * k + 2), seed=11, gap_prob=0.0, start=datetime(2024, 1, 1, tzinfo=UTC)
    )
    days = _range_around_a_block_boundary(bars, k)
    assert len(blocks(days, k)) == 2
    features_by_day = compute_features_for_days(bars, days)
    for day in days:
        alone = compute_features_for_day(bars, day)
        assert alone.height == 2 * 288 and not alone["warmup"].all()
        assert features_by_day[day].equals(alone), day
    # context and events read features of the whole stretch (as the stored features_v1 partitions)
    features = pl.concat(
        compute_features_for_days(bars, sorted({d.date().isoformat() for d in bars["ts"]})).values()
    )
    context_by_day = compute_context_for_days(features, days)
    for day in days:
        assert context_by_day[day].equals(compute_context_for_day(features, day)), day
    context = pl.concat(context_by_day.values())
    events_by_day = detect_events_for_days(features, context, days)
    for day in days:
        events, flags = detect_events_for_day(features, context, day)
        assert events_by_day[day][0].equals(events) and events_by_day[day][1].equals(flags), day
    assert sum(e.height for e, _ in events_by_day.values()) > 0
