"""One corrupt version record is isolated: named, quarantined (listed), the rest keeps serving, and
``qp registry rebuild`` reports it.

Before: a single unreadable record made ``qp registry rebuild`` fail for every RunSet, and a record whose
fields were altered but still decodable was served as if it were true."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from quant_platform.cli import main
from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform.storage import IntegrityError, ParquetStore

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, Path]:
    monkeypatch.setenv("QP_REGISTRY_ROOT", str(tmp_path / "registry"))
    monkeypatch.setenv("QP_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    store = ParquetStore(str(tmp_path / "store"))
    for i, day in enumerate(DAYS):
        store.write("bars_5m", day, pl.DataFrame({"close": [float(i)]}))
    registry = Registry(str(tmp_path / "registry"), str(tmp_path / "store"))
    registry.register_dataset(
        DatasetSpec(
            dataset_id="ds", source="synthetic", assets=["bars_5m"], symbols=["BTCUSDT"], first_day=DAYS[0]
        )
    )
    registry.create_runset("early", RunSetSpec(dataset_id="ds", start=DAYS[0], end=DAYS[1]))
    registry.create_runset("late", RunSetSpec(dataset_id="ds", start=DAYS[2], end=DAYS[2]))
    return registry, tmp_path / "store"


def _record(store_root: Path, day: str) -> Path:
    (path,) = (store_root / "_versions" / "bars_5m" / day).glob("*.parquet")
    return path


@pytest.mark.parametrize("damage", ["garbage", "altered_field"])
def test_a_corrupt_record_is_quarantined_and_the_rest_keeps_serving(
    env: tuple[Registry, Path], capsys: pytest.CaptureFixture, damage: str
) -> None:
    registry, store_root = env
    bad = _record(store_root, DAYS[2])
    if damage == "garbage":
        bad.write_bytes(b"PAR1 truncated garbage")
    else:  # decodes fine, but a field no longer matches the record's checksum
        pl.read_parquet(bad).with_columns(pl.lit(7, pl.Int64).alias("rows")).write_parquet(bad)
    relative = str(bad.relative_to(store_root))

    assert main(["runset", "resolve", "early", "--json"]) == 0  # its window does not need the bad record
    early = json.loads(capsys.readouterr().out)
    assert [a["partition"] for a in early["artifacts"]] == DAYS[:2]
    assert all(a["content_hash"] for a in early["artifacts"])

    assert main(["runset", "resolve", "late"]) == 1  # it does: refused, naming the file
    err = capsys.readouterr().err
    assert "RunSet 'late' cannot be resolved" in err and str(bad) in err and "quarantined" in err
    with pytest.raises(IntegrityError, match="cannot be resolved"):
        registry.resolve("late")

    assert main(["registry", "rebuild", "--force", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [(q["record_file"], q["asset"], q["partition"]) for q in report["quarantined"]] == [
        (relative, "bars_5m", DAYS[2])
    ]
    assert "1 corrupt version records quarantined" in captured.err
    assert (
        registry.query("SELECT partition FROM artifacts ORDER BY partition")["partition"].to_list()
        == DAYS[:2]
    )
    assert registry.query("SELECT record_file FROM quarantined_records")["record_file"].to_list() == [
        relative
    ]
    assert main(["registry", "rebuild"]) == 0  # up to date: still reported
    assert relative in capsys.readouterr().out

    ParquetStore(str(store_root)).write("bars_5m", DAYS[2], pl.DataFrame({"close": [2.0]}))  # repair
    assert main(["runset", "resolve", "late", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["artifacts"][0]["content_hash"]
    # Back when the corrupt record was the newest, the partition's version is unknown: still refused.
    corrupt_seq = int(bad.name.split("-", 1)[0])
    with pytest.raises(IntegrityError, match="cannot be resolved"):
        registry.resolve("late", as_of=datetime.fromtimestamp(corrupt_seq / 1e9 + 1e-3, tz=UTC))
    report = registry.rebuild(force=True)
    assert [q["record_file"] for q in report["quarantined"]] == [relative]  # the bad file is still there
    assert registry.query("SELECT count(*) AS n FROM artifacts")["n"].to_list() == [3]
