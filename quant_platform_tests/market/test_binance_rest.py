"""BinanceRestSource and the resilience layer against a local fake Binance (http.server on 127.0.0.1).

Truth: the fake server implements Binance's documented paging semantics (rows with stamp in
[startTime, endTime], at most ``limit``) over a day generated in the test; parsed values are compared
with that generator; retry delays with an independent replay of the seeded full-jitter formula; breaker
transitions with the documented state machine under a fake clock. No test really sleeps for backoff.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.market.schemas import RawBars, RawFunding, RawOpenInterest
from quant_platform.market.sources.base import MarketDataSource
from quant_platform.market.sources.binance_rest import LIQUIDATIONS_UNSUPPORTED, BinanceRestSource
from quant_platform.market.sources.resilient_http import (
    CircuitBreaker,
    CircuitOpenError,
    HttpFetchError,
    RateLimitedError,
    RetryPolicy,
    parse_retry_after,
)
from quant_platform.market.sources.tables import RAW_TABLE_SCHEMAS
from quant_platform_tests.fake_http import serve_json

DAY = "2024-03-05"
DAY_MS = int(datetime(2024, 3, 5, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000


def kline(symbol: str, i: int) -> list[object]:
    """Bar ``i`` of the day, shaped like Binance's answer (numbers as strings, times and count as ints)."""
    base = 100.0 if symbol == "BTCUSDT" else 10.0
    price = base + i / 100
    return [
        DAY_MS + i * MINUTE,
        f"{price:.2f}",
        f"{price + 0.5:.2f}",
        f"{price - 0.5:.2f}",
        f"{price + 0.25:.2f}",
        f"{i + 1}.5",
        DAY_MS + (i + 1) * MINUTE - 1,
        f"{(i + 1) * 10}.0",
        i + 3,
        f"{i}.25",
        f"{i * 10}.5",
        "0",
    ]


def open_interest_row(symbol: str, i: int) -> dict[str, object]:
    return {
        "symbol": symbol,
        "sumOpenInterest": f"{1000 + i}.5",
        "sumOpenInterestValue": f"{(1000 + i) * 100}.25",
        "timestamp": DAY_MS + i * 5 * MINUTE,
    }


def funding_row(symbol: str, i: int) -> dict[str, object]:
    return {
        "symbol": symbol,
        "fundingTime": DAY_MS + i * 8 * 3_600_000 + 3,
        "fundingRate": f"0.000{i + 1}",
        "markPrice": f"{60000 + i}.5",
    }


class FakeBinance:
    """Canned Binance data plus a script of failures to serve first (per path)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.script: dict[str, list[tuple]] = {}
        self.empty_symbols: set[str] = set()
        self.lock = threading.Lock()
        days = {
            "/fapi/v1/klines": (kline, 1440, 0),
            "/api/v3/klines": (kline, 1440, 0),
            "/futures/data/openInterestHist": (open_interest_row, 288, "timestamp"),
            "/fapi/v1/fundingRate": (funding_row, 3, "fundingTime"),
        }
        self.days = days

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], object, float]:
        with self.lock:
            self.requests.append((path, query))
            scripted = self.script.get(path)
            if scripted:
                action = scripted.pop(0)
                if action[0] == "status":
                    return (
                        action[1],
                        action[2] if len(action) > 2 else {},
                        {"code": -1, "msg": "scripted"},
                        0.0,
                    )
                if action[0] == "sleep":
                    return 0, {}, None, action[1]
                if action[0] == "body":
                    return 200, {}, action[1], 0.0
        make, n, key = self.days[path]
        symbol = query["symbol"]
        if symbol in self.empty_symbols:
            return 200, {}, [], 0.0
        start, end, limit = int(query["startTime"]), int(query["endTime"]), int(query["limit"])
        rows = [r for r in (make(symbol, i) for i in range(n)) if start <= int(r[key]) <= end]
        return 200, {}, rows[:limit], 0.0


def serve_fake_binance(state: FakeBinance):
    """Serve ``state`` on an ephemeral 127.0.0.1 port; yields the base URL (no test reaches the network)."""
    return serve_json(state.answer)


@pytest.fixture
def fake() -> Iterator[tuple[FakeBinance, str]]:
    state = FakeBinance()
    with serve_fake_binance(state) as url:
        yield state, url


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_source(url: str, symbols=("BTCUSDT",), **options) -> tuple[BinanceRestSource, list[float]]:
    slept: list[float] = []
    options.setdefault("retry", RetryPolicy(max_attempts=4, base_delay_s=0.5, timeout_s=2.0, seed=7))
    source = BinanceRestSource(url, symbols, sleep=slept.append, **options)
    return source, slept


def expected_bars(symbol: str) -> pl.DataFrame:
    rows = [kline(symbol, i) for i in range(1440)]
    return pl.DataFrame(
        {
            "symbol": [symbol] * 1440,
            "ts": [datetime(2024, 3, 5, tzinfo=UTC) + timedelta(minutes=i) for i in range(1440)],
            "open": [float(r[1]) for r in rows],
            "high": [float(r[2]) for r in rows],
            "low": [float(r[3]) for r in rows],
            "close": [float(r[4]) for r in rows],
            "volume": [float(r[5]) for r in rows],
            "quote_volume": [float(r[7]) for r in rows],
            "trades": [r[8] for r in rows],
            "taker_buy_volume": [float(r[9]) for r in rows],
            "taker_buy_quote_volume": [float(r[10]) for r in rows],
        },
        schema=RAW_TABLE_SCHEMAS["perp_bars"],
    )


def test_perp_klines_one_page_exact_values(fake) -> None:
    state, url = fake
    source, slept = make_source(url, ("BTCUSDT", "ETHUSDT"))
    assert isinstance(source, MarketDataSource)
    frame = source.fetch("perp_bars", DAY)
    RawBars.validate(frame)
    assert frame.equals(pl.concat([expected_bars("BTCUSDT"), expected_bars("ETHUSDT")]))
    assert [(p, q["limit"], q["startTime"], q["endTime"]) for p, q in state.requests] == [
        ("/fapi/v1/klines", "1500", str(DAY_MS), str(DAY_MS + 86_400_000 - 1))
    ] * 2
    assert slept == [] and source.health()["success"] == 2


def test_spot_klines_page_in_two_requests(fake) -> None:
    state, url = fake
    source, _ = make_source(url)
    frame = source.fetch("spot_bars", DAY)
    assert frame.equals(expected_bars("BTCUSDT"))
    starts = [int(q["startTime"]) for _, q in state.requests]
    assert [p for p, _ in state.requests] == ["/api/v3/klines"] * 2
    assert starts == [DAY_MS, DAY_MS + 999 * MINUTE + 1]  # 1000 bars, then the remaining 440


def test_spot_symbol_mapping(fake) -> None:
    state, url = fake
    source, _ = make_source(url, ("1000PEPEUSDT",), spot_symbols={"1000PEPEUSDT": "PEPEUSDT"})
    frame = source.fetch("spot_bars", DAY)
    assert {q["symbol"] for _, q in state.requests} == {"PEPEUSDT"}
    assert frame["symbol"].unique().to_list() == ["1000PEPEUSDT"] and frame.height == 1440


def test_paging_when_the_limit_divides_the_day_exactly(fake) -> None:
    state, url = fake
    source, _ = make_source(url, page_limits={"perp_bars": 720})
    frame = source.fetch("perp_bars", DAY)
    assert frame.height == 1440 and frame["ts"].is_unique().all()
    assert len(state.requests) == 3  # 720 + 720 + the empty page that proves the day is done


def test_open_interest_and_funding_values(fake) -> None:
    _, url = fake
    source, _ = make_source(url)
    oi = source.fetch("open_interest", DAY)
    RawOpenInterest.validate(oi)
    assert oi.height == 288
    assert oi.row(5) == ("BTCUSDT", datetime(2024, 3, 5, 0, 25, tzinfo=UTC), 1005.5, 100500.25)
    funding = source.fetch("funding", DAY)
    RawFunding.validate(funding)
    assert funding.rows() == [
        ("BTCUSDT", datetime(2024, 3, 5, h, 0, 0, 3000, tzinfo=UTC), rate, mark)
        for h, rate, mark in [(0, 0.0001, 60000.5), (8, 0.0002, 60001.5), (16, 0.0003, 60002.5)]
    ]


def test_microsecond_stamps_are_detected(fake) -> None:
    state, url = fake
    rows = [kline("BTCUSDT", i) for i in range(3)]
    for row in rows:
        row[0] = int(row[0]) * 1000
    state.script["/fapi/v1/klines"] = [("body", rows)]
    source, _ = make_source(url)
    frame = source.fetch("perp_bars", DAY)
    assert frame["ts"].to_list() == [datetime(2024, 3, 5, 0, m, tzinfo=UTC) for m in range(3)]


def test_empty_result_is_counted(fake) -> None:
    state, url = fake
    state.empty_symbols.add("ETHUSDT")
    source, _ = make_source(url, ("BTCUSDT", "ETHUSDT"))
    frame = source.fetch("open_interest", DAY)
    assert frame["symbol"].unique().to_list() == ["BTCUSDT"]
    assert source.health()["empty"] == 1


def test_liquidations_are_unsupported_not_empty_pretend(fake) -> None:
    state, url = fake
    source, _ = make_source(url)
    frame = source.fetch("liquidations", DAY)
    assert frame.height == 0 and frame.schema == RAW_TABLE_SCHEMAS["liquidations"]
    assert source.health()["unsupported"] == {"liquidations": LIQUIDATIONS_UNSUPPORTED}
    assert LIQUIDATIONS_UNSUPPORTED.startswith("unsupported")
    assert state.requests == []


def test_429_honours_retry_after(fake) -> None:
    state, url = fake
    state.script["/fapi/v1/fundingRate"] = [
        ("status", 429, {"Retry-After": "3"}),
        ("status", 418, {"Retry-After": "7"}),
    ]
    source, slept = make_source(url)
    assert source.fetch("funding", DAY).height == 3
    assert slept == [3.0, 7.0]
    health = source.health()
    assert (health["rate_limited"], health["retries"], health["success"], health["failure"]) == (2, 2, 1, 0)


def test_retry_after_beyond_cap_fails_fast(fake) -> None:
    state, url = fake
    state.script["/fapi/v1/fundingRate"] = [("status", 418, {"Retry-After": "86400"})]
    source, slept = make_source(url)
    with pytest.raises(RateLimitedError, match="exceeds the cap"):
        source.fetch("funding", DAY)
    assert slept == [] and len(state.requests) == 1


def test_5xx_retried_with_seeded_full_jitter(fake) -> None:
    state, url = fake
    state.script["/fapi/v1/fundingRate"] = [("status", 500), ("status", 503), ("status", 502)]
    source, slept = make_source(url)
    assert source.fetch("funding", DAY).height == 3
    replay = random.Random(7)
    assert slept == [replay.uniform(0, 0.5 * 2**k) for k in range(3)]
    assert all(0 <= d <= 0.5 * 2**k for k, d in enumerate(slept))
    assert source.health()["retries"] == 3 and len(state.requests) == 4


def test_retries_exhausted_raise_with_the_last_problem(fake) -> None:
    state, url = fake
    state.script["/fapi/v1/fundingRate"] = [("status", 500)] * 4
    source, slept = make_source(url)
    with pytest.raises(HttpFetchError, match=r"gave up after 4 attempts \(HTTP 500"):
        source.fetch("funding", DAY)
    assert len(slept) == 3 and source.health()["failure"] == 1


def test_client_errors_are_not_retried(fake) -> None:
    state, url = fake
    state.script["/fapi/v1/fundingRate"] = [("status", 400)]
    source, slept = make_source(url)
    with pytest.raises(HttpFetchError, match="HTTP 400"):
        source.fetch("funding", DAY)
    assert slept == [] and len(state.requests) == 1
    assert source.health()["breaker"]["consecutive_failures"] == 0


def test_timeout_is_retried_and_latency_recorded(fake) -> None:
    state, url = fake
    state.script["/fapi/v1/fundingRate"] = [("sleep", 0.6)]
    source, slept = make_source(url, retry=RetryPolicy(max_attempts=2, timeout_s=0.2, seed=1))
    assert source.fetch("funding", DAY).height == 3
    health = source.health()
    assert health["retries"] == 1 and len(slept) == 1
    latency = health["latency"]
    assert latency["count"] == 2
    assert 0.2 <= latency["max_s"] < 0.6  # the timed-out attempt, cut at the client timeout
    assert sum(latency["histogram"].values()) == 2


def test_breaker_opens_refuses_then_recovers_after_cooldown(fake) -> None:
    state, url = fake
    clock = FakeClock()
    state.script["/fapi/v1/fundingRate"] = [("status", 500)] * 3
    source, _ = make_source(url, breaker_failure_threshold=3, breaker_cooldown_s=60, clock=clock)
    with pytest.raises(CircuitOpenError):
        source.fetch("funding", DAY)
    assert len(state.requests) == 3  # the 4th attempt was refused by the open breaker
    assert source.health()["breaker"]["state"] == "open"
    clock.now = 59.0
    with pytest.raises(CircuitOpenError):
        source.fetch("funding", DAY)
    assert len(state.requests) == 3 and source.health()["breaker_rejected"] == 2
    clock.now = 60.0  # half-open: one trial goes out, succeeds, closes the breaker
    assert source.health()["breaker"]["state"] == "half_open"
    assert source.fetch("funding", DAY).height == 3
    assert source.health()["breaker"] == {"state": "closed", "consecutive_failures": 0, "times_opened": 1}


def test_malformed_answers_name_the_row(fake) -> None:
    state, url = fake
    rows = [kline("BTCUSDT", i) for i in range(3)]
    rows[1][4] = "n/a"
    state.script["/fapi/v1/klines"] = [("body", rows), ("body", [rows[0], rows[2][:5]])]
    source, _ = make_source(url)
    with pytest.raises(ValueError, match=r"/fapi/v1/klines symbol=BTCUSDT.*column 'close'.*line 2: 'n/a'"):
        source.fetch("perp_bars", DAY)
    with pytest.raises(ValueError, match=r"rows \[2\] are not 12-field klines"):
        source.fetch("perp_bars", DAY)


def test_breaker_state_machine_unit() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()  # success resets the consecutive count
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 10.0
    assert breaker.state == "half_open" and breaker.allow()
    breaker.record_failure()  # the half-open trial failed: open again for a full cool-down
    assert breaker.state == "open"
    clock.now = 19.9
    assert not breaker.allow()
    clock.now = 20.0
    assert breaker.allow()
    assert breaker.times_opened == 2


def test_parse_retry_after() -> None:
    now = datetime(2024, 3, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Tue, 05 Mar 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Tue, 05 Mar 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


class _Answer:
    """The slice of ``requests.Response`` the client reads."""

    def __init__(self, body: object) -> None:
        self.status_code, self.headers, self.text, self._body = 200, {}, "", body

    def json(self) -> object:
        return self._body


class PagingSession:
    """An in-process stand-in for the server: Binance's [startTime, endTime] + limit semantics over a
    given set of minutes, counting requests (no sockets, so many examples run fast)."""

    def __init__(self, minutes: list[int]) -> None:
        self.rows = [kline("BTCUSDT", i) for i in minutes]
        self.calls = 0

    def get(self, url: str, params: dict, timeout: float) -> _Answer:
        self.calls += 1
        start, end, limit = params["startTime"], params["endTime"], params["limit"]
        return _Answer([r for r in self.rows if start <= r[0] <= end][:limit])

    def close(self) -> None:
        pass


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.sets(st.integers(min_value=0, max_value=1439), max_size=1440).map(sorted),
    limit=st.integers(min_value=7, max_value=1500),
)
def test_paging_property_returns_every_served_bar_once(minutes: list[int], limit: int) -> None:
    session = PagingSession(minutes)
    source = BinanceRestSource("http://fake", ["BTCUSDT"], session=session, page_limits={"perp_bars": limit})
    frame = source.fetch("perp_bars", DAY)
    expected = [datetime(2024, 3, 5, tzinfo=UTC) + timedelta(minutes=m) for m in minutes]
    assert frame["ts"].to_list() == expected
    # Full pages are followed by one more request; the first short (or empty) page ends the day.
    assert session.calls == len(minutes) // limit + 1
