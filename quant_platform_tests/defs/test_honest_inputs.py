"""Issue 14, honest inputs, through real Dagster runs of the market layer on daily equity-style CSVs.

Probes that were green before the fix: a close-only wide panel (every bar quarantined as missing_price,
bars_5m with 0 rows, every check passing), and more generally a session day whose bars were all
quarantined (taken for a holiday). Truth: the files written here (prices chosen by hand).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from quant_platform.defs import market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.storage import ParquetStore

DAYS = ("2024-01-02", "2024-01-03")  # a Tuesday and a Wednesday


def _run(tmp_path: Path, resource: MarketDataResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*market.raw_assets, market.clean_market],
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": resource,
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": DAYS[0],
            "dagster/asset_partition_range_end": DAYS[1],
        },
    )


def _daily(path: Path, layout: str = "long", symbols: list[str] | None = None) -> MarketDataResource:
    return MarketDataResource(
        kind="ohlcv_csv",
        path=str(path),
        layout=layout,
        symbols=symbols or ["AAA", "BBB"],
        bar_minutes=1440,
        sessions="observed",
    )


def test_a_close_only_panel_fails_at_the_source_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "closes.csv"
    path.write_text("Date,AAA,BBB\n2024-01-02,10.5,20.25\n2024-01-03,10.75,20.5\n")
    result = _run(tmp_path, _daily(path, layout="wide"))
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "raw_perp_bars"
    message = failure.step_failure_data.error.message
    assert str(path) in message and "close-only" in message and "AAA: no open, high, low" in message
    assert not ParquetStore(str(tmp_path / "store")).partitions("bars_5m")


def test_a_session_whose_bars_are_all_quarantined_fails_the_reconciliation(tmp_path: Path) -> None:
    """Every bar of 2024-01-03 has high below low: before, the day counted as a closed market (0 rows, green)."""
    path = tmp_path / "panel.csv"
    path.write_text(
        "Ticker,Date,Open,High,Low,Close,Volume\n"
        "AAA,2024-01-02,10,11,9,10.5,100\nBBB,2024-01-02,20,21,19,20.5,200\n"
        "AAA,2024-01-03,10,9,11,10.5,100\nBBB,2024-01-03,20,19,21,20.5,200\n"
    )
    result = _run(tmp_path, _daily(path))
    assert not result.success  # the blocking reconciliation check failed
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "reconciliation"]
    assert not check.passed
    per_day = {d["day"]: d for d in check.metadata["per_day"].value}
    assert per_day[DAYS[0]]["passed"] and per_day[DAYS[0]]["symbols_without_clean_bars"] == []
    bad = per_day[DAYS[1]]
    assert not bad["passed"] and not bad["market_closed"]
    assert bad["symbols_without_clean_bars"] == ["AAA", "BBB"]
    assert bad["accounting"]["perp_bars"] == {"raw": 2, "clean": 0, "quarantined": 2}
