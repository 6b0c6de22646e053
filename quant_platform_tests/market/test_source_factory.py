"""make_source builds each kind from plain (YAML-like) options and rejects unknown kinds and options.

Truth: the built object is the documented class, satisfies the protocol, and behaves like one built
directly (same frame for the same input).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from quant_platform.market.sources.base import MarketDataSource
from quant_platform.market.sources.binance_files import BinanceFilesSource
from quant_platform.market.sources.binance_rest import BinanceRestSource
from quant_platform.market.sources.factory import SOURCE_KINDS, make_source
from quant_platform.market.sources.ohlcv_csv import OhlcvColumns, OhlcvCsvSource


def test_builds_file_rest_and_csv_kinds(tmp_path: Path) -> None:
    files = make_source("binance_files", root=str(tmp_path), symbols=["BTCUSDT"], market="cm")
    assert isinstance(files, BinanceFilesSource) and files.symbols == ("BTCUSDT",)
    rest = make_source(
        "binance_rest",
        base_urls="http://127.0.0.1:9",
        symbols=["BTCUSDT", "ETHUSDT"],
        retry={"max_attempts": 2, "timeout_s": 1.0, "seed": 3},
        breaker_failure_threshold=2,
    )
    assert isinstance(rest, BinanceRestSource)
    assert rest.client.retry.max_attempts == 2 and rest.client.breaker.failure_threshold == 2
    csv = tmp_path / "fx.csv"
    csv.write_text("Time,Open,High,Low,Close,Volume\n02.01.2017 00:00:00.000,1,2,0.5,1.5,10\n")
    built = make_source(
        "ohlcv_csv",
        path=str(csv),
        symbol="EURUSD",
        columns={"time": "Time", "symbol": None, "adj_close": None},
        time_format="%d.%m.%Y %H:%M:%S%.3f",
    )
    direct = OhlcvCsvSource(
        csv,
        symbol="EURUSD",
        columns=OhlcvColumns(time="Time", symbol=None, adj_close=None),
        time_format="%d.%m.%Y %H:%M:%S%.3f",
    )
    assert isinstance(built, MarketDataSource)
    assert built.fetch("perp_bars", "2017-01-02").equals(direct.fetch("perp_bars", "2017-01-02"))
    assert built.fetch("perp_bars", "2017-01-02").height == 1


def test_unknown_kind_and_bad_options_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown market source kind 'csv'"):
        make_source("csv")
    with pytest.raises(ValueError, match="bad options for market source 'binance_files'"):
        make_source("binance_files", root=str(tmp_path), symbols=["X"], colour="red")
    assert set(SOURCE_KINDS) == {
        "synthetic",
        "binance_files",
        "binance_rest",
        "ohlcv_csv",
        "synthetic_equity",
    }


@pytest.mark.skipif(
    importlib.util.find_spec("quant_platform.market.sources.synthetic") is None,
    reason="the synthetic source lives on another branch until merged",
)
def test_builds_synthetic_from_plain_options() -> None:
    from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket

    built = make_source("synthetic", seed=11, symbols=["BTCUSDT", "ETHUSDT"])
    direct = SyntheticMarket(SyntheticConfig(seed=11, symbols=("BTCUSDT", "ETHUSDT")))
    assert isinstance(built, SyntheticMarket) and built.symbols == ("BTCUSDT", "ETHUSDT")
    assert built.fetch("funding", "2024-01-02").equals(direct.fetch("funding", "2024-01-02"))
