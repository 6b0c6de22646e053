"""Resources of the market layer: which data source feeds the graph, and where the store lives."""

import os

import dagster as dg

from quant_platform.core import roots
from quant_platform.market.sources.base import MarketDataSource

DEFAULT_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]


class MarketDataResource(dg.ConfigurableResource):
    """A ``MarketDataSource`` chosen by configuration (``kind``), the synthetic market by default.

    kinds: ``synthetic`` (deterministic from ``seed``), ``binance_files`` (a local data-dump tree at ``root``),
    ``binance_rest`` (public endpoints; ``base_url`` to point at a mirror), ``ohlcv_csv`` (a CSV at ``path``,
    ``layout`` long or wide, ``symbol`` for a single-instrument file).
    """

    kind: str = "synthetic"
    symbols: list[str] = DEFAULT_SYMBOLS
    seed: int = 7
    root: str | None = None
    path: str | None = None
    layout: str = "long"
    base_url: str | None = None
    symbol: str | None = None  # ohlcv_csv: the symbol of a single-instrument file (e.g. EURUSD)
    time_format: str | None = None  # ohlcv_csv: strptime-style format of the time column
    time_column: str | None = None  # ohlcv_csv: name of the time column when it is not "Date"
    # The cleaned grid's bar length: 5 for the crypto sources; the native interval (60, 1440) for CSV sources
    # whose bars are coarser than 5 minutes. Recorded in the bars_5m metadata of every materialization.
    bar_minutes: int = 5

    def source(self) -> MarketDataSource:
        from quant_platform.market.sources.factory import make_source

        options: dict = {"symbols": tuple(self.symbols)}
        if self.kind == "synthetic":
            options["seed"] = self.seed
        elif self.kind == "binance_files":
            options["root"] = self.root
        elif self.kind == "binance_rest":
            if self.base_url:
                options["base_urls"] = self.base_url
        elif self.kind == "ohlcv_csv":
            options.update(path=self.path, layout=self.layout)
            if self.symbol:
                options["symbol"] = self.symbol
            if self.time_format:
                options["time_format"] = self.time_format
            if self.time_column:
                options["columns"] = {"time": self.time_column, "symbol": None, "adj_close": None}
        else:
            raise ValueError(f"unknown market data source kind {self.kind!r}")
        return make_source(self.kind, **options)


def default_store_root() -> str:
    """``$QP_STORE_ROOT`` if set (any fsspec URL), else ``data/store`` in the project checkout.

    Read here, in the Dagster layer, and passed to the library explicitly: the library never reads env vars.
    The rule itself lives in ``core.roots``, shared with the ``qp`` CLI.
    """
    return roots.default_store_root(os.environ)


def default_registry_root() -> str:
    """``$QP_REGISTRY_ROOT`` if set (any fsspec URL), else ``data/registry`` in the project checkout."""
    return roots.default_registry_root(os.environ)
