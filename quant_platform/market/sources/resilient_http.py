"""Resilient JSON-over-HTTP GETs for market data sources: timeouts, retries, a circuit breaker, health.

- **Timeouts** on every request (``requests``' connect/read timeout).
- **Retries** on connection errors, timeouts, HTTP 5xx, 429 and 418, with exponential backoff and *full
  jitter* (delay drawn uniformly in ``[0, min(max_delay, base * 2**attempt)]``, AWS architecture blog,
  "Exponential Backoff And Jitter") from a seeded RNG; the sleep function is injectable so tests never sleep.
- **Retry-After** (seconds or an HTTP date) is honoured on 429/418 instead of the jittered delay; a value
  above ``max_retry_after_s`` (Binance answers 418 with IP bans of minutes to days) is not waited for: the
  call fails with :class:`RateLimitedError`.
- **Circuit breaker** per source: closed → open after ``failure_threshold`` consecutive failed attempts;
  while open every call is refused at once (:class:`CircuitOpenError`); after ``cooldown_s`` (injectable
  clock) it is half-open and lets one trial through: success closes it, failure re-opens it.
- **Health counters** (:class:`SourceHealth`): successes, failures, empty results, rate-limited answers,
  retries, breaker refusals, unsupported requests, and request latency (count/mean/max and a histogram).

Other 4xx answers are not retried (the request itself is wrong) and do not trip the breaker (the server
is answering fine); they raise :class:`HttpFetchError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

RETRYABLE_STATUSES = frozenset({418, 429, 500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({418, 429})
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpFetchError(RuntimeError):
    """A request failed for good (non-retryable status, or retries exhausted)."""


class RateLimitedError(HttpFetchError):
    """The server asked us to wait longer than we are allowed to."""


class CircuitOpenError(HttpFetchError):
    """The source's circuit breaker is open: the call was refused without touching the network."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``max_attempts`` counts the first try."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0
    timeout_s: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.timeout_s <= 0:
            raise ValueError("delays must be >= 0 and timeout_s > 0")

    def backoff_cap(self, retry_index: int) -> float:
        """Upper bound of the jittered delay before retry number ``retry_index`` (0-based)."""
        return min(self.max_delay_s, self.base_delay_s * 2.0**retry_index)


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a half-open trial after a cool-down."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if failure_threshold < 1 or cooldown_s < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s >= 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._state = self.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self.times_opened = 0

    @property
    def state(self) -> str:
        if self._state == self.OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self._state = self.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """Whether a request may go out now (closed, or the half-open trial)."""
        return self.state != self.OPEN

    def record_success(self) -> None:
        self._state = self.CLOSED
        self._consecutive_failures = 0

    def record_failure(self) -> None:
        self._consecutive_failures += 1
        if self.state == self.HALF_OPEN or self._consecutive_failures >= self.failure_threshold:
            if self._state != self.OPEN:
                self.times_opened += 1
            self._state = self.OPEN
            self._opened_at = self._clock()

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "consecutive_failures": self._consecutive_failures,
            "times_opened": self.times_opened,
        }


@dataclass
class SourceHealth:
    """Counters of one source. ``success``/``failure`` count calls (after retries); the rest count events."""

    success: int = 0
    failure: int = 0
    empty: int = 0
    rate_limited: int = 0
    retries: int = 0
    breaker_rejected: int = 0
    unsupported: dict[str, str] = field(default_factory=dict)
    latency_count: int = 0
    latency_sum_s: float = 0.0
    latency_max_s: float = 0.0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))

    def record_latency(self, seconds: float) -> None:
        self.latency_count += 1
        self.latency_sum_s += seconds
        self.latency_max_s = max(self.latency_max_s, seconds)
        index = next(
            (i for i, edge in enumerate(LATENCY_BUCKETS_S) if seconds <= edge), len(LATENCY_BUCKETS_S)
        )
        self.latency_buckets[index] += 1

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON view: counters, unsupported reasons, latency count/mean/max and ``<= edge`` histogram."""
        edges = [f"le_{edge:g}s" for edge in LATENCY_BUCKETS_S] + ["gt_last"]
        return {
            "success": self.success,
            "failure": self.failure,
            "empty": self.empty,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "breaker_rejected": self.breaker_rejected,
            "unsupported": dict(self.unsupported),
            "latency": {
                "count": self.latency_count,
                "mean_s": self.latency_sum_s / self.latency_count if self.latency_count else None,
                "max_s": self.latency_max_s if self.latency_count else None,
                "histogram": dict(zip(edges, self.latency_buckets, strict=True)),
            },
        }


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/garbled."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ResilientHttpClient:
    """GET JSON with retry/backoff/jitter, Retry-After, a circuit breaker, and health counters."""

    def __init__(
        self,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        health: SourceHealth | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.perf_counter,
    ):
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.health = health or SourceHealth()
        self._session = session or requests.Session()
        self._sleep = sleep
        self._timer = timer
        self._rng = random.Random(self.retry.seed)
        self.sleeps: list[float] = []  # every delay waited, in order (observable backoff)

    def close(self) -> None:
        self._session.close()

    def _wait(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._sleep(seconds)

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``url`` and decode its JSON body, retrying per the policy. Raises an :class:`HttpFetchError`."""
        what = f"GET {url} {dict(params or {})}"
        last_problem = "no attempt made"
        for attempt in range(self.retry.max_attempts):
            if not self.breaker.allow():
                self.health.breaker_rejected += 1
                self.health.failure += 1
                raise CircuitOpenError(f"{what}: circuit breaker open ({last_problem})")
            delay: float | None = None
            started = self._timer()
            try:
                response = self._session.get(url, params=params, timeout=self.retry.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.health.record_latency(self._timer() - started)
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                self.health.record_latency(self._timer() - started)
                status = response.status_code
                if status < 400:
                    try:
                        payload = response.json()
                    except ValueError as exc:
                        self.health.failure += 1
                        raise HttpFetchError(f"{what}: HTTP {status} with a body that is not JSON") from exc
                    self.breaker.record_success()
                    self.health.success += 1
                    return payload
                last_problem = f"HTTP {status}: {response.text[:200]}"
                if status not in RETRYABLE_STATUSES:
                    self.health.failure += 1
                    raise HttpFetchError(f"{what}: {last_problem}")
                if status in RATE_LIMIT_STATUSES:
                    self.health.rate_limited += 1
                    delay = parse_retry_after(response.headers.get("Retry-After"))
                    if delay is not None and delay > self.retry.max_retry_after_s:
                        self.breaker.record_failure()
                        self.health.failure += 1
                        raise RateLimitedError(
                            f"{what}: {last_problem}; Retry-After {delay:g}s exceeds the cap"
                        )
            self.breaker.record_failure()
            if attempt + 1 < self.retry.max_attempts:
                self.health.retries += 1
                if delay is None:
                    delay = self._rng.uniform(0.0, self.retry.backoff_cap(attempt))
                self._wait(delay)
        self.health.failure += 1
        raise HttpFetchError(f"{what}: gave up after {self.retry.max_attempts} attempts ({last_problem})")
