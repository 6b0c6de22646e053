"""Resources of the market layer: which data source feeds the graph, and where the store lives."""

import os
from pathlib import Path

import dagster as dg

from quant_platform.market.sources.base import MarketDataSource

DEFAULT_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]


class MarketDataResource(dg.ConfigurableResource):
    """A ``MarketDataSource`` chosen by configuration (``kind``), the synthetic market by default.

    kinds: ``synthetic`` (deterministic from ``seed``), ``binance_files`` (a local data-dump tree at ``root``),
    ``binance_rest`` (public endpoints; ``base_url`` to point at a mirror), ``ohlcv_csv`` (a CSV at ``path``).
    """

    kind: str = "synthetic"
    symbols: list[str] = DEFAULT_SYMBOLS
    seed: int = 7
    root: str | None = None
    path: str | None = None
    layout: str = "long"
    base_url: str | None = None

    def source(self) -> MarketDataSource:
        from quant_platform.market.sources.factory import make_source

        options: dict = {"symbols": tuple(self.symbols)}
        if self.kind == "synthetic":
            options["seed"] = self.seed
        elif self.kind == "binance_files":
            options["root"] = self.root
        elif self.kind == "binance_rest":
            if self.base_url:
                options["base_url"] = self.base_url
        elif self.kind == "ohlcv_csv":
            options.update(path=self.path, layout=self.layout)
        else:
            raise ValueError(f"unknown market data source kind {self.kind!r}")
        return make_source(self.kind, **options)


def default_store_root() -> str:
    """``$QP_STORE_ROOT`` if set (any fsspec URL), else ``data/store`` in the project checkout.

    Read here, in the Dagster layer, and passed to the library explicitly: the library never reads env vars.
    """
    return os.environ.get("QP_STORE_ROOT") or str(Path(__file__).resolve().parents[2] / "data" / "store")
