"""``qp lookahead`` wiring: argparse registration, exit codes, and a real run on the synthetic market."""

from __future__ import annotations

import argparse

import polars as pl
import pytest

from quant_platform.features import lookahead_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qp")
    lookahead_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_register_adds_the_subcommand_with_its_options() -> None:
    args = _parser().parse_args(
        ["lookahead", "--asset", "features_v1", "--partition", "2024-01-08", "--cuts", "2"]
    )
    assert (args.asset, args.partition, args.source, args.cuts) == (
        "features_v1",
        "2024-01-08",
        "synthetic",
        2,
    )
    assert args.func is lookahead_cli._main
    with pytest.raises(SystemExit):
        _parser().parse_args(["lookahead", "--asset", "bars_5m", "--partition", "2024-01-08"])


def test_cli_runs_on_the_synthetic_market_and_finds_no_lookahead(capsys) -> None:
    assert (
        lookahead_cli.main(
            ["lookahead", "--asset", "context_features", "--partition", "2024-01-06", "--cuts", "1"]
        )
        == 0
    )
    assert "no past value changed" in capsys.readouterr().out


def test_cli_exit_status_is_one_when_a_column_changes(monkeypatch, capsys) -> None:
    offending = pl.DataFrame({"asset": ["features_v1"], "column": ["x"], "n_changed": [1]})
    monkeypatch.setattr(lookahead_cli, "run_lookahead", lambda *a, **k: offending)
    assert lookahead_cli.main(["lookahead", "--asset", "features_v1", "--partition", "2024-01-06"]) == 1
    assert "x" in capsys.readouterr().out


def test_partition_near_the_source_origin_uses_the_available_window():
    """Day 2 of the synthetic market: the look-back is clamped to the origin (warm-up), not an error."""
    from quant_platform.features.lookahead_cli import run_lookahead

    report = run_lookahead("features_v1", "2024-01-02", cuts=2, symbols=("BTCUSDT", "ETHUSDT"))
    assert report.height == 0
