"""Binance public REST market data (USDⓈ-M futures and spot), one UTC day per request set.

Endpoints (public, no API key), page size (``limit``) and paging over ``[day start, day end)``:

- ``perp_bars``: ``GET {futures}/fapi/v1/klines?interval=1m``, limit 1500 (a day's 1440 bars: 1 request);
  next ``startTime`` = last open time + 1 ms.
- ``spot_bars``: ``GET {spot}/api/v3/klines?interval=1m``, limit 1000 (1440 bars: 2 requests); same paging.
- ``funding``: ``GET {futures}/fapi/v1/fundingRate``, limit 1000; next ``startTime`` = last fundingTime + 1.
- ``open_interest``: ``GET {futures}/futures/data/openInterestHist?period=5m``, limit 500 (288 a day);
  next ``startTime`` = last timestamp + 1.
- ``liquidations``: no endpoint (unsupported, see below).

Paging stops on a short page, an empty page, or once the cursor passes the day; a page whose last stamp is
before the cursor raises (the server is not paging forward), and the number of pages is bounded.
``openInterestHist`` only serves the latest month (documented Binance limit); older days come back empty.

Liquidations: Binance has no public historical liquidation endpoint (``/fapi/v1/forceOrders`` needs an API
key and only covers the key's own account; the public ``allForceOrders`` market-wide endpoint was retired), so
``fetch("liquidations", day)`` returns an empty frame with the right schema and records
``health()["unsupported"]["liquidations"]``, instead of pretending there were none. Use the
``binance_files`` source (``liquidationSnapshot`` dumps) for history.

Values are passed through as delivered (no repair). Epoch stamps may be ms or us (detected per response
set). Malformed answers (wrong field count, missing keys, non-numeric text) raise a ValueError naming the
request and the 1-based row ("line") in the day's concatenated answer. Network trouble is handled by
:mod:`~quant_platform.market.sources.resilient_http` (timeouts, retries with backoff + jitter,
Retry-After, circuit breaker); a call that still fails raises :class:`HttpFetchError` (an empty frame would
be indistinguishable from a quiet day).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
import requests

from quant_platform.core.timeutil import MS_PER_DAY, parse_day
from quant_platform.market.sources import csvtext
from quant_platform.market.sources.binance_layout import KLINE_COLUMNS, KLINE_FLOAT_COLUMNS
from quant_platform.market.sources.resilient_http import (
    CircuitBreaker,
    ResilientHttpClient,
    RetryPolicy,
    SourceHealth,
)
from quant_platform.market.sources.tables import check_table, conform, empty_table

DEFAULT_BASE_URLS: dict[str, str] = {"futures": "https://fapi.binance.com", "spot": "https://api.binance.com"}
LIQUIDATIONS_UNSUPPORTED = (
    "unsupported: Binance has no public historical liquidation endpoint "
    "(forceOrders needs an API key, allForceOrders was retired); use binance_files liquidationSnapshot"
)


@dataclass(frozen=True)
class _Endpoint:
    host: str  # key into base_urls
    path: str
    limit: int
    max_rows_per_day: int  # bounds the page loop
    time_key: str | int  # where the paging stamp sits in a row (dict key or list index)
    extra_params: tuple[tuple[str, str], ...] = ()

    @property
    def max_pages(self) -> int:
        return math.ceil(self.max_rows_per_day / self.limit) + 1


ENDPOINTS: dict[str, _Endpoint] = {
    "perp_bars": _Endpoint("futures", "/fapi/v1/klines", 1500, 1440, 0, (("interval", "1m"),)),
    "spot_bars": _Endpoint("spot", "/api/v3/klines", 1000, 1440, 0, (("interval", "1m"),)),
    # Funding intervals are 8h, 4h or 1h; 1440 bounds even a per-minute schedule.
    "funding": _Endpoint("futures", "/fapi/v1/fundingRate", 1000, 1440, "fundingTime"),
    "open_interest": _Endpoint(
        "futures", "/futures/data/openInterestHist", 500, 288, "timestamp", (("period", "5m"),)
    ),
}


def _stamp(row: Any, key: str | int, source: str, index: int) -> int:
    try:
        value = row[key]
        return int(value)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: line {index + 1}: no integer time stamp at {key!r} in {row!r}") from exc


class BinanceRestSource:
    """:class:`~quant_platform.market.sources.base.MarketDataSource` over Binance's public REST API."""

    def __init__(
        self,
        base_urls: Mapping[str, str] | str | None = None,
        symbols: Iterable[str] = (),
        *,
        retry: RetryPolicy | None = None,
        breaker_failure_threshold: int = 5,
        breaker_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        page_limits: Mapping[str, int] | None = None,
        spot_symbols: Mapping[str, str] | None = None,
        name: str = "binance_rest",
    ):
        """``base_urls``: ``{"futures": url, "spot": url}`` (default and for a missing key: Binance's own,
        :data:`DEFAULT_BASE_URLS`) or one URL serving both (e.g. a test server).

        ``page_limits`` overrides the per-table page size (``limit``), e.g. to stay under a proxy's cap.
        ``spot_symbols`` maps a universe (perp) symbol to its spot pair where they differ
        (``{"1000PEPEUSDT": "PEPEUSDT"}``); spot rows are returned under the universe symbol.
        """
        if isinstance(base_urls, str):
            urls = {"futures": base_urls, "spot": base_urls}
        else:
            urls = DEFAULT_BASE_URLS | dict(base_urls or {})
        unknown = urls.keys() - DEFAULT_BASE_URLS.keys()
        if unknown:
            raise ValueError(
                f"base_urls has unknown hosts {sorted(unknown)}; expected {sorted(DEFAULT_BASE_URLS)}"
            )
        self._base_urls = {k: v.rstrip("/") for k, v in urls.items()}
        self._symbols = tuple(symbols)
        if not self._symbols:
            raise ValueError("BinanceRestSource needs at least one symbol")
        self._name = name
        self._spot_symbols = dict(spot_symbols or {})
        self._endpoints = dict(ENDPOINTS)
        for table, limit in (page_limits or {}).items():
            if table not in ENDPOINTS or limit < 1:
                raise ValueError(
                    f"page_limits: {table!r}={limit!r} is not a positive limit of {sorted(ENDPOINTS)}"
                )
            self._endpoints[table] = replace(ENDPOINTS[table], limit=limit)
        self.client = ResilientHttpClient(
            retry or RetryPolicy(),
            CircuitBreaker(breaker_failure_threshold, breaker_cooldown_s, clock),
            SourceHealth(),
            session=session,
            sleep=sleep,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def base_urls(self) -> dict[str, str]:
        """Where each host's requests go: ``{"futures": url, "spot": url}``."""
        return dict(self._base_urls)

    def close(self) -> None:
        self.client.close()

    def _paged(self, endpoint: _Endpoint, symbol: str, start_ms: int, end_ms: int) -> tuple[list[Any], str]:
        url = self._base_urls[endpoint.host] + endpoint.path
        source = f"GET {url} symbol={symbol} [{start_ms}, {end_ms}]"
        rows: list[Any] = []
        cursor = start_ms
        for _ in range(endpoint.max_pages):
            params = {"symbol": symbol, **dict(endpoint.extra_params)}
            params |= {"startTime": cursor, "endTime": end_ms, "limit": endpoint.limit}
            batch = self.client.get_json(url, params)
            if not isinstance(batch, list):
                raise ValueError(
                    f"{source}: expected a JSON list, got {type(batch).__name__}: {str(batch)[:200]}"
                )
            if not batch:
                break
            last = _stamp(batch[-1], endpoint.time_key, source, len(rows) + len(batch) - 1)
            rows.extend(batch)
            if last < cursor:
                raise ValueError(f"{source}: page ending at {last} does not advance past startTime {cursor}")
            cursor = last + 1
            if len(batch) < endpoint.limit or cursor > end_ms:
                break
        else:
            raise ValueError(
                f"{source}: more than {endpoint.max_pages} pages for one day; refusing to loop on"
            )
        return rows, source

    def _frame(self, table: str, symbol: str, rows: list[Any], source: str) -> pl.DataFrame:
        if table in ("perp_bars", "spot_bars"):
            bad = [i for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != len(KLINE_COLUMNS)]
            if bad:
                raise ValueError(
                    f"{source}: rows {[i + 1 for i in bad[:5]]} are not {len(KLINE_COLUMNS)}-field klines"
                )
            frame = pl.DataFrame(
                [[None if v is None else str(v) for v in r] for r in rows],
                schema=dict.fromkeys(KLINE_COLUMNS, pl.String),
                orient="row",
            )
            floats = KLINE_FLOAT_COLUMNS
            frame = frame.with_row_index(csvtext.LINE_NO, offset=1)
            frame = csvtext.parse_numbers(
                frame, {c: pl.Float64() for c in floats} | {"count": pl.Int64()}, source=source
            )
            frame = csvtext.parse_epoch(frame, "open_time", source=source)
            return frame.with_columns(
                pl.lit(symbol).alias("symbol"),
                pl.col("open_time").alias("ts"),
                pl.col("count").alias("trades"),
            )
        keys = {
            "funding": {"fundingTime": "ts", "fundingRate": "funding_rate", "markPrice": "mark_price"},
            "open_interest": {
                "timestamp": "ts",
                "sumOpenInterest": "open_interest",
                "sumOpenInterestValue": "open_interest_value",
            },
        }[table]
        optional = {"markPrice"}  # absent on old funding records
        for i, row in enumerate(rows):
            lacking = [k for k in keys if k not in optional and (not isinstance(row, dict) or k not in row)]
            if lacking:
                raise ValueError(f"{source}: line {i + 1}: missing keys {lacking} in {row!r}")
        frame = pl.DataFrame(
            {
                new: [None if r.get(old) is None else str(r.get(old)) for r in rows]
                for old, new in keys.items()
            },
            schema=dict.fromkeys(keys.values(), pl.String),
        ).with_row_index(csvtext.LINE_NO, offset=1)
        numbers = [c for c in keys.values() if c != "ts"]
        frame = csvtext.parse_numbers(frame, dict.fromkeys(numbers, pl.Float64()), source=source)
        frame = csvtext.parse_epoch(frame, "ts", source=source)
        return frame.with_columns(pl.lit(symbol).alias("symbol"))

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        """Raw rows of ``table`` for UTC ``day`` for every symbol, in the order the API delivered them."""
        check_table(table)
        if table == "liquidations":
            self.client.health.unsupported["liquidations"] = LIQUIDATIONS_UNSUPPORTED
            return empty_table(table)
        start_ms = (parse_day(day).toordinal() - parse_day("1970-01-01").toordinal()) * MS_PER_DAY
        endpoint = self._endpoints[table]
        frames = []
        for symbol in self._symbols:
            remote_symbol = self._spot_symbols.get(symbol, symbol) if table == "spot_bars" else symbol
            rows, source = self._paged(endpoint, remote_symbol, start_ms, start_ms + MS_PER_DAY - 1)
            if not rows:
                self.client.health.empty += 1
                continue
            frames.append(conform(table, self._frame(table, symbol, rows, source)))
        return pl.concat(frames, how="vertical") if frames else empty_table(table)

    def covered(self, table: str, day: str) -> tuple[str, ...]:
        """Symbols whose ``table`` this source knows for ``day``: none for liquidations (no endpoint, so
        unknown, never zero), every symbol otherwise."""
        check_table(table)
        return () if table == "liquidations" else self._symbols

    def looked_for(self, table: str, symbol: str, day: str) -> list[str]:
        """What was asked for (table, symbol, day): the endpoint, for the error naming a symbol without rows."""
        check_table(table)
        if table == "liquidations":
            return ["(no liquidation endpoint)"]
        remote = self._spot_symbols.get(symbol, symbol) if table == "spot_bars" else symbol
        return [f"{self._endpoints[table]} symbol={remote} day={parse_day(day).isoformat()}"]

    def health(self) -> dict[str, object]:
        """Counters (success/failure/empty/rate_limited/retries/latency…) and the circuit breaker's state."""
        return {
            "source": self._name,
            **self.client.health.as_dict(),
            "breaker": self.client.breaker.as_dict(),
        }
