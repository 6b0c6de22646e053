"""Issue 15, "silent success on missing data": binance_files runs that used to be green with nothing in them.

Probes (each failed on the code before the fix): a dump root one folder too deep, a misspelt symbol and a
0-byte kline file gave a green run of 100%-gap bars; no liquidation file gave liq_*_notional = 0.0 on every
row; one unparseable line failed a multi-day run with the file and line only mid-log, with no way to keep
the rest. Truth: the rows written into the dump files by the test, the file paths it wrote, and the row
accounting raw = clean + quarantined.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs import market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.storage import ParquetStore
from quant_platform_tests.market.test_binance_files import (
    DAY,
    KLINE_COLUMNS,
    LIQUIDATION_COLUMNS,
    kline_rows,
    perp_kline_path,
    write_dump,
)

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
ASSETS = [*market.raw_assets, market.clean_market]


def _dump(root: Path, symbols=SYMBOLS, n: int = 10) -> Path:
    for sym in symbols:
        write_dump(perp_kline_path(root, sym), KLINE_COLUMNS, kline_rows(n), header=False, as_zip=True)
    return root


def _liquidation_path(root: Path, sym: str) -> Path:
    return root / f"futures/um/daily/liquidationSnapshot/{sym}/{sym}-liquidationSnapshot-{DAY}"


def _run(tmp_path: Path, resource: MarketDataResource, days=(DAY,)) -> dg.ExecuteInProcessResult:
    tags = {
        "dagster/asset_partition_range_start": days[0],
        "dagster/asset_partition_range_end": days[-1],
    }
    return dg.materialize(
        ASSETS,
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": resource,
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags=tags,
    )


def _failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """(step key, description) of the run's one failed step."""
    [failure] = result.get_step_failure_events()
    data = failure.step_failure_data
    text = data.user_failure_data.description if data.user_failure_data else data.error.message
    return failure.step_key, text


def _files(tmp_path: Path, root: Path, symbols=SYMBOLS, **options) -> MarketDataResource:
    return MarketDataResource(kind="binance_files", root=str(root), symbols=list(symbols), **options)


def test_a_root_one_folder_too_deep_fails_naming_root_symbols_and_files(tmp_path: Path) -> None:
    dumps = _dump(tmp_path / "dumps")
    too_deep = dumps / "futures"  # the user pointed at a sub-folder of the dump tree
    result = _run(tmp_path, _files(tmp_path, too_deep))
    assert not result.success
    step, text = _failure(result)
    assert step == "raw_perp_bars"
    assert f"root {too_deep}" in text
    for sym in SYMBOLS:
        assert (
            f"{sym}: looked for {too_deep}/futures/um/daily/klines/{sym}/1m/{sym}-1m-{DAY}.zip (not found)"
            in text
        )
    assert not ParquetStore(str(tmp_path / "store")).partitions("bars_5m")  # nothing downstream ran


def test_a_misspelt_symbol_fails_naming_that_symbol_only(tmp_path: Path) -> None:
    root = _dump(tmp_path / "dumps")
    result = _run(tmp_path, _files(tmp_path, root, symbols=["BTCUSDT", "ETHUSTD"]))
    assert not result.success
    _, text = _failure(result)
    assert "no perp_bars rows on 2024-03-05 for 1 of 2 universe symbols: ETHUSTD: looked for" in text
    assert "ETHUSTD-1m-2024-03-05.zip (not found)" in text and "BTCUSDT:" not in text


def test_a_zero_byte_kline_file_fails_and_says_it_is_empty(tmp_path: Path) -> None:
    root = _dump(tmp_path / "dumps", symbols=["BTCUSDT"])
    empty = perp_kline_path(root, "ETHUSDT").with_name(f"ETHUSDT-1m-{DAY}.csv")
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(b"")
    result = _run(tmp_path, _files(tmp_path, root))
    assert not result.success
    _, text = _failure(result)
    assert f"{empty} (0 bytes)" in text and "ETHUSDT" in text

    empty.unlink()
    empty.with_suffix(".zip").write_bytes(b"")  # a 0-byte zip (an interrupted download) cannot be read at all
    result = _run(tmp_path / "zip", _files(tmp_path, root))
    assert not result.success
    _, text = _failure(result)
    assert f"{empty.with_suffix('.zip')}: not a readable zip file (0 bytes)" in text


def test_a_day_declared_known_empty_runs_green_with_explicit_gap_rows(tmp_path: Path) -> None:
    root = _dump(tmp_path / "dumps", symbols=["BTCUSDT"])
    result = _run(tmp_path, _files(tmp_path, root, known_empty_days=[DAY]))
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    bars = ParquetStore(str(tmp_path / "store")).scan("bars_5m", [DAY])[0].collect()
    eth = bars.filter(pl.col("symbol") == "ETHUSDT")
    assert eth.height == 288 and eth["gap"].all() and eth["close"].is_null().all()
    with pytest.raises(ValueError, match="'someday' is neither"):
        _files(tmp_path, root, known_empty_days=["someday"]).known_empty()


def test_unknown_liquidations_are_null_and_a_known_zero_stays_zero(tmp_path: Path) -> None:
    """BTCUSDT has a liquidation file with one SELL fill, ETHUSDT a file with only its header (known: none),
    SOLUSDT no file (unknown)."""
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    root = _dump(tmp_path / "dumps", symbols=symbols)
    fill = [str(1709596800000 + 90_000), "SELL", "LIMIT", "IOC", "2", "99", "100.5", "FILLED", "2", "2"]
    write_dump(_liquidation_path(root, "BTCUSDT"), LIQUIDATION_COLUMNS, [fill], header=True, as_zip=True)
    write_dump(_liquidation_path(root, "ETHUSDT"), LIQUIDATION_COLUMNS, [], header=True, as_zip=True)
    result = _run(tmp_path, _files(tmp_path, root, symbols=symbols))
    assert result.success
    bars = ParquetStore(str(tmp_path / "store")).scan("bars_5m", [DAY])[0].collect()
    by = {s: bars.filter(pl.col("symbol") == s) for s in symbols}
    btc_long = by["BTCUSDT"]["liq_long_notional"]
    assert btc_long[0] == pytest.approx(201.0) and btc_long[1:].sum() == 0.0 and btc_long.null_count() == 0
    assert by["ETHUSDT"]["liq_long_notional"].to_list() == [0.0] * 288  # a real zero stays zero
    assert by["ETHUSDT"]["liq_short_notional"].to_list() == [0.0] * 288
    sol = by["SOLUSDT"].select("liq_long_notional", "liq_short_notional")
    assert sol.null_count().row(0) == (288, 288)  # unknown is null, gap rows included
    [bars_event] = [
        m
        for m in result.asset_materializations_for_node("clean_market")
        if m.asset_key == dg.AssetKey("bars_5m")
    ]
    assert bars_event.metadata["liquidations_unknown"].value == {DAY: ["SOLUSDT"]}


def _bad_line_dump(root: Path, days: list[str]) -> Path:
    for day in days:
        for sym in SYMBOLS:
            rows = kline_rows(10)
            shift = (int(day[-2:]) - int(DAY[-2:])) * 86_400_000
            for row in rows:
                row[0] = str(int(row[0]) + shift)
            if day == days[-1] and sym == "ETHUSDT":
                rows[3][4] = "12.5x"  # line 4 of the last day's ETHUSDT file
            write_dump(perp_kline_path(root, sym, day), KLINE_COLUMNS, rows, header=False, as_zip=False)
    return root


DAYS = ["2024-03-05", "2024-03-06", "2024-03-07"]


def test_an_unparseable_line_fails_by_default_with_file_and_line_in_the_failure(tmp_path: Path) -> None:
    root = _bad_line_dump(tmp_path / "dumps", DAYS)
    result = _run(tmp_path, _files(tmp_path, root), days=DAYS)
    assert not result.success
    step, text = _failure(result)
    bad_file = perp_kline_path(root, "ETHUSDT", DAYS[-1]).with_name(f"ETHUSDT-1m-{DAYS[-1]}.csv")
    assert step == "raw_perp_bars"
    assert text.startswith(f"raw_perp_bars {DAYS[-1]}: unreadable source data: {bad_file}: column 'close'")
    assert "line 4: '12.5x'" in text and "unparseable_lines: quarantine" in text
    run_error = result.get_run_failure_event().event_specific_data.error  # the run's own failure record
    assert str(bad_file) in run_error.message and "line 4: '12.5x'" in run_error.message


def test_unparseable_lines_can_be_quarantined_and_the_rest_kept(tmp_path: Path) -> None:
    root = _bad_line_dump(tmp_path / "dumps", DAYS)
    result = _run(tmp_path, _files(tmp_path, root, unparseable_lines="quarantine"), days=DAYS)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    store = ParquetStore(str(tmp_path / "store"))
    assert store.partitions("bars_5m") == DAYS
    raw = store.scan("raw_perp_bars", [DAYS[-1]])[0].collect()
    assert raw.filter(pl.col("symbol") == "ETHUSDT").height == 9  # the other 9 lines are kept
    quarantined = store.scan("quarantined_rows", [DAYS[-1]])[0].collect()
    [row] = quarantined.filter(pl.col("reason") == "unparseable_line").iter_rows(named=True)
    payload = json.loads(row["payload"])
    assert row["source_table"] == "perp_bars" and row["symbol"] == "ETHUSDT" and row["ts"] is None
    assert payload["file"].endswith(f"ETHUSDT-1m-{DAYS[-1]}.csv") and payload["line"] == 4
    assert "'close'" in payload["why"] and "12.5x" in payload["text"]
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "reconciliation"]
    accounting = check.metadata["per_day"].value[-1]["accounting"]["perp_bars"]
    assert accounting == {"raw": 20, "clean": 19, "quarantined": 1}  # the line counts as read
    with pytest.raises(ValueError, match="only supported by binance_files"):
        MarketDataResource(unparseable_lines="quarantine").source()
