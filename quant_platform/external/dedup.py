"""Near-duplicate clustering: the same story from several feeds, a re-posted alert, one macro release from
two sources become one cluster whose members are all kept.

Rules (``spec/external.yaml`` ``dedup``), within ``window_minutes`` of the cluster's first member:
- alerts: same caller, symbol and side;
- news: word-trigram Jaccard similarity of normalized headlines ≥ ``text_jaccard``;
- macro: same series and period (any window).
Records are visited in (available_at, record uid) order, so the first member, whose uid is the cluster id, is
the earliest available one and the clustering is deterministic. Written by hand: the record counts per day
are small, and the comparison is a windowed greedy pass that no library offers with these keys.
"""

from __future__ import annotations

import re
from datetime import timedelta

from quant_platform.external.config import ALERT, MACRO, ExternalSpec
from quant_platform.external.normalize import Normalized

_WORD = re.compile(r"[a-z0-9]+")


def shingles(text: str, n: int) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset({tuple(words)}) if words else frozenset()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def cluster_records(records: list[Normalized], spec: ExternalSpec) -> dict[str, str]:
    """``{record_uid: cluster_id}`` for ``records`` (module docstring)."""
    window = timedelta(minutes=spec.dedup.window_minutes)
    ordered = sorted(records, key=lambda r: (r.available_at, r.record_uid))
    heads: list[tuple[Normalized, frozenset]] = []
    cluster: dict[str, str] = {}
    for record in ordered:
        text = shingles(record.fields.get("headline", ""), spec.dedup.shingle_words)
        found = None
        for head, head_text in reversed(heads):
            if head.kind != record.kind:
                continue
            if record.kind == MACRO:
                same = (head.fields["series_id"], head.fields["period"]) == (
                    record.fields["series_id"],
                    record.fields["period"],
                )
            elif record.available_at - head.available_at > window:
                continue
            elif record.kind == ALERT:
                same = (head.fields["caller_id"], head.mentions[0].upper(), head.fields["side"]) == (
                    record.fields["caller_id"],
                    record.mentions[0].upper(),
                    record.fields["side"],
                )
            else:
                same = jaccard(text, head_text) >= spec.dedup.text_jaccard
            if same:
                found = head
                break
        if found is None:
            heads.append((record, text))
            cluster[record.record_uid] = record.record_uid
        else:
            cluster[record.record_uid] = cluster[found.record_uid]
    return cluster
