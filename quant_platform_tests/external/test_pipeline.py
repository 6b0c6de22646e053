"""Normalize → quarantine → link → dedup → quality, on hand-written records whose fate is known."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quant_platform.external.config import ExternalSpec
from quant_platform.external.pipeline import process_external, training_view
from quant_platform.external.schemas import RAW_SCHEMA, ExternalEvents, ExternalQuarantine

SPEC = ExternalSpec.from_spec()
UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _raw(*records: tuple[str, str, datetime, object]) -> pl.DataFrame:
    rows = [
        {
            "source": s,
            "origin": o,
            "ingested_at": t,
            "payload_json": p if isinstance(p, str) else json.dumps(p),
        }
        for s, o, t, p in records
    ]
    return pl.DataFrame(rows, schema=RAW_SCHEMA)


def _alert(
    mid: str, caller: str = "c1", symbol: str = "BTCUSDT", side: str = "long", minutes: int = 0
) -> dict:
    return {
        "message_id": mid,
        "caller_id": caller,
        "symbol": symbol,
        "side": side,
        "time": (T0 + timedelta(minutes=minutes)).isoformat(),
    }


def test_every_raw_record_is_kept_or_quarantined_with_one_reason() -> None:
    at = T0 + timedelta(seconds=5)
    raw = _raw(
        ("caller_channel", "a:1", at, _alert("m1")),
        (
            "caller_channel",
            "a:2",
            at + timedelta(minutes=10),
            _alert("m2", minutes=10),
        ),  # re-post: same cluster
        ("caller_channel", "a:3", at, _alert("m1")),  # the same message again: duplicate
        ("caller_channel", "a:4", at, _alert("m1", side="short")),  # same id, other content: conflicting
        ("caller_channel", "a:5", at, _alert("m5", symbol="DOGEUSDT")),  # unknown symbol
        ("caller_channel", "a:6", at, _alert("m6", side="sideways")),  # invalid side
        ("caller_channel", "a:7", at, "{broken"),  # malformed JSON
        ("caller_channel", "a:8", at, {**_alert("m8"), "time": "2024-03-01T12:00:00"}),  # naive time
        ("caller_channel", "a:9", at, _alert("m9", minutes=60)),  # published an hour after we got it
        ("pigeon_post", "p:1", at, _alert("m10")),  # unknown source
        (
            "newswire",
            "n:1",
            at,
            {
                "id": "w1",
                "headline": "Bitcoin rallies as ETF flows accelerate",
                "published": T0.isoformat(),
                "tone": 2.5,
            },
        ),
        (
            "doc_search",
            "d:1",
            at + timedelta(minutes=3),
            {
                "id": "d1",
                "headline": "Bitcoin rallies as ETF flows accelerate again",
                "published": T0.isoformat(),
            },
        ),
        (
            "newswire",
            "n:2",
            at,
            {"id": "w2", "headline": "Crypto markets steady", "published": T0.isoformat()},
        ),
        ("newswire", "n:3", at, {"id": "w3", "headline": "Weather is fine", "published": T0.isoformat()}),
        (
            "macro_series",
            "f:1",
            at,
            {
                "id": "cpi:1",
                "series_id": "CPI",
                "period": "2024-02",
                "value": 3.2,
                "prior": 3.0,
                "release_time": T0.isoformat(),
            },
        ),
    )
    result = process_external(raw, UNIVERSE, SPEC)
    ExternalEvents.validate(result.events)
    ExternalQuarantine.validate(result.quarantine)
    reasons = dict(zip(result.quarantine["origin"], result.quarantine["reason"], strict=True))
    assert reasons == {
        "a:3": "duplicate",
        "a:4": "conflicting_duplicate",
        "a:5": "unknown_symbol",
        "a:6": "invalid_field",
        "a:7": "malformed_json",
        "a:8": "malformed_time",
        "a:9": "future_dated",
        "p:1": "unknown_source",
        "n:3": "unlinked",
    }
    kept = result.events.unique("record_uid")
    assert set(kept["origin"]) == {"a:1", "a:2", "n:1", "d:1", "n:2", "f:1"}
    assert result.report["raw_records"] == kept.height + result.quarantine.height == 15

    clusters = dict(zip(kept["origin"], kept["cluster_id"], strict=True))
    assert clusters["a:1"] == clusters["a:2"]  # re-posted alert
    assert clusters["n:1"] == clusters["d:1"]  # one story, two feeds
    assert len({clusters["a:1"], clusters["n:1"], clusters["n:2"], clusters["f:1"]}) == 4
    heads = kept.filter(pl.col("is_cluster_head"))
    assert set(heads["origin"]) == {"a:1", "n:1", "n:2", "f:1"}

    links = result.events.select("origin", "symbol", "link_method", "link_synthetic").rows()
    assert ("n:1", "BTCUSDT", "alias", False) in links
    assert {(r[1], r[2], r[3]) for r in links if r[0] == "n:2"} == {(s, "broad", True) for s in UNIVERSE}
    assert {(r[1], r[2], r[3]) for r in links if r[0] == "f:1"} == {(s, "market", False) for s in UNIVERSE}
    macro = result.events.filter(pl.col("origin") == "f:1").row(0, named=True)
    assert macro["surprise"] == pytest.approx(0.2) and macro["side"] == 1
    assert set(training_view(result.events, SPEC)["origin"]) == {"a:1", "a:2", "n:1", "d:1", "f:1"}
    assert set(training_view(result.events, SPEC, drop_low_tier=True)["origin"]) == {
        "a:1",
        "a:2",
        "n:1",
        "f:1",
    }


def test_quality_and_availability_follow_tier_completeness_and_delay() -> None:
    published = T0
    raw = _raw(
        (
            "newswire",
            "n:1",
            published,
            {
                "id": "1",
                "headline": "Bitcoin up",
                "published": published.isoformat(),
                "entities": ["BTCUSDT"],
                "tone": 1.0,
            },
        ),
        (
            "newswire",
            "n:2",
            published + timedelta(seconds=600),
            {
                "id": "2",
                "headline": "Ethereum down",
                "published": published.isoformat(),
                "entities": ["ETHUSDT"],
                "tone": -1.0,
            },
        ),
        (
            "doc_search",
            "d:1",
            published,
            {"id": "3", "headline": "Solana flat", "published": published.isoformat()},
        ),
    )
    events = process_external(raw, UNIVERSE, SPEC).events
    quality = dict(zip(events["origin"], events["quality"], strict=True))
    assert quality["n:1"] == pytest.approx(1.0)  # tier 1, complete, instant
    assert quality["n:2"] == pytest.approx(0.5)  # one half-life late
    assert quality["d:1"] == pytest.approx(0.3 * 0.5)  # tier 3, no optional field
    late = events.filter(pl.col("origin") == "n:2").row(0, named=True)
    assert late["available_at"] == published + timedelta(seconds=600)  # usable when we had it, not before
