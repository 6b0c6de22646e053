"""The contract every market data source fulfils.

A source answers "give me raw table X for UTC day D" for every symbol of its universe at once. It returns
rows as delivered (possibly invalid: cleaning decides, and quarantines with a reason), in the column layout
of :mod:`quant_platform.market.schemas`. Sources never repair data.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import polars as pl

RAW_TABLES = ("perp_bars", "spot_bars", "funding", "open_interest", "liquidations")


@runtime_checkable
class MarketDataSource(Protocol):
    """A deterministic provider of raw market tables, one UTC day at a time."""

    @property
    def name(self) -> str: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        """Raw rows of ``table`` (one of :data:`RAW_TABLES`) whose ``ts`` falls on ``day`` (``YYYY-MM-DD``)."""
        ...


def covered_symbols(source: MarketDataSource, table: str, day: str) -> tuple[str, ...]:
    """The symbols whose ``table`` the source knows for ``day`` (an answer without rows then means none
    happened); a symbol outside it has unknown data. A source without ``covered`` (the synthetic market)
    knows every table of every symbol."""
    covered = getattr(source, "covered", None)
    return tuple(covered(table, day)) if callable(covered) else tuple(source.symbols)


def looked_for(source: MarketDataSource, table: str, symbol: str, day: str) -> list[str]:
    """What the source tried for (table, symbol, day), when it can say (files with their sizes, endpoints)."""
    describe = getattr(source, "looked_for", None)
    return list(describe(table, symbol, day)) if callable(describe) else []
