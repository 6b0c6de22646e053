"""BinanceFilesSource against small dump files written in tmp_path, in every published variant.

Truth: the values written into the fixtures (hand-made rows in the Binance column orders), checked back
exactly after parsing, and the schema (pandera) validation of every returned frame.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from quant_platform.market.schemas import RawBars, RawFunding, RawLiquidations, RawOpenInterest
from quant_platform.market.sources.base import MarketDataSource
from quant_platform.market.sources.binance_files import (
    FUNDING_COLUMNS,
    KLINE_COLUMNS,
    LIQUIDATION_COLUMNS,
    METRICS_COLUMNS,
    BinanceFilesSource,
)
from quant_platform.market.sources.tables import RAW_TABLE_SCHEMAS

DAY = "2024-03-05"
DAY_MS = int(datetime(2024, 3, 5, tzinfo=UTC).timestamp() * 1000)
MINUTE_MS = 60_000


def kline_rows(n: int, *, unit: str = "ms") -> list[list[str]]:
    scale = 1000 if unit == "us" else 1
    rows = []
    for i in range(n):
        open_time = (DAY_MS + i * MINUTE_MS) * scale
        close_time = (DAY_MS + (i + 1) * MINUTE_MS - 1) * scale
        price = 100.0 + i
        rows.append(
            [
                str(open_time),
                f"{price:.2f}",
                f"{price + 0.5:.2f}",
                f"{price - 0.25:.2f}",
                f"{price + 0.125:.3f}",
                f"{10 + i}.5",
                str(close_time),
                f"{(10 + i) * price:.1f}",
                str(7 + i),
                f"{i}.25",
                f"{i * 100}.75",
                "0",
            ]
        )
    return rows


def write_dump(
    path: Path, columns: tuple[str, ...], rows: list[list[str]], *, header: bool, as_zip: bool
) -> Path:
    lines = ([",".join(columns)] if header else []) + [",".join(r) for r in rows]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if as_zip:
        target = path.with_name(path.name + ".zip")
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(path.name + ".csv", text)
        return target
    target = path.with_name(path.name + ".csv")
    target.write_text(text)
    return target


def perp_kline_path(root: Path, sym: str, day: str = DAY, market: str = "um") -> Path:
    return root / f"futures/{market}/daily/klines/{sym}/1m/{sym}-1m-{day}"


def spot_kline_path(root: Path, sym: str, day: str = DAY) -> Path:
    return root / f"spot/daily/klines/{sym}/1m/{sym}-1m-{day}"


@pytest.mark.parametrize("as_zip", [True, False])
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("unit", ["ms", "us"])
def test_klines_all_variants_parse_to_exact_values(
    tmp_path: Path, as_zip: bool, header: bool, unit: str
) -> None:
    rows = kline_rows(3, unit=unit)
    write_dump(spot_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=header, as_zip=as_zip)
    source = BinanceFilesSource(tmp_path, ["BTCUSDT"])
    frame = source.fetch("spot_bars", DAY)
    RawBars.validate(frame)
    assert frame.schema == RAW_TABLE_SCHEMAS["spot_bars"]
    expected = pl.DataFrame(
        {
            "symbol": ["BTCUSDT"] * 3,
            "ts": [datetime(2024, 3, 5, 0, m, tzinfo=UTC) for m in range(3)],
            "open": [100.0, 101.0, 102.0],
            "high": [100.5, 101.5, 102.5],
            "low": [99.75, 100.75, 101.75],
            "close": [100.125, 101.125, 102.125],
            "volume": [10.5, 11.5, 12.5],
            "quote_volume": [1000.0, 1111.0, 1224.0],
            "trades": [7, 8, 9],
            "taker_buy_volume": [0.25, 1.25, 2.25],
            "taker_buy_quote_volume": [0.75, 100.75, 200.75],
        },
        schema=RAW_TABLE_SCHEMAS["spot_bars"],
    )
    assert frame.equals(expected)
    assert source.missing_files == []


def test_perp_klines_for_several_symbols_and_cm_market(tmp_path: Path) -> None:
    write_dump(
        perp_kline_path(tmp_path, "BTCUSD_PERP", market="cm"),
        KLINE_COLUMNS,
        kline_rows(2),
        header=True,
        as_zip=True,
    )
    write_dump(
        perp_kline_path(tmp_path, "ETHUSD_PERP", market="cm"),
        KLINE_COLUMNS,
        kline_rows(4),
        header=False,
        as_zip=True,
    )
    source = BinanceFilesSource(tmp_path, ["BTCUSD_PERP", "ETHUSD_PERP"], market="cm")
    frame = source.fetch("perp_bars", DAY)
    assert frame.group_by("symbol").len().sort("symbol").rows() == [("BTCUSD_PERP", 2), ("ETHUSD_PERP", 4)]
    assert isinstance(source, MarketDataSource)


def test_monthly_klines_are_used_when_the_daily_file_is_missing_and_cut_to_the_day(tmp_path: Path) -> None:
    # Two bars on the 5th and one on the 6th in a monthly file: only the requested day's rows come back.
    rows = [*kline_rows(2), [str(DAY_MS + 86400000), *kline_rows(1)[0][1:]]]
    monthly = tmp_path / "futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03"
    write_dump(monthly, KLINE_COLUMNS, rows, header=False, as_zip=True)
    source = BinanceFilesSource(tmp_path, ["BTCUSDT"])
    assert source.fetch("perp_bars", DAY).height == 2
    assert source.fetch("perp_bars", "2024-03-06")["ts"].to_list() == [datetime(2024, 3, 6, tzinfo=UTC)]
    assert source.health()["files_read"] == 1  # the monthly file was parsed once and cached


def test_daily_file_rows_outside_the_day_pass_through_for_cleaning(tmp_path: Path) -> None:
    rows = [*kline_rows(1), [str(DAY_MS + 86400000), *kline_rows(1)[0][1:]]]
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=False, as_zip=False)
    frame = BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)
    assert frame["ts"].to_list() == [datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC)]


def test_invalid_rows_pass_through_unrepaired(tmp_path: Path) -> None:
    rows = kline_rows(2)
    rows[0][2], rows[0][3] = "90.0", "110.0"  # high < low
    rows[1][5] = "-3"  # negative volume
    rows[1][1] = ""  # missing open
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=False, as_zip=True)
    frame = BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)
    assert frame["high"][0] == 90.0 and frame["low"][0] == 110.0
    assert frame["volume"][1] == -3.0
    assert frame["open"][1] is None


def test_missing_day_gives_empty_frame_and_a_recorded_reason(tmp_path: Path) -> None:
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, kline_rows(2), header=False, as_zip=True)
    source = BinanceFilesSource(tmp_path, ["BTCUSDT", "ETHUSDT"])
    frame = source.fetch("perp_bars", DAY)
    assert frame["symbol"].unique().to_list() == ["BTCUSDT"]
    [missing] = source.missing_files
    assert (missing.table, missing.symbol, missing.day, missing.reason) == (
        "perp_bars",
        "ETHUSDT",
        DAY,
        "file not found",
    )
    assert any(p.endswith("ETHUSDT-1m-2024-03-05.zip") for p in missing.tried)
    empty = source.fetch("liquidations", DAY)
    assert empty.height == 0 and empty.schema == RAW_TABLE_SCHEMAS["liquidations"]
    health = source.health()
    assert health["files_missing"] == 3 and health["rows"] == {"perp_bars": 2, "liquidations": 0}
    assert health["empty"] == 0


def test_file_without_rows_for_the_day_counts_as_empty(tmp_path: Path) -> None:
    write_dump(spot_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, [], header=True, as_zip=True)
    source = BinanceFilesSource(tmp_path, ["BTCUSDT"])
    frame = source.fetch("spot_bars", DAY)
    assert frame.height == 0 and frame.schema == RAW_TABLE_SCHEMAS["spot_bars"]
    assert source.health()["empty"] == 1 and source.missing_files == []


def test_spot_symbol_mapping_reads_the_spot_pair_under_the_universe_symbol(tmp_path: Path) -> None:
    write_dump(spot_kline_path(tmp_path, "PEPEUSDT"), KLINE_COLUMNS, kline_rows(2), header=False, as_zip=True)
    write_dump(
        perp_kline_path(tmp_path, "1000PEPEUSDT"), KLINE_COLUMNS, kline_rows(1), header=False, as_zip=True
    )
    source = BinanceFilesSource(tmp_path, ["1000PEPEUSDT"], spot_symbols={"1000PEPEUSDT": "PEPEUSDT"})
    assert source.fetch("spot_bars", DAY)["symbol"].to_list() == ["1000PEPEUSDT"] * 2
    assert source.fetch("perp_bars", DAY)["symbol"].to_list() == ["1000PEPEUSDT"]


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        BinanceFilesSource(tmp_path / "nope", ["BTCUSDT"])


def test_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    rows = kline_rows(3)
    rows[1] = rows[1][:-1]
    path = write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=True, as_zip=False)
    with pytest.raises(ValueError, match=r"BTCUSDT-1m-2024-03-05\.csv.*line 3: 11 fields") as info:
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)
    assert str(path) in str(info.value)


def test_non_numeric_text_names_file_and_line(tmp_path: Path) -> None:
    rows = kline_rows(3)
    rows[2][4] = "12,5".replace(",", ";")
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=False, as_zip=True)
    with pytest.raises(ValueError, match=r"BTCUSDT-1m-2024-03-05\.zip: column 'close'.*line 3: '12;5'"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)


def test_mixed_epoch_units_in_one_file_are_an_error(tmp_path: Path) -> None:
    rows = kline_rows(3)
    rows[1][0] = str(int(rows[1][0]) * 1000)
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=False, as_zip=False)
    with pytest.raises(ValueError, match=r"mixes millisecond and microsecond.*lines \[2\]"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)


def test_unexpected_header_is_an_error(tmp_path: Path) -> None:
    columns = ("open_time", "close", *KLINE_COLUMNS[2:])
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), columns, kline_rows(1), header=True, as_zip=False)
    with pytest.raises(ValueError, match="line 1: unexpected header"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)


@pytest.mark.parametrize("header", [True, False])
def test_funding_monthly_file_cut_to_the_day(tmp_path: Path, header: bool) -> None:
    eight_h = 8 * 3_600_000
    times = [DAY_MS - eight_h, DAY_MS, DAY_MS + eight_h, DAY_MS + 2 * eight_h, DAY_MS + 3 * eight_h]
    rows = [[str(t + 5), "8", f"0.000{i + 1}"] for i, t in enumerate(times)]
    path = tmp_path / "futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-03"
    write_dump(path, FUNDING_COLUMNS, rows, header=header, as_zip=True)
    frame = BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("funding", DAY)
    RawFunding.validate(frame)
    assert frame["funding_rate"].to_list() == [0.0002, 0.0003, 0.0004]
    assert frame["ts"].to_list() == [datetime(2024, 3, 5, h, 0, 0, 5000, tzinfo=UTC) for h in (0, 8, 16)]
    assert frame["mark_price"].null_count() == 3


@pytest.mark.parametrize("header", [True, False])
def test_metrics_with_datetime_strings(tmp_path: Path, header: bool) -> None:
    rows = [
        ["2024-03-05 00:00:00", "BTCUSDT", "81234.5", "5512345678.25", "1.9", "2.1", "1.7", "0.95"],
        ["2024-03-05 00:05:00", "BTCUSDT", "81240.0", "", "", "", "", ""],
    ]
    path = tmp_path / f"futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-{DAY}"
    write_dump(path, METRICS_COLUMNS, rows, header=header, as_zip=True)
    frame = BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("open_interest", DAY)
    RawOpenInterest.validate(frame)
    assert frame.rows() == [
        ("BTCUSDT", datetime(2024, 3, 5, 0, 0, tzinfo=UTC), 81234.5, 5512345678.25),
        ("BTCUSDT", datetime(2024, 3, 5, 0, 5, tzinfo=UTC), 81240.0, None),
    ]


def test_metrics_bad_datetime_and_foreign_symbol_are_errors(tmp_path: Path) -> None:
    path = tmp_path / f"futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-{DAY}"
    write_dump(
        path,
        METRICS_COLUMNS,
        [["2024-03-05 25:00:00", "BTCUSDT", "1", "2", "", "", "", ""]],
        header=False,
        as_zip=False,
    )
    with pytest.raises(ValueError, match=r"metrics-2024-03-05\.csv: column 'create_time'.*line 1"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("open_interest", DAY)
    write_dump(
        path,
        METRICS_COLUMNS,
        [["2024-03-05 00:00:00", "ETHUSDT", "1", "2", "", "", "", ""]],
        header=True,
        as_zip=False,
    )
    with pytest.raises(ValueError, match=r"line 2: symbol 'ETHUSDT'"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("open_interest", DAY)


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_liquidation_snapshot(tmp_path: Path, unit: str) -> None:
    scale = 1000 if unit == "us" else 1
    rows = [
        [
            str((DAY_MS + 1234) * scale),
            "SELL",
            "LIMIT",
            "IOC",
            "0.5",
            "60000",
            "60010.5",
            "FILLED",
            "0.5",
            "0.5",
        ],
        [str((DAY_MS + 99_000) * scale), "BUY", "LIMIT", "IOC", "2", "61000", "61020", "FILLED", "1", "2"],
    ]
    path = tmp_path / f"futures/um/daily/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-{DAY}"
    write_dump(path, LIQUIDATION_COLUMNS, rows, header=True, as_zip=True)
    frame = BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("liquidations", DAY)
    RawLiquidations.validate(frame)
    assert frame.rows() == [
        ("BTCUSDT", datetime(2024, 3, 5, 0, 0, 1, 234000, tzinfo=UTC), "SELL", 60010.5, 0.5, 30005.25),
        ("BTCUSDT", datetime(2024, 3, 5, 0, 1, 39, tzinfo=UTC), "BUY", 61020.0, 2.0, 122040.0),
    ]


def test_unknown_table_and_bad_day_are_errors(tmp_path: Path) -> None:
    source = BinanceFilesSource(tmp_path, ["BTCUSDT"])
    with pytest.raises(ValueError, match="unknown raw table"):
        source.fetch("trades", DAY)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        source.fetch("perp_bars", "2024/03/05")


def test_zip_with_several_members_is_an_error(tmp_path: Path) -> None:
    target = perp_kline_path(tmp_path, "BTCUSDT")
    target.parent.mkdir(parents=True)
    with zipfile.ZipFile(target.with_name(target.name + ".zip"), "w") as archive:
        archive.writestr("a.csv", "")
        archive.writestr("b.csv", "")
    with pytest.raises(
        ValueError, match=r"expected exactly one file inside the zip, found \['a.csv', 'b.csv'\]"
    ):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)


# ---- unparseable lines: quarantine mode (issue 15) ----------------------------------------------------------
def test_quarantine_mode_keeps_readable_lines_and_reports_each_bad_one(tmp_path: Path) -> None:
    rows = kline_rows(5)
    rows[1][4] = "abc"  # line 3 with a header: a close that is no number
    rows[3] = rows[3][:-2]  # line 5: 10 fields
    path = write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, rows, header=True, as_zip=True)
    with pytest.raises(ValueError, match="line 5: 10 fields"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"]).fetch("perp_bars", DAY)  # the default still fails
    source = BinanceFilesSource(tmp_path, ["BTCUSDT"], unparseable_lines="quarantine")
    frame = source.fetch("perp_bars", DAY)
    assert frame["open"].to_list() == [100.0, 102.0, 104.0]  # rows 1, 3, 5 of the written five
    bad = source.rejected_lines("perp_bars", DAY)
    assert [(b.line, b.symbol, b.day, b.file) for b in bad] == [
        (5, "BTCUSDT", DAY, str(path)),
        (3, "BTCUSDT", DAY, str(path)),
    ]  # in the order the parse steps found them: field counts first, then values
    assert bad[0].reason == "10 fields, expected 12" and bad[0].text == ",".join(rows[3])
    assert "column 'close': abc is not Float64 numbers" == bad[1].reason
    assert source.health()["unparseable_lines"] == 2
    with pytest.raises(ValueError, match="unparseable_lines must be one of"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"], unparseable_lines="skip")


def test_quarantined_monthly_lines_belong_to_the_day_of_their_stamp(tmp_path: Path) -> None:
    next_day = [str(DAY_MS + 86400000), *kline_rows(1)[0][1:]]
    rows = [*kline_rows(2), next_day]
    rows[2] = [*rows[2][:4], "x", *rows[2][5:]]  # the 6th's line has a bad close
    monthly = tmp_path / "futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03"
    write_dump(monthly, KLINE_COLUMNS, rows, header=False, as_zip=True)
    source = BinanceFilesSource(tmp_path, ["BTCUSDT"], unparseable_lines="quarantine")
    assert source.rejected_lines("perp_bars", DAY) == []
    [line] = source.rejected_lines("perp_bars", "2024-03-06")  # read on demand, placed by its stamp
    assert (line.line, line.day) == (3, "2024-03-06")
    assert source.fetch("perp_bars", "2024-03-06").height == 0

    rows[1][0] = "12:00"  # a monthly line whose time cannot be read cannot be placed in any day
    write_dump(monthly, KLINE_COLUMNS, rows, header=False, as_zip=True)
    with pytest.raises(ValueError, match=r"line 2: .*cannot be placed in a day"):
        BinanceFilesSource(tmp_path, ["BTCUSDT"], unparseable_lines="quarantine").fetch("perp_bars", DAY)


def test_covered_and_looked_for_describe_the_files(tmp_path: Path) -> None:
    write_dump(perp_kline_path(tmp_path, "BTCUSDT"), KLINE_COLUMNS, kline_rows(1), header=False, as_zip=True)
    liq = tmp_path / f"futures/um/daily/liquidationSnapshot/ETHUSDT/ETHUSDT-liquidationSnapshot-{DAY}"
    write_dump(liq, LIQUIDATION_COLUMNS, [], header=True, as_zip=False)
    source = BinanceFilesSource(tmp_path, ["BTCUSDT", "ETHUSDT"])
    assert source.covered("perp_bars", DAY) == ("BTCUSDT",)
    assert source.covered("liquidations", DAY) == ("ETHUSDT",)  # a file without rows: known, none
    described = source.looked_for("perp_bars", "ETHUSDT", DAY)
    assert described[0] == f"{perp_kline_path(tmp_path, 'ETHUSDT')}.zip (not found)"
    assert len(described) == 4  # daily zip and csv, then monthly zip and csv
    size = perp_kline_path(tmp_path, "BTCUSDT").with_name(f"BTCUSDT-1m-{DAY}.zip").stat().st_size
    assert source.looked_for("perp_bars", "BTCUSDT", DAY)[0].endswith(f".zip ({size} bytes)")
