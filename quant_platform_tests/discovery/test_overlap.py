"""Non-overlapping sampling (binary lifting) against a plain sequential reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.discovery import non_overlapping_mask


def reference(groups, bars, gap):
    kept, last = [], {}
    for g, b in zip(groups, bars, strict=True):
        if g not in last or b >= last[g] + gap[g]:
            kept.append(True)
            last[g] = b
        else:
            kept.append(False)
    return np.array(kept, dtype=bool)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200)), max_size=80),
    st.integers(1, 30),
    st.integers(0, 10),
)
def test_matches_sequential_greedy(rows, base_gap, seed):
    rows = sorted(rows)
    groups = np.array([g for g, _ in rows], dtype=np.int64)
    bars = np.array([b for _, b in rows], dtype=np.int64)
    gap_of = {g: base_gap + (g * seed) % 7 for g in range(4)}
    gaps = np.array([gap_of[g] for g in groups], dtype=np.int64)
    np.testing.assert_array_equal(non_overlapping_mask(groups, bars, gaps), reference(groups, bars, gap_of))


def test_worked_example():
    # gap 3: bars 0 (keep), 1, 2 (skip), 3 (keep), 5 (skip), 6 (keep); duplicate bar 6 skipped.
    mask = non_overlapping_mask(np.zeros(7, np.int64), np.array([0, 1, 2, 3, 5, 6, 6]), np.full(7, 3))
    assert mask.tolist() == [True, False, False, True, False, True, False]


def test_rejects_unsorted_and_bad_gap():
    with pytest.raises(ValueError, match="sorted"):
        non_overlapping_mask(np.zeros(2, np.int64), np.array([5, 1]), np.full(2, 2))
    with pytest.raises(ValueError, match="min_gap"):
        non_overlapping_mask(np.zeros(2, np.int64), np.array([1, 5]), np.zeros(2, np.int64))
