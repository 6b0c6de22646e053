"""Non-overlapping event sampling, vectorized.

Policy (spec/global_defaults.yaml ``overlap_policy: non_overlapping``): within one (symbol, event_type,
horizon) key, events are taken greedily in time order and an event is counted only if its bar is at least
``horizon`` bars after the previously *counted* event, so counted holding windows never overlap and the
per-candidate t statistic sees independent-window observations (no HAC correction needed).

The greedy rule is sequential by nature; instead of a Python loop over events we use binary lifting
(pointer doubling): ``next[j]`` is the first event at or beyond ``bar[j] + gap`` (a ``searchsorted``), the
counted events are the chain ``start -> next[start] -> ...``, and event ``k`` is on that chain iff the
largest chain element <= k is k itself, which ``log2(n)`` vectorized jumps find for every k at once.
"""

from __future__ import annotations

import numpy as np


def non_overlapping_mask(group_ids: np.ndarray, bar_index: np.ndarray, min_gap: np.ndarray) -> np.ndarray:
    """Greedy non-overlapping selection per group.

    Rows must be sorted by ``(group_ids, bar_index)``. Returns a boolean mask of kept rows: within a group,
    the first row is kept and each later row is kept iff ``bar_index >= last_kept_bar + min_gap`` (with
    ``min_gap`` the gap of the last kept row; it is constant inside a group in our use).
    """
    n = len(bar_index)
    if n == 0:
        return np.zeros(0, dtype=bool)
    group_ids = np.asarray(group_ids, dtype=np.int64)
    bar_index = np.asarray(bar_index, dtype=np.int64)
    min_gap = np.broadcast_to(np.asarray(min_gap, dtype=np.int64), (n,))
    if np.any(min_gap < 1):
        raise ValueError("min_gap must be >= 1 bar")
    if np.any(np.diff(group_ids) < 0) or np.any((np.diff(group_ids) == 0) & (np.diff(bar_index) < 0)):
        raise ValueError("rows must be sorted by (group, bar_index)")
    # A single monotone key across groups; a jump past a group's end lands in a later group, which is
    # never <= any row of the current group, so it is harmless.
    offset = bar_index - bar_index.min()
    stride = int(offset.max() + min_gap.max() + 1)
    key = group_ids * stride + offset
    nxt = np.searchsorted(key, key + min_gap, side="left")
    jump = np.append(nxt, n)  # sentinel n points to itself
    tables = [jump]
    span = 1
    while span < n:
        jump = jump[jump]
        tables.append(jump)
        span *= 2
    rows = np.arange(n)
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = group_ids[1:] != group_ids[:-1]
    pos = np.maximum.accumulate(np.where(is_start, rows, 0))
    for table in reversed(tables):
        cand = table[pos]
        pos = np.where(cand <= rows, cand, pos)
    return pos == rows
