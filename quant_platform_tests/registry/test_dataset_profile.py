"""A dataset records its profile: named once at registration, validated against spec/profiles.yaml, and a
dataset registered without one keeps the content id it had before profiles existed."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from quant_platform.cli import main
from quant_platform.core.hashing import canonical_hash
from quant_platform.registry import DatasetSpec
from quant_platform_tests.registry.helpers import write_version_record

BASE = {"dataset_id": "stocks", "source": "ohlcv_csv", "assets": ["bars_5m"], "symbols": ["AAPL"],
        "first_day": "2010-01-04"}  # fmt: skip


def test_profile_is_recorded_and_checked() -> None:
    plain = DatasetSpec(**BASE)
    assert plain.profile is None and "profile" not in plain.canonical()
    # the content id of a dataset without a profile is the hash of exactly the fields it always had
    assert plain.content_hash == canonical_hash(
        {**BASE, "assets": ["bars_5m"], "last_day": None, "description": ""}
    )
    daily = DatasetSpec(**BASE, profile="us_equity_daily")
    assert daily.canonical()["profile"] == "us_equity_daily" and daily.content_hash != plain.content_hash
    assert DatasetSpec.model_validate_json(daily.to_json()) == daily
    with pytest.raises(ValidationError, match="unknown profile 'daily_stocks'"):
        DatasetSpec(**BASE, profile="daily_stocks")


def test_cli_registers_the_profile(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("QP_REGISTRY_ROOT", str(tmp_path / "registry"))
    monkeypatch.setenv("QP_STORE_ROOT", str(tmp_path / "store"))
    # registering checks the store holds the dataset's assets (a version record of bars_5m in its days)
    write_version_record(tmp_path / "store", "bars_5m", "2010-01-04", "bars", 1_262_563_200_000_000_000)
    rc = main(["dataset", "register", "--id", "stocks", "--source", "ohlcv_csv", "--asset", "bars_5m",
               "--symbols", "AAPL", "--from", "2010-01-04", "--profile", "us_equity_daily", "--json"])  # fmt: skip
    assert rc == 0 and json.loads(capsys.readouterr().out)["profile"] == "us_equity_daily"
    rc = main(["dataset", "register", "--id", "bad", "--source", "ohlcv_csv", "--asset", "bars_5m",
               "--symbols", "AAPL", "--from", "2010-01-04", "--profile", "nope"])  # fmt: skip
    assert rc == 2 and "unknown profile 'nope'" in capsys.readouterr().err
