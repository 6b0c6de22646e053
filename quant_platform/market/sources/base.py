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
