"""``qp lookahead`` wiring: argparse registration, exit codes, and a real run on the synthetic market."""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import polars as pl
import pytest

from quant_platform.features import compute_features, lookahead_cli, lookahead_report, lookback_days
from quant_platform.features.context import context_lookback_days
from quant_platform.features.lookahead import sample_cut_points
from quant_platform_tests.features.real_data import EURUSD, LAST_DAY, eurusd_hourly_bars, eurusd_source


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
    # bars_5m is audited too (from raw tables); an asset the audit does not know is refused.
    assert (
        _parser().parse_args(["lookahead", "--asset", "bars_5m", "--partition", "2024-01-08"]).asset
        == "bars_5m"
    )
    with pytest.raises(SystemExit):
        _parser().parse_args(["lookahead", "--asset", "raw_perp_bars", "--partition", "2024-01-08"])


def test_cli_runs_on_the_synthetic_market_and_finds_no_lookahead(capsys) -> None:
    assert (
        lookahead_cli.main(
            [
                "lookahead",
                "--asset",
                "context_features",
                "--partition",
                "2024-01-06",
                "--cuts",
                "1",
                "--symbols",
                "BTCUSDT,ETHUSDT,SOLUSDT",
            ]
        )
        == 0
    )
    assert "no past value changed" in capsys.readouterr().out


def test_cli_exit_status_is_one_when_a_column_changes(monkeypatch, capsys) -> None:
    offending = pl.DataFrame({"asset": ["features_v1"], "column": ["x"], "n_changed": [1]})
    monkeypatch.setattr(lookahead_cli, "audit_inputs", lambda *a, **k: (pl.DataFrame(), []))
    monkeypatch.setattr(lookahead_cli, "lookahead_report", lambda *a, **k: offending)
    assert lookahead_cli.main(["lookahead", "--asset", "features_v1", "--partition", "2024-01-06"]) == 1
    assert "x" in capsys.readouterr().out


def test_partition_near_the_source_origin_uses_the_available_window():
    """Day 2 of the synthetic market: the look-back is clamped to the origin (warm-up), not an error."""
    from quant_platform.features.lookahead_cli import run_lookahead

    report = run_lookahead("features_v1", "2024-01-02", cuts=2, symbols=("BTCUSDT", "ETHUSDT"))
    assert report.height == 0


EURUSD_ARGS = [
    "--source", "ohlcv_csv", "--path", str(EURUSD), "--symbol", "EURUSD", "--time-column", "Time",
    "--time-format", "%d.%m.%Y %H:%M:%S%.3f", "--bar-minutes", "60",
]  # fmt: skip


def test_history_covers_the_lookbacks_of_the_whole_asset_chain() -> None:
    """Events read context (its lookback) which reads features (theirs): the history loaded is their sum."""
    for minutes in (5, 60):
        features = lookback_days(bar_minutes=minutes)
        context = features + context_lookback_days(bar_minutes=minutes)
        assert lookahead_cli.history_days("features_v1", minutes) == features
        assert lookahead_cli.history_days("context_features", minutes) == context
        assert lookahead_cli.history_days("market_events", minutes) > context


def test_cli_audits_the_real_hourly_csv_over_the_chain_history(monkeypatch, capsys) -> None:
    eurusd_source()  # skip when the shared real file is absent (an error in CI)
    windows = []
    report = lookahead_cli.lookahead_report

    def recording(window, *args, **kwargs):
        windows.append(window)
        return report(window, *args, **kwargs)

    monkeypatch.setattr(lookahead_cli, "lookahead_report", recording)
    argv = ["lookahead", "--asset", "market_events", "--partition", LAST_DAY, "--cuts", "2", *EURUSD_ARGS]
    assert lookahead_cli.main(argv) == 0
    assert "no past value changed" in capsys.readouterr().out
    (window,) = windows
    # The audit starts from the file's raw rows over the whole chain history, cleaned on the 60-minute grid.
    days_back = (date.fromisoformat(window.days[-1]) - date.fromisoformat(window.days[0])).days
    assert window.days[-1] == LAST_DAY and days_back == lookahead_cli.history_days("market_events", 60)
    assert window.universe == ("EURUSD",) and window.config.interval_minutes == 60
    bars = window.clean()
    assert bars["ts"].diff().drop_nulls().unique().to_list() == [timedelta(hours=1)]
    assert bars.filter(~pl.col("gap")).height > 24 * 5 * 12  # months of real hourly bars, not 5 days
    # The same rows as the cleaned copy the other real-data tests use.
    assert bars.equals(eurusd_hourly_bars(window.days[0], LAST_DAY))


def test_lookahead_on_the_real_hourly_csv_catches_a_planted_future_read() -> None:
    """The same audit is not vacuous on the hourly file: a feature reading the next bar is reported."""
    bars = eurusd_hourly_bars("2017-04-03", LAST_DAY)

    def leaky(frame: pl.DataFrame) -> pl.DataFrame:
        features = compute_features(frame, grid_minutes=60)
        return features.with_columns(pl.col("close").shift(-1).over("symbol").alias("next_close"))

    cuts = sample_cut_points(bars.filter(~pl.col("gap")), 2, seed=4)
    report = lookahead_report(bars, cuts, pipeline=leaky, keys=("symbol", "ts"))
    assert report["column"].to_list() == ["next_close"]
