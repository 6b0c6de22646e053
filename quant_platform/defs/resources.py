"""Resources of the market layer: which data source feeds the graph, and where the store lives."""

import os
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from quant_platform.market.source_checks import KnownEmptyDays

from quant_platform.core import roots
from quant_platform.market.sources.base import MarketDataSource
from quant_platform.market.sources.binance_rest import DEFAULT_BASE_URLS

DEFAULT_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]


class MarketDataResource(dg.ConfigurableResource):
    """A ``MarketDataSource`` chosen by configuration (``kind``), the synthetic market by default.

    kinds: ``synthetic`` (deterministic from ``seed``), ``binance_files`` (a local data-dump tree at ``root``),
    ``binance_rest`` (Binance's documented public futures and spot endpoints by default; ``futures_base_url`` /
    ``spot_base_url`` point either at a mirror; the ``http_*`` and ``breaker_*`` options tune timeouts,
    retries with backoff and the circuit breaker, None meaning the library default of ``RetryPolicy`` /
    ``BinanceRestSource``), ``ohlcv_csv`` (a CSV at ``path``, ``layout`` long or wide, ``symbol`` for a
    single-instrument file), ``synthetic_equity`` (a daily stock panel with listings, delistings, splits and
    dividends over ``equity_start``..``equity_end``; use with ``bar_minutes=1440``, ``sessions="observed"``).
    """

    kind: str = "synthetic"
    symbols: list[str] = DEFAULT_SYMBOLS
    seed: int = 7
    root: str | None = None
    path: str | None = None
    layout: str = "long"
    futures_base_url: str = DEFAULT_BASE_URLS["futures"]  # binance_rest: USD-M futures (perp, funding, OI)
    spot_base_url: str = DEFAULT_BASE_URLS["spot"]  # binance_rest: spot klines
    http_timeout_s: float | None = None  # binance_rest: connect/read timeout per request
    http_max_attempts: int | None = None  # binance_rest: tries per request, the first included
    http_base_delay_s: float | None = None  # binance_rest: backoff base (full jitter, doubling per retry)
    http_max_delay_s: float | None = None  # binance_rest: backoff cap
    http_max_retry_after_s: float | None = None  # binance_rest: longest Retry-After waited for, else fail
    breaker_failure_threshold: int | None = None  # binance_rest: consecutive failures that open the breaker
    breaker_cooldown_s: float | None = None  # binance_rest: open time before a half-open trial
    symbol: str | None = None  # ohlcv_csv: the symbol of a single-instrument file (e.g. EURUSD)
    time_format: str | None = None  # ohlcv_csv: strptime-style format of the time column
    time_column: str | None = None  # ohlcv_csv: name of the time column when it is not "Date"
    # ohlcv_csv: "splits" gives split-adjusted prices (forward, point in time, from the Adj Close column),
    # "adj_close_ratio" Yahoo's backward adjustment, "none" the prices as printed
    adjust: str = "none"
    # ohlcv_csv: "observed" dates each symbol's listing by its first bar and a delisting by a last bar before
    # the file's end, so the market layer grids a symbol only while it is listed
    listings: str = "none"
    # The cleaned grid's bar length: 5 for the crypto sources; the native interval (60, 1440) for CSV sources
    # whose bars are coarser than 5 minutes. Recorded in the bars_5m metadata of every materialization.
    bar_minutes: int = 5
    # "continuous" (every day is a session; a missing bar is a gap row) or "observed" (daily bars only, e.g.
    # equity CSVs: a day on which no symbol traded is a closed session and has no bars_5m rows at all).
    sessions: str = "continuous"
    # Days the source is known to have no bars (ISO dates or weekday names, e.g. "saturday" for hourly FX).
    # Any other day on which a universe symbol gets no bar rows fails raw_perp_bars, naming what was looked for.
    known_empty_days: list[str] = []  # noqa: RUF012 (pydantic copies field defaults per instance)
    # binance_files: "fail" (an unparseable line fails the run, naming file and line) or "quarantine" (the
    # line goes to quarantined_rows as unparseable_line with file, line and reason; the rest is kept).
    unparseable_lines: str = "fail"
    # What kind of bars these are (spec/profiles.yaml: bar length, sessions, asset class), e.g.
    # "us_equity_daily". Set by the code location (QP_PROFILE) with bar_minutes and sessions; run config may
    # repeat it but not contradict it. Empty: the profile of (bar_minutes, sessions), if the spec has one.
    profile: str = ""
    # synthetic_equity: the daily stock panel's first and last day (its sessions, listings and actions are
    # drawn over this span from ``seed`` and ``symbols``).
    equity_start: str = "2015-01-01"
    equity_end: str = "2016-12-31"

    _source: MarketDataSource | None = PrivateAttr(default=None)

    def profile_name(self) -> str | None:
        """The profile of this market data (None: a grid the spec has no profile for)."""
        from quant_platform.specs.profiles import load_profiles

        found = load_profiles().resolve(self.profile or None, self.bar_minutes, self.sessions)
        return found.name if found else None

    def source(self) -> MarketDataSource:
        """The configured source, built once per resource instance.

        The raw tables of a run share it, so they share one REST circuit breaker and one set of health
        counters (and the binance_files monthly cache). Under the multiprocess executor every step process
        initialises its own resource, hence its own source.
        """
        if self._source is None:
            self._source = self._build_source()
        return self._source

    def _build_source(self) -> MarketDataSource:
        from quant_platform.market.sources.factory import make_source

        options: dict = {"symbols": tuple(self.symbols)}
        if self.kind == "synthetic":
            options["seed"] = self.seed
        elif self.kind == "binance_files":
            options["root"] = self.root
            options["unparseable_lines"] = self.unparseable_lines
        elif self.kind == "binance_rest":
            options["base_urls"] = {"futures": self.futures_base_url, "spot": self.spot_base_url}
            options["retry"] = _set(
                timeout_s=self.http_timeout_s,
                max_attempts=self.http_max_attempts,
                base_delay_s=self.http_base_delay_s,
                max_delay_s=self.http_max_delay_s,
                max_retry_after_s=self.http_max_retry_after_s,
            )
            options |= _set(
                breaker_failure_threshold=self.breaker_failure_threshold,
                breaker_cooldown_s=self.breaker_cooldown_s,
            )
        elif self.kind == "ohlcv_csv":
            options.update(path=self.path, layout=self.layout)
            if self.symbol:
                options["symbol"] = self.symbol
            if self.time_format:
                options["time_format"] = self.time_format
            if self.time_column:
                options["columns"] = {"time": self.time_column, "symbol": None, "adj_close": None}
            if self.adjust != "none":
                options["adjust"] = self.adjust
            if self.listings != "none":
                options["listings"] = self.listings
        elif self.kind == "synthetic_equity":
            options.update(seed=self.seed, start=self.equity_start, end=self.equity_end)
        else:
            raise ValueError(f"unknown market data source kind {self.kind!r}")
        if self.unparseable_lines != "fail" and self.kind != "binance_files":
            raise ValueError(
                f"unparseable_lines={self.unparseable_lines!r} is only supported by binance_files"
            )
        return make_source(self.kind, **options)

    def known_empty(self) -> "KnownEmptyDays":
        """``known_empty_days`` parsed (a bad entry is an error naming it)."""
        from quant_platform.market.source_checks import KnownEmptyDays

        return KnownEmptyDays.parse(self.known_empty_days)


def _set(**options: object) -> dict[str, object]:
    """The options given a value: None leaves the library default in force (defaults are not copied here)."""
    return {k: v for k, v in options.items() if v is not None}


def default_store_root() -> str:
    """``$QP_STORE_ROOT`` if set (any fsspec URL), else ``data/store`` in the project checkout.

    Read here, in the Dagster layer, and passed to the library explicitly: the library never reads env vars.
    The rule itself lives in ``core.roots``, shared with the ``qp`` CLI.
    """
    return roots.default_store_root(os.environ)


def default_registry_root() -> str:
    """``$QP_REGISTRY_ROOT`` if set (any fsspec URL), else ``data/registry`` in the project checkout."""
    return roots.default_registry_root(os.environ)
