"""Row order of the input: bars already in (symbol, ts) order skip the sorts, any other order is sorted first,
and both give the same features."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.core.ordering import is_sorted_by_symbol_ts
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.features import compute_features
from quant_platform_tests.features.bars_fixture import make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)
keys = st.tuples(st.sampled_from([None, "", "A", "AB", "B", "b"]), st.none() | st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, max_size=8))
def test_sorted_check_agrees_with_tuple_order(rows: list[tuple[str | None, int | None]]) -> None:
    """Truth: Python's tuple order on rows without null keys (a null key always needs the sort)."""
    frame = pl.DataFrame(
        {
            "symbol": [s for s, _ in rows],
            "ts": [None if m is None else START + timedelta(minutes=5 * m) for _, m in rows],
        },
        schema={"symbol": pl.String, "ts": TS_DTYPE},
    )
    has_null = any(s is None or m is None for s, m in rows)
    expected = not has_null and all(a <= b for a, b in pairwise(rows))
    assert is_sorted_by_symbol_ts(frame.lazy()) is expected


def test_shuffled_input_gives_the_sorted_input_features() -> None:
    bars = make_bars(2, 1000, seed=5, gap_prob=0.003)
    assert is_sorted_by_symbol_ts(bars.lazy())
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=2)
    assert not is_sorted_by_symbol_ts(shuffled.lazy())
    assert compute_features(shuffled).equals(compute_features(bars))
