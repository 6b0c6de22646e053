"""Build a market data source by kind from plain options (what a Dagster resource config holds).

Kinds and their options (keyword arguments of the class they build):

- ``synthetic``: fields of ``SyntheticConfig`` (e.g. ``seed``, ``symbols``, ``gap_rate``); lists become
  tuples and ``planted_effects`` may be given as dicts of ``PlantedEffect`` fields.
- ``binance_files``: :class:`~quant_platform.market.sources.binance_files.BinanceFilesSource`
  (``root``, ``symbols``, ``market``).
- ``binance_rest``: :class:`~quant_platform.market.sources.binance_rest.BinanceRestSource`
  (``base_urls``, ``symbols``, ``page_limits``, breaker settings; ``retry`` may be a dict of
  :class:`~quant_platform.market.sources.resilient_http.RetryPolicy` fields).
- ``ohlcv_csv``: :class:`~quant_platform.market.sources.ohlcv_csv.OhlcvCsvSource` (``path``, ``layout``,
  ``columns`` as a dict of :class:`~quant_platform.market.sources.ohlcv_csv.OhlcvColumns` roles, ``symbol``,
  ``symbols``, ``time_format``, ``time_zone``, ``adjust``).
- ``synthetic_equity``: fields of
  :class:`~quant_platform.market.sources.synthetic_equity.SyntheticEquityConfig` (``symbols``, ``seed``,
  ``start``, ``end``, listing/delisting/dividend shares, ``splits_per_year``): a daily stock panel.

Imports are lazy so that building one kind never imports the others' dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quant_platform.market.sources.base import MarketDataSource

SOURCE_KINDS = ("synthetic", "binance_files", "binance_rest", "ohlcv_csv", "synthetic_equity")


def _tuples(value: Any) -> Any:
    """Lists (from YAML/JSON config) → tuples, recursively, so frozen configs stay hashable."""
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return value


def _synthetic(options: dict[str, Any]) -> MarketDataSource:
    from quant_platform.market.sources.synthetic import PlantedEffect, SyntheticConfig, SyntheticMarket

    effects = options.pop("planted_effects", ())
    config = SyntheticConfig(
        **{k: _tuples(v) for k, v in options.items()},
        planted_effects=tuple(PlantedEffect(**e) if isinstance(e, Mapping) else e for e in effects),
    )
    return SyntheticMarket(config)


def _binance_files(options: dict[str, Any]) -> MarketDataSource:
    from quant_platform.market.sources.binance_files import BinanceFilesSource

    return BinanceFilesSource(**options)


def _binance_rest(options: dict[str, Any]) -> MarketDataSource:
    from quant_platform.market.sources.binance_rest import BinanceRestSource
    from quant_platform.market.sources.resilient_http import RetryPolicy

    retry = options.pop("retry", None)
    if isinstance(retry, Mapping):
        retry = RetryPolicy(**retry)
    return BinanceRestSource(retry=retry, **options)


def _ohlcv_csv(options: dict[str, Any]) -> MarketDataSource:
    from quant_platform.market.sources.ohlcv_csv import OhlcvCsvSource

    return OhlcvCsvSource(**options)


def _synthetic_equity(options: dict[str, Any]) -> MarketDataSource:
    from quant_platform.market.sources.synthetic_equity import SyntheticEquityConfig, SyntheticEquityMarket

    return SyntheticEquityMarket(SyntheticEquityConfig(**{k: _tuples(v) for k, v in options.items()}))


_BUILDERS = {
    "synthetic": _synthetic,
    "binance_files": _binance_files,
    "binance_rest": _binance_rest,
    "ohlcv_csv": _ohlcv_csv,
    "synthetic_equity": _synthetic_equity,
}


def make_source(kind: str, **options: Any) -> MarketDataSource:
    """A :class:`MarketDataSource` of ``kind`` (one of :data:`SOURCE_KINDS`) built from ``options``."""
    if kind not in _BUILDERS:
        raise ValueError(f"unknown market source kind {kind!r}; expected one of {SOURCE_KINDS}")
    try:
        return _BUILDERS[kind](dict(options))
    except TypeError as exc:  # an unknown or missing option: say which kind it was for
        raise ValueError(f"bad options for market source {kind!r}: {exc}") from exc
