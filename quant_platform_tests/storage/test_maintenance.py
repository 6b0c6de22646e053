"""``qp store verify [--repair]`` and ``qp store gc``: every file checked, crash leftovers removed (after a
real ``kill -9`` of a writer mid-write), never a recorded file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from quant_platform.cli import main
from quant_platform.storage import ParquetStore
from quant_platform.storage.maintenance import gc_store, verify_store

REPO_ROOT = Path(__file__).resolve().parents[2]

# A writer that stops for good inside two writes: one inside the temporary data file (before its rename),
# one after its data file is durable but before its version record. The test kills it with SIGKILL there.
WRITER = textwrap.dedent(
    """
    import sys, threading, time
    import polars as pl
    from quant_platform.storage import ParquetStore, durable
    from quant_platform.storage.store import ParquetStore as Store

    root = sys.argv[1]
    stuck = {"tmp": threading.Event(), "record": threading.Event()}
    real_publish, real_allocate = durable._publish_replace, Store._allocate_sequence

    def publish(temp, final):
        if "/2024-01-03/" in final and "_versions" not in final:
            stuck["tmp"].set()
            time.sleep(600)
        real_publish(temp, final)

    def allocate(self, records_dir, content_hash):
        if records_dir.endswith("2024-01-04"):
            stuck["record"].set()
            time.sleep(600)
        return real_allocate(self, records_dir, content_hash)

    durable._publish_replace = publish
    Store._allocate_sequence = allocate
    store = ParquetStore(root)
    for day in ("2024-01-03", "2024-01-04"):
        frame = pl.DataFrame({"close": [float(i) for i in range(1000)], "day": [day] * 1000})
        threading.Thread(target=store.write, args=("bars", day, frame), daemon=True).start()
    stuck["tmp"].wait(); stuck["record"].wait()
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _frame(value: float) -> pl.DataFrame:
    return pl.DataFrame({"close": [value, value + 1]})


def test_gc_after_kill_9_mid_write_removes_leftovers_and_never_a_recorded_file(tmp_path: Path) -> None:
    """Before: nothing removed the ``.tmp-`` file and the unrecorded data file a killed writer left."""
    root = tmp_path / "store"
    store = ParquetStore(str(root))
    kept = [store.write("bars", day, _frame(i)).record for i, day in enumerate(["2024-01-01", "2024-01-02"])]
    kept.append(store.write("bars", "2024-01-02", _frame(9.0)).record)  # an older version stays recorded too
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert writer.stdout.readline().strip() == b"ready", writer.stderr.read().decode()
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    leftovers = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    temp = [p for p in leftovers if ".tmp-" in p]
    orphan = [p for p in leftovers if p.startswith("bars/2024-01-04/")]
    assert len(temp) == 1 and temp[0].startswith("bars/2024-01-03/") and len(orphan) == 1
    assert (
        store.current_hash("bars", "2024-01-03") is None and store.current_hash("bars", "2024-01-04") is None
    )

    assert gc_store(store).removed == []  # fresh leftovers may be a write in progress: kept by default
    report = gc_store(store, min_age_s=0, dry_run=True)
    assert sorted(r["path"] for r in report.removed) == sorted(temp + orphan) and (root / temp[0]).exists()
    report = gc_store(store, min_age_s=0)
    assert sorted(r["path"] for r in report.removed) == sorted(temp + orphan)
    remaining = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert remaining == sorted(set(leftovers) - set(temp) - set(orphan))
    for record in kept:
        assert (root / record.path).exists()
        assert store.read_version("bars", record.partition, record.content_hash).height == 2
    assert verify_store(store).ok
    assert gc_store(store, min_age_s=0).removed == []


def test_gc_keeps_data_of_a_partition_whose_record_is_corrupt(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    record = store.write("bars", "2024-01-01", _frame(1.0)).record
    (record_file,) = (tmp_path / "_versions" / "bars" / "2024-01-01").glob("*.parquet")
    record_file.write_bytes(b"PAR1 garbage")
    assert gc_store(store, min_age_s=0).removed == []
    assert (tmp_path / record.path).exists()


def test_verify_finds_every_corruption_and_repair_restores_from_verified_copies(tmp_path: Path) -> None:
    """Before: no command checked the store."""
    root, replica_root = tmp_path / "store", tmp_path / "replica"
    store, replica = ParquetStore(str(root)), ParquetStore(str(replica_root))
    same = pl.DataFrame({"close": [0.0]})  # identical bytes in two partitions (e.g. an empty quarantine day)
    twin_a = store.write("quarantine", "2024-01-01", same).record
    store.write("quarantine", "2024-01-02", same)
    only_in_replica = store.write("bars", "2024-01-01", _frame(1.0)).record
    replica.write("bars", "2024-01-01", _frame(1.0))
    lost = store.write("bars", "2024-01-02", _frame(2.0)).record
    assert verify_store(store).ok

    for record in (twin_a, only_in_replica):
        path = root / record.path
        path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    (root / lost.path).unlink()
    (corrupt_record,) = (root / "_versions" / "bars" / "2024-01-01").glob("*.parquet")
    original_record = corrupt_record.read_bytes()
    corrupt_record.write_bytes(b"PAR1 garbage")

    report = verify_store(store)
    kinds = sorted((p.kind, p.path) for p in report.problems)
    assert kinds == sorted(
        [
            ("corrupt_data", twin_a.path),
            ("corrupt_data", only_in_replica.path),
            ("missing_data", lost.path),
            ("corrupt_record", str(corrupt_record.relative_to(root))),
        ]
    )
    assert not report.ok and report.data_files == 3 and report.records == 4  # one file was deleted

    repaired = verify_store(store, repair=True, sources=[str(replica_root)])
    fixed = {p.path for p in repaired.problems if p.repaired}
    assert fixed == {twin_a.path, only_in_replica.path}
    assert {p.path for p in repaired.unrepaired} == {lost.path, str(corrupt_record.relative_to(root))}
    assert store.read_version("quarantine", "2024-01-01", twin_a.content_hash).equals(same)
    assert store.read_version("bars", "2024-01-01", only_in_replica.content_hash).equals(_frame(1.0))

    corrupt_record.write_bytes(original_record)
    store.write("bars", "2024-01-02", _frame(2.0))  # re-materializing restores the lost file
    assert verify_store(store).ok


def test_qp_store_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "store"
    record = ParquetStore(str(root)).write("bars", "2024-01-01", _frame(1.0)).record
    assert main(["store", "verify", "--store-root", str(root)]) == 0
    assert "1 data files, 1 version records checked" in capsys.readouterr().out
    path = root / record.path
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    assert main(["store", "verify", "--store-root", str(root), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [("corrupt_data", record.path)]
    (root / "bars" / "2024-01-01" / f"{'0' * 64}.parquet").write_bytes(b"orphan")
    assert main(["store", "gc", "--store-root", str(root), "--min-age-seconds", "0", "--json"]) == 0
    removed = json.loads(capsys.readouterr().out)["removed"]
    assert [r["path"] for r in removed] == [f"bars/2024-01-01/{'0' * 64}.parquet"]
    assert main(["store", "gc", "--store-root", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
