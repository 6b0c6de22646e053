"""OhlcvCsvSource against the real files in shared/data/real (skipped if absent; an error in CI) and small tmp_path files.

Truth: known rows of the published files, and an independent pandas reading of the same files for row
counts and values per day; for wide files and adjustment, values computed by hand in the test.
"""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from quant_platform.market.schemas import RawBars
from quant_platform.market.sources.base import RAW_TABLES, MarketDataSource
from quant_platform.market.sources.ohlcv_csv import OhlcvColumns, OhlcvCsvSource
from quant_platform.market.sources.tables import RAW_TABLE_SCHEMAS
from quant_platform_tests.shared_data import real_data_dir, require_real

REAL = real_data_dir()  # QUANT_PLATFORM_REAL_DATA, the repo root's sibling shared/, or a worktree's
STOCKS = REAL / "stocks_daily_ohlcv.csv.gz"
EURUSD = REAL / "eurusd_1h_ask.csv"
EURUSD_COLUMNS = OhlcvColumns(time="Time", symbol=None, adj_close=None)
EURUSD_FORMAT = "%d.%m.%Y %H:%M:%S%.3f"


def need(path: Path) -> Path:
    return require_real(path)


@pytest.fixture(scope="module")
def stocks() -> OhlcvCsvSource:
    return OhlcvCsvSource(need(STOCKS))


@pytest.fixture(scope="module")
def stocks_pandas() -> pd.DataFrame:
    return pd.read_csv(need(STOCKS))


@pytest.fixture(scope="module")
def eurusd() -> OhlcvCsvSource:
    return OhlcvCsvSource(need(EURUSD), symbol="EURUSD", columns=EURUSD_COLUMNS, time_format=EURUSD_FORMAT)


def test_known_stock_row(stocks: OhlcvCsvSource) -> None:
    assert isinstance(stocks, MarketDataSource)
    day = stocks.fetch("perp_bars", "2000-03-01")
    RawBars.validate(day)
    aapl = day.filter(pl.col("symbol") == "AAPL").row(0, named=True)
    assert aapl["ts"] == datetime(2000, 3, 1, tzinfo=UTC)
    assert (aapl["open"], aapl["high"], aapl["low"], aapl["close"], aapl["volume"]) == (
        118.56,
        132.06,
        118.5,
        130.31,
        9616100.0,
    )
    assert aapl["trades"] is None and aapl["quote_volume"] is None and aapl["taker_buy_volume"] is None


def test_stock_days_match_an_independent_pandas_reading(
    stocks: OhlcvCsvSource, stocks_pandas: pd.DataFrame
) -> None:
    assert stocks.symbols == ("AAPL", "FB", "GOOG", "IBM", "MSFT")
    assert stocks.bars.height == len(stocks_pandas) == 12154
    for day in ("2000-03-01", "2004-08-19", "2008-10-10", "2012-05-18", "2013-03-01", "2001-09-12"):
        ours = stocks.fetch("perp_bars", day).sort("symbol")
        ref = stocks_pandas[stocks_pandas["Date"] == day].sort_values("Ticker")
        assert ours.height == len(ref), day
        assert ours["symbol"].to_list() == ref["Ticker"].tolist()
        for ours_col, ref_col in [
            ("open", "Open"),
            ("high", "High"),
            ("low", "Low"),
            ("close", "Close"),
            ("volume", "Volume"),
        ]:
            assert ours[ours_col].to_list() == ref[ref_col].astype(float).tolist(), (day, ours_col)
    # 2001-09-12: markets closed after 9/11; a Saturday: no rows at all.
    assert stocks.fetch("perp_bars", "2001-09-12").height == 0
    assert stocks.fetch("perp_bars", "2000-03-04").height == 0


def test_fb_listing_starts_late(stocks: OhlcvCsvSource, stocks_pandas: pd.DataFrame) -> None:
    assert "FB" not in stocks.fetch("perp_bars", "2012-05-17")["symbol"].to_list()
    fb_rows = stocks.bars.filter(pl.col("symbol") == "FB")
    assert fb_rows["ts"].min() == datetime(2012, 5, 18, tzinfo=UTC)
    assert fb_rows.height == int((stocks_pandas["Ticker"] == "FB").sum())
    assert "FB" in stocks.fetch("perp_bars", "2012-05-18")["symbol"].to_list()


def test_other_tables_are_empty_with_schema(stocks: OhlcvCsvSource) -> None:
    for table in RAW_TABLES:
        if table == "perp_bars":
            continue
        frame = stocks.fetch(table, "2000-03-01")
        assert frame.height == 0 and frame.schema == RAW_TABLE_SCHEMAS[table]


def test_adj_close_ratio_adjusts_prices(stocks_pandas: pd.DataFrame) -> None:
    adjusted = OhlcvCsvSource(need(STOCKS), adjust="adj_close_ratio", symbols=["AAPL"])
    row = adjusted.fetch("perp_bars", "2000-03-01").row(0, named=True)
    ratio = 4.186662803811 / 130.31
    assert row["close"] == pytest.approx(4.186662803811, rel=1e-12)
    assert row["open"] == pytest.approx(118.56 * ratio, rel=1e-12)
    assert row["high"] == pytest.approx(132.06 * ratio, rel=1e-12)
    assert row["low"] == pytest.approx(118.5 * ratio, rel=1e-12)
    assert row["volume"] == 9616100.0
    assert adjusted.symbols == ("AAPL",)
    # The AAPL 7:1 split of 2014 is outside the file, but the 2:1 split of 2005-02-28 is inside:
    # raw closes jump by ~2x, adjusted closes do not.
    raw = OhlcvCsvSource(need(STOCKS), symbols=["AAPL"])
    before, after = "2005-02-25", "2005-02-28"
    raw_jump = raw.fetch("perp_bars", after)["close"][0] / raw.fetch("perp_bars", before)["close"][0]
    adj_jump = (
        adjusted.fetch("perp_bars", after)["close"][0] / adjusted.fetch("perp_bars", before)["close"][0]
    )
    assert raw_jump < 0.6 and 0.9 < adj_jump < 1.1


def test_eurusd_values_counts_and_weekends(eurusd: OhlcvCsvSource) -> None:
    assert eurusd.symbols == ("EURUSD",)
    first = eurusd.fetch("perp_bars", "2017-01-01")
    RawBars.validate(first)
    assert first.select("ts", "open", "high", "low", "close", "volume").rows() == [
        (datetime(2017, 1, 1, 22, tzinfo=UTC), 1.05236, 1.05253, 1.05221, 1.05227, 143539993.3),
        (datetime(2017, 1, 1, 23, tzinfo=UTC), 1.05227, 1.05426, 1.05226, 1.05282, 253139999.4),
    ]
    reference = pd.read_csv(EURUSD)
    reference["day"] = pd.to_datetime(reference["Time"], format="%d.%m.%Y %H:%M:%S.%f").dt.date
    counts = reference.groupby("day").size()
    assert eurusd.bars.height == len(reference) == 6225
    day = date(2017, 1, 1)
    while day <= date(2017, 12, 31):
        expected = int(counts.get(day, 0))
        assert eurusd.fetch("perp_bars", day.isoformat()).height == expected, day
        if day.weekday() == 5:  # Saturdays: the FX market is shut
            assert expected == 0
        day += timedelta(days=1)
    assert eurusd.fetch("perp_bars", "2017-01-02").height == 24


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_close_only_input_is_refused_at_the_source_naming_symbols(tmp_path: Path) -> None:
    """Issue 14: a close-only wide panel used to reach cleaning with null OHLC, every bar quarantined as
    missing_price and an empty green run. Candles are never inferred from closes: the source refuses it."""
    close_only = write(
        tmp_path / "closes.csv", "Date,BTC,ETH\n2024-01-01,42000.5,2300.25\n2024-01-02,,2310\n"
    )
    with pytest.raises(ValueError, match=r"closes\.csv: close-only.*BTC: no open, high, low; ETH: no open"):
        OhlcvCsvSource(close_only, "wide").fetch("perp_bars", "2024-01-01")
    partial = write(tmp_path / "partial.csv", "Date,BTC_open,BTC_close\n2024-01-01,1,2\n")
    with pytest.raises(ValueError, match=r"BTC: no high, low"):
        OhlcvCsvSource(partial, "wide").fetch("perp_bars", "2024-01-01")
    long_file = write(tmp_path / "long.csv", "Date,Ticker,Close\n2024-01-01,X,1\n")
    with pytest.raises(ValueError, match=r"long\.csv: close-only.*no open, high, low"):
        OhlcvCsvSource(long_file, columns={"open": None, "high": None, "low": None, "volume": None})


def test_wide_field_columns(tmp_path: Path) -> None:
    fields = write(
        tmp_path / "fields.csv.gz",
        "ts,BTC_open,BTC_high,BTC_low,BTC_close,BTC_Volume,eth_usd_open,eth_usd_high,eth_usd_low,eth_usd_close\n"
        "2024-01-01T00:00:00,1,2.5,0.5,2,3,4,4,4,4\n2024-01-01T00:05:00,6,7,5,7,8,9,10,9,10\n",
    )
    source = OhlcvCsvSource(fields, "wide", columns=OhlcvColumns(time="ts"))
    assert source.symbols == ("BTC", "eth_usd")
    bars = source.fetch("perp_bars", "2024-01-01")
    assert bars.select("symbol", "ts", "open", "high", "low", "close", "volume").rows() == [
        ("BTC", datetime(2024, 1, 1, 0, 0, tzinfo=UTC), 1.0, 2.5, 0.5, 2.0, 3.0),
        ("BTC", datetime(2024, 1, 1, 0, 5, tzinfo=UTC), 6.0, 7.0, 5.0, 7.0, 8.0),
        ("eth_usd", datetime(2024, 1, 1, 0, 0, tzinfo=UTC), 4.0, 4.0, 4.0, 4.0, None),  # no volume: null
        ("eth_usd", datetime(2024, 1, 1, 0, 5, tzinfo=UTC), 9.0, 10.0, 9.0, 10.0, None),
    ]


def test_time_zone_is_converted_to_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ny.csv", "Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02 20:00,SPY,1,2,0.5,1.5,10\n"
    )
    source = OhlcvCsvSource(path, time_zone="America/New_York", time_format="%Y-%m-%d %H:%M")
    assert source.fetch("perp_bars", "2024-01-03")["ts"].to_list() == [datetime(2024, 1, 3, 1, 0, tzinfo=UTC)]
    assert source.fetch("perp_bars", "2024-01-02").height == 0


def test_ambiguous_local_time_is_an_error_naming_the_line(tmp_path: Path) -> None:
    # 2024-11-03 01:30 happens twice in New York (DST ends): no single UTC instant.
    text = "Date,Ticker,Open,High,Low,Close,Volume\n2024-11-03 00:30,SPY,1,2,0.5,1.5,10\n2024-11-03 01:30,SPY,1,2,0.5,1.5,10\n"
    path = write(tmp_path / "dst.csv", text)
    source = OhlcvCsvSource(path, time_zone="America/New_York", time_format="%Y-%m-%d %H:%M")
    with pytest.raises(
        ValueError, match=r"dst\.csv: column 'Date'.*unambiguous local times.*line 3: '2024-11-03 01:30'"
    ):
        source.fetch("perp_bars", "2024-11-03")


def test_invalid_rows_pass_through(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,X,5,1,9,0,-1\n")
    row = OhlcvCsvSource(path).fetch("perp_bars", "2024-01-02").row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == (5.0, 1.0, 9.0, 0.0, -1.0)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (
            "Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,X,1,2,0.5,abc,3\n",
            {},
            r"column 'Close'.*line 2: 'abc'",
        ),
        ("Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,X,1,2\n", {}, r"line 2: 4 fields"),
        (
            "Date,Ticker,Open,High,Low,Close,Volume\n2024-13-02,X,1,2,0.5,1,3\n",
            {},
            r"column 'Date'.*line 2: '2024-13-02'",
        ),
        (
            "Date,Ticker,Open,High,Low,Close\n2024-01-02,X,1,2,0.5,1\n",
            {},
            r"line 1: columns \['Volume'\] not in header",
        ),
        (
            "Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,X,1,2,0.5,1,3\n",
            {"symbols": ["Y"]},
            r"symbols \['Y'\] not in the file",
        ),
        ("Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,,1,2,0.5,1,3\n", {}, r"line 2: empty symbol"),
        ("Date,BTC,BTC_close\n2024-01-02,1,2\n", {"layout": "wide"}, r"two columns give BTC's close"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, text: str, options: dict, message: str) -> None:
    path = write(tmp_path / "broken.csv", text)
    with pytest.raises(ValueError, match=message) as info:
        OhlcvCsvSource(path, **options).fetch("perp_bars", "2024-01-02")
    assert "broken.csv" in str(info.value)


def test_constructor_rejects_bad_options(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.csv", "Date,Ticker,Open,High,Low,Close,Volume\n")
    with pytest.raises(ValueError, match="does not exist"):
        OhlcvCsvSource(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="layout"):
        OhlcvCsvSource(path, "tall")
    with pytest.raises(ValueError, match="adjust"):
        OhlcvCsvSource(path, adjust="total_return")
    with pytest.raises(ValueError, match="unknown OHLCV column roles"):
        OhlcvCsvSource(path, columns={"timestamp": "t"})
    assert OhlcvCsvSource(path, columns={"time": "Date"}).fetch("perp_bars", "2024-01-02").height == 0
