"""The REST connectors against a local fake server on loopback (429 storms with Retry-After, 5xx, empty
results, slow answers, malformed JSON): nothing is lost, the breaker opens and recovers, health counts it; and
file drops with their receipt times."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from quant_platform.external.config import ExternalSpec
from quant_platform.external.freshness import freshness_table
from quant_platform.external.pipeline import process_external
from quant_platform.external.sources import DocSearchSource, FileDropSource, SeriesSource
from quant_platform.market.sources.resilient_http import (
    CircuitBreaker,
    CircuitOpenError,
    HttpFetchError,
    ResilientHttpClient,
    RetryPolicy,
)
from quant_platform_tests.fake_http import serve_json

SPEC = ExternalSpec.from_spec()
DAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)
ARTICLES = {
    "articles": [
        {
            "url": "https://news.example/a",
            "title": "Bitcoin rallies on ETF flows",
            "seendate": "20240301T120000Z",
            "domain": "news.example",
            "tone": 2.0,
        },
        {
            "url": "https://news.example/b",
            "title": "Ethereum upgrade date set",
            "seendate": "20240301T130000Z",
            "domain": "news.example",
        },
    ]
}
OBSERVATIONS = {
    "observations": [
        {"date": "2024-01-01", "value": "3.0", "realtime_start": "2024-02-01"},
        {"date": "2024-02-01", "value": "3.2", "realtime_start": "2024-03-01"},
    ]
}


class Script:
    """What the fake server answers, call after call: (status, headers, body-or-raw-text, delay_s)."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict, object, float]] = []
        self.default: tuple[int, dict, object, float] = (200, {}, ARTICLES, 0.0)
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def next(self, path: str, query: dict) -> tuple[int, dict, object, float]:
        with self.lock:
            self.calls.append((path, query))
            return self.plan.pop(0) if self.plan else self.default


def serve(script: Script):
    return serve_json(script.next)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _client(
    clock: FakeClock | None = None, threshold: int = 6, timeout_s: float = 0.3
) -> ResilientHttpClient:
    return ResilientHttpClient(
        RetryPolicy(
            max_attempts=6, base_delay_s=0.01, max_delay_s=0.02, timeout_s=timeout_s, max_retry_after_s=5
        ),
        CircuitBreaker(failure_threshold=threshold, cooldown_s=10.0, clock=clock or FakeClock()),
        sleep=lambda _s: None,
    )


def test_doc_search_rides_out_429_storm_5xx_and_a_slow_answer() -> None:
    script = Script()
    script.plan = [
        (429, {"Retry-After": "1"}, {"error": "slow down"}, 0.0),
        (429, {"Retry-After": "2"}, {"error": "slow down"}, 0.0),
        (503, {}, {"error": "busy"}, 0.0),
        (200, {}, ARTICLES, 1.0),  # slower than the 0.3 s timeout: retried
    ]
    client = _client()
    with serve(script) as url:
        batch = DocSearchSource(url, "bitcoin OR ethereum", client, clock=lambda: NOW).fetch(
            "doc_search", DAY
        )
    assert batch.raw.height == 2 and batch.quarantine.height == 0
    assert client.sleeps[:2] == [1.0, 2.0]  # Retry-After honoured
    health = client.health
    assert (health.success, health.failure, health.rate_limited, health.retries) == (1, 0, 2, 4)
    path, query = script.calls[-1]
    assert path == "/api/v2/doc/doc" and query["startdatetime"] == "20240301000000"
    events = process_external(batch.raw, ["BTCUSDT", "ETHUSDT"], SPEC).events
    assert sorted(events["symbol"]) == ["BTCUSDT", "ETHUSDT"]
    table = freshness_table(events, {"doc_search": health}, SPEC)
    row = table.filter(table["source"] == "doc_search").row(0, named=True)
    assert row["records"] == 2 and row["success_rate"] == 1.0
    # published 12:00 and 13:00, ingested 18:00: the P95 of 6 h and 5 h delays (linear interpolation)
    assert row["p95_publish_to_ingest_s"] == pytest.approx(5 * 3600 + 0.95 * 3600)


def test_breaker_opens_after_failures_and_recovers_after_cooldown() -> None:
    script = Script()
    script.plan = [(500, {}, {"error": "down"}, 0.0)] * 3
    clock = FakeClock()
    client = _client(clock, threshold=3)
    with serve(script) as url:
        source = DocSearchSource(url, "bitcoin", client, clock=lambda: NOW)
        with pytest.raises(HttpFetchError):
            source.fetch("doc_search", DAY)
        with pytest.raises(CircuitOpenError):
            source.fetch("doc_search", DAY)
        served = len(script.calls)
        clock.now = 11.0  # past the cool-down: one half-open trial, which succeeds and closes the breaker
        batch = source.fetch("doc_search", DAY)
    assert batch.raw.height == 2
    assert served == 3 and client.breaker.state == "closed" and client.breaker.times_opened == 1
    # the first call is refused by the breaker on its 4th attempt, the second at once
    assert client.health.breaker_rejected == 2 and client.health.failure == 2 and client.health.success == 1


def test_empty_and_malformed_answers_are_reported_never_silent() -> None:
    script = Script()
    script.plan = [(200, {}, {"articles": []}, 0.0), (200, {}, "{not json", 0.0), (200, {}, {"oops": 1}, 0.0)]
    client = _client()
    with serve(script) as url:
        source = DocSearchSource(url, "bitcoin", client, clock=lambda: NOW)
        empty = source.fetch("doc_search", DAY)
        with pytest.raises(HttpFetchError, match="not JSON"):
            source.fetch("doc_search", DAY)
        odd = source.fetch("doc_search", DAY)
    assert empty.raw.height == 0 and client.health.empty >= 1
    assert odd.raw.height == 0 and odd.quarantine["reason"].to_list() == ["malformed_json"]
    assert client.health.failure == 1


def test_series_source_reads_the_release_of_the_day_with_its_prior() -> None:
    script = Script()
    script.default = (200, {}, OBSERVATIONS, 0.0)
    client = _client()
    with serve(script) as url:
        batch = SeriesSource(url, ["CPIAUCSL"], client, SPEC, clock=lambda: NOW).fetch("macro_series", DAY)
    events = process_external(batch.raw, ["BTCUSDT"], SPEC).events
    row = events.row(0, named=True)
    assert (row["series_id"], row["period"], row["value"], row["prior"]) == (
        "CPIAUCSL",
        "2024-02-01",
        3.2,
        3.0,
    )
    assert row["published_at"] == datetime(2024, 3, 1, 13, 30, tzinfo=UTC)
    assert row["surprise"] == pytest.approx(0.2) and row["side"] == 1
    assert script.calls[0][1]["realtime_start"] == "2024-03-01"


def test_file_drops_need_receipt_times_and_name_their_lines(tmp_path: Path) -> None:
    folder = tmp_path / "caller_channel" / DAY.isoformat()
    folder.mkdir(parents=True)
    lines = [
        {
            "message_id": "m1",
            "caller_id": "c1",
            "symbol": "BTCUSDT",
            "side": "long",
            "time": "2024-03-01T10:00:00+00:00",
            "ingested_at": "2024-03-01T10:00:05+00:00",
        },
        {
            "message_id": "m2",
            "caller_id": "c1",
            "symbol": "BTCUSDT",
            "side": "long",
            "time": "2024-03-01T11:00:00+00:00",
        },
    ]
    (folder / "drop.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n[1, 2]\n")
    (folder / "more.csv").write_text(
        "message_id,caller_id,symbol,side,time,ingested_at\n"
        "m3,c2,ETHUSDT,short,2024-03-01T12:00:00+00:00,2024-03-01T12:00:09+00:00\n"
    )
    batch = FileDropSource(tmp_path).fetch("caller_channel", DAY)
    assert batch.raw["origin"].to_list() == [f"{folder}/drop.jsonl:1", f"{folder}/more.csv:2"]
    assert dict(zip(batch.quarantine["origin"], batch.quarantine["reason"], strict=True)) == {
        f"{folder}/drop.jsonl:2": "missing_field",
        f"{folder}/drop.jsonl:3": "malformed_json",
    }
    assert FileDropSource(tmp_path).fetch("newswire", DAY).health.empty == 1
