"""Market data sources. Each one delivers the raw tables of one UTC day for its whole universe."""

from quant_platform.market.sources.base import RAW_TABLES, MarketDataSource

__all__ = ["RAW_TABLES", "MarketDataSource"]
