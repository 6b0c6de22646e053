"""``qp champion`` end to end on a registry and store, and the ledger's projection in the DuckDB cache."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from quant_platform.cli import main
from quant_platform.registry import RunSetSpec
from quant_platform.registry.cache import query_cache
from quant_platform.storage import ParquetStore
from quant_platform_tests.governance.world import DAY0, World


def test_champion_cli_decide_show_history_rollback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    world = World(tmp_path)
    world.registry.create_runset("rs", RunSetSpec(dataset_id="live_v1", symbols=["BTCUSDT"]))
    runset_id = world.registry.runset("rs").runset_id
    ParquetStore(str(tmp_path / "store")).write(
        "strategy_blueprints", "rs", pl.DataFrame({"blueprint_id": ["A"], "runset_id": [runset_id]})
    )
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=3.0)
    roots = ["--registry-root", str(tmp_path / "registry"), "--store-root", str(tmp_path / "store")]
    as_of = ["--as-of", (DAY0 + timedelta(days=59)).isoformat()]

    assert main(["champion", "decide", *roots, *as_of, "--dry-run"]) == 0
    assert "PROMOTE (NO_EXISTING_CHAMPION)" in capsys.readouterr().out
    assert world.ledger_files() == []

    assert main(["champion", "decide", *roots, *as_of, "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert (recorded["decision"], recorded["written"], recorded["prod_gated"]) == ("PROMOTE", True, True)
    assert len(world.ledger_files()) == 1

    assert main(["champion", "show", *roots]) == 0
    out = capsys.readouterr().out
    assert "champion: -" in out and "shadow" in out

    assert main(["champion", "history", *roots, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    assert main(["champion", "rollback", *roots, *as_of, "--reason", "desk"]) == 2
    assert "no live champion" in capsys.readouterr().err
    assert main(["champion", "decide", *roots, *as_of, "--drift", "A=high", "--dry-run"]) == 2
    assert "expected CANDIDATE_ID=PSI" in capsys.readouterr().err

    decisions = query_cache(world.registry, "SELECT decision, reason_codes FROM promotion_decisions")
    assert decisions.rows() == [("PROMOTE", ["NO_EXISTING_CHAMPION"])]
    events = query_cache(world.registry, "SELECT candidate_id, state_before, state_after FROM state_events")
    assert events.rows() == [("A", "none", "shadow")]
