"""Market data: table schemas, data sources (synthetic, Binance dumps, Binance REST, OHLCV CSV) and cleaning."""
