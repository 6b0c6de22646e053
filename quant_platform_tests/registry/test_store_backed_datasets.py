"""Issue 14, honest inputs: a dataset must describe stored data, and a RunSet pins only symbols with rows.

Probes that passed before the fix: ``qp dataset register --symbols ZZZZ --asset no_such_asset`` was accepted,
and a RunSet whose only symbol had no rows froze as complete ("missing 0"). Truth: the frames the test
writes into a real ParquetStore (symbols and gap flags chosen here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from quant_platform.cli import main
from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform.storage import ParquetStore

DAYS = ["2024-01-01", "2024-01-02"]


def _bars(day: str, symbols: dict[str, bool]) -> pl.DataFrame:
    """One bars_5m-like row per symbol; the value says whether it is a gap row (no price)."""
    ts = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return pl.DataFrame(
        {
            "symbol": list(symbols),
            "ts": [ts] * len(symbols),
            "close": [None if gap else 100.0 for gap in symbols.values()],
            "gap": list(symbols.values()),
        }
    )


@pytest.fixture
def roots(tmp_path: Path) -> tuple[str, str]:
    store = ParquetStore(str(tmp_path / "store"))
    for day in DAYS:
        # FLAT has only gap rows: present in the file, but no priced row
        store.write("bars_5m", day, _bars(day, {"BTCUSDT": False, "ETHUSDT": False, "FLAT": True}))
    return str(tmp_path / "registry"), str(tmp_path / "store")


def _qp(roots: tuple[str, str], *argv: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    registry_root, store_root = roots
    rc = main([*argv, "--registry-root", registry_root, "--store-root", store_root])
    return rc, capsys.readouterr().err


def test_register_refuses_unknown_assets_and_symbols(roots, capsys) -> None:
    base = ["dataset", "register", "--id", "d1", "--source", "synthetic", "--from", DAYS[0], "--to", DAYS[1]]
    rc, err = _qp(roots, *base, "--asset", "no_such_asset", "--symbols", "ZZZZ", capsys=capsys)
    assert rc == 2 and "no_such_asset" in err and "never materialized" in err
    rc, err = _qp(roots, *base, "--asset", "bars_5m", "--symbols", "BTCUSDT", "ZZZZ", capsys=capsys)
    assert rc == 2 and "symbols with no stored row" in err and "['ZZZZ']" in err
    assert "'BTCUSDT', 'ETHUSDT'" in err  # what the store has, to spot the typo
    rc, err = _qp(roots, *base, "--asset", "bars_5m", "--symbols", "FLAT", capsys=capsys)
    assert rc == 2 and "['FLAT']" in err  # gap rows are not data
    registry = Registry(*roots)
    assert registry.datasets() == []  # nothing was recorded
    rc, err = _qp(roots, *base, "--asset", "bars_5m", "--symbols", "BTCUSDT", "ETHUSDT", capsys=capsys)
    assert rc == 0, err
    assert [d.dataset_id for d in registry.datasets()] == ["d1"]


def test_freeze_refuses_a_runset_whose_symbol_has_no_rows(roots) -> None:
    registry = Registry(*roots)
    # registered without the store check (the library default), as older datasets were
    registry.register_dataset(
        DatasetSpec(
            dataset_id="d1",
            source="synthetic",
            assets=["bars_5m"],
            symbols=["BTCUSDT", "SOLUSDT"],
            first_day=DAYS[0],
            last_day=DAYS[1],
        )
    )
    registry.create_runset("sol_only", RunSetSpec(dataset_id="d1", symbols=["SOLUSDT"]))
    resolution = registry.resolve("sol_only")
    assert resolution.complete  # every partition exists: per partition, nothing is missing
    with pytest.raises(ValueError, match=r"1 of 1 symbols have no rows in the resolved data: \['SOLUSDT'\]"):
        registry.freeze("sol_only")
    assert not registry.runset("sol_only").frozen
    assert registry.freeze("sol_only", allow_incomplete=True).frozen  # pinned on purpose, as it is

    registry.create_runset("btc", RunSetSpec(dataset_id="d1", symbols=["BTCUSDT"]))
    assert registry.freeze("btc").frozen
    registry.create_runset(
        "btc_pinned", RunSetSpec(dataset_id="d1", symbols=["SOLUSDT"], mode="reproducible", tags=["x"])
    )
    with pytest.raises(ValueError, match="SOLUSDT"):
        registry.resolve("btc_pinned")  # a reproducible RunSet pins on first resolve: same check
