"""Store integrity (issue 15): reads verified against the content hash, repair on identical re-write,
durable writes, clock-independent version order, full-match keys and paths confined to the store root."""

from __future__ import annotations

import os
import random
from pathlib import Path

import polars as pl
import pytest

from quant_platform.registry import DatasetSpec
from quant_platform.storage import IntegrityError, ParquetStore, durable, validate_key_segment
from quant_platform.storage.store import CLAIM_SUFFIX, RECORD_NAME

T0 = 1_700_000_000_000_000_000


def _frame(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"symbol": ["BTCUSDT"] * len(values), "close": values})


def _flip_bit(path: Path, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def _reads(store: ParquetStore, relative: str, content_hash: str) -> dict:
    """Every read path of the store, each run to completion (``collect``)."""
    return {
        "scan": lambda: store.scan("bars", ["2024-01-02"])[0].collect(),
        "scan_tagged": lambda: store.scan("bars", ["2024-01-02"], partition_column="p")[0].collect(),
        "scan_paths": lambda: store.scan_paths([relative]).collect(),
        "read_version": lambda: store.read_version("bars", "2024-01-02", content_hash),
    }


def test_bit_flips_in_a_data_file_fail_every_read_path(tmp_path: Path) -> None:
    """Before: most single-bit flips decoded as different values without an error."""
    store = ParquetStore(str(tmp_path))
    frame = pl.DataFrame({"symbol": ["BTCUSDT"] * 500, "close": [float(i) * 1.5 for i in range(500)]})
    record = store.write("bars", "2024-01-02", frame).record
    path = tmp_path / record.path
    original = path.read_bytes()
    rng = random.Random(15)
    for bit in rng.sample(range(len(original) * 8), 20):
        _flip_bit(path, bit)
        for name, read in _reads(store, record.path, record.content_hash).items():
            with pytest.raises(IntegrityError, match=f"integrity check failed for {path}") as info:
                read()
            assert "re-materialize" in str(info.value), name
        path.write_bytes(original)
    for read in _reads(store, record.path, record.content_hash).values():
        assert read().select("symbol", "close").equals(frame)


def test_identical_rewrite_repairs_a_corrupt_or_missing_data_file(tmp_path: Path) -> None:
    """Before: an identical re-write saw the name "already there" and left the corrupt bytes in place."""
    store = ParquetStore(str(tmp_path))
    first = store.write("bars", "2024-01-02", _frame([1.0, 2.0]))
    path = tmp_path / first.record.path
    _flip_bit(path, 8 * (path.stat().st_size // 2))
    again = store.write("bars", "2024-01-02", _frame([1.0, 2.0]))
    assert not again.created and again.repaired and again.record == first.record
    assert store.scan("bars", ["2024-01-02"])[0].collect().equals(_frame([1.0, 2.0]))
    path.unlink()
    with pytest.raises(IntegrityError, match="is missing"):
        store.scan("bars", ["2024-01-02"])
    assert not store.write("bars", "2024-01-02", _frame([1.0, 2.0])).created
    assert store.read_version("bars", "2024-01-02", first.record.content_hash).equals(_frame([1.0, 2.0]))
    clean = store.write("bars", "2024-01-02", _frame([1.0, 2.0]))
    assert not clean.created and not clean.repaired


def test_a_corrupt_version_record_is_named_and_repaired_by_an_identical_rewrite(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    store.write("bars", "2024-01-02", _frame([1.0]))
    (record_file,) = (tmp_path / "_versions" / "bars" / "2024-01-02").glob("*.parquet")
    # A field rewritten with a plausible value (a row count): Parquet reads it back without complaint.
    tampered = pl.read_parquet(record_file).with_columns(pl.lit(999, pl.Int64).alias("rows"))
    tampered.write_parquet(record_file)
    with pytest.raises(IntegrityError, match=f"version record {record_file} is corrupt: record_checksum"):
        store.current("bars", "2024-01-02")
    with pytest.raises(IntegrityError, match="is corrupt"):
        store.history("bars", "2024-01-02")
    repaired = store.write("bars", "2024-01-02", _frame([1.0]))
    assert repaired.repaired and not repaired.created and repaired.record.rows == 1
    assert store.current("bars", "2024-01-02") == repaired.record
    record_file.write_bytes(b"PAR1 garbage")
    with pytest.raises(IntegrityError, match="cannot be read"):
        store.history("bars", "2024-01-02")


def test_records_pointing_elsewhere_are_refused(tmp_path: Path) -> None:
    """A record whose path or hash disagrees with its own name is corrupt or tampered, never followed."""
    store = ParquetStore(str(tmp_path))
    store.write("bars", "2024-01-02", _frame([1.0]))
    (record_file,) = (tmp_path / "_versions" / "bars" / "2024-01-02").glob("*.parquet")
    original = pl.read_parquet(record_file)
    for column, value in (("path", "../../outside/x.parquet"), ("content_hash", "0" * 64), ("asset", "x")):
        # Without its checksum (as a record older than the column): the name checks alone catch it.
        tampered = original.with_columns(pl.lit(value).alias(column))
        tampered.with_columns(pl.lit(None, pl.String).alias("record_checksum")).write_parquet(record_file)
        with pytest.raises(IntegrityError, match="is corrupt"):
            store.current("bars", "2024-01-02")


def test_writes_are_fsynced_before_they_are_renamed_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the store's atomic write never called fsync (a power loss could leave a truncated file)."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(durable.os, "fsync", fsync)
    monkeypatch.setattr(durable.os, "replace", replace)
    record = ParquetStore(str(tmp_path)).write("bars", "2024-01-02", _frame([1.0])).record
    data = str(tmp_path / record.path)
    (record_file,) = (tmp_path / "_versions" / "bars" / "2024-01-02").glob("*.parquet")
    data_rename = events.index(("rename", data))
    record_rename = events.index(("rename", str(record_file)))
    assert events[data_rename - 1][0] == "fsync" and events[data_rename - 1][1].startswith(f"{data}.tmp-")
    assert events[data_rename + 1] == ("fsync", str(tmp_path / "bars" / "2024-01-02"))  # the directory
    assert data_rename < record_rename
    assert events[record_rename - 1][1].startswith(f"{record_file}.tmp-")
    assert events[record_rename + 1] == ("fsync", str(record_file.parent))
    # New directories are durable in their parents too.
    assert ("fsync", str(tmp_path / "bars")) in events and ("fsync", str(tmp_path)) in events


def test_a_write_from_a_slow_clock_becomes_current(tmp_path: Path) -> None:
    """Before: a writer whose clock was 60 s behind got created=True but its version never became current."""
    fast = ParquetStore(str(tmp_path), clock=lambda: T0)
    slow = ParquetStore(str(tmp_path), clock=lambda: T0 - 60 * 10**9)
    first = fast.write("bars", "2024-01-02", _frame([1.0]))
    later = slow.write("bars", "2024-01-02", _frame([2.0]))
    assert later.created
    assert fast.current_hash("bars", "2024-01-02") == later.record.content_hash
    assert slow.current("bars", "2024-01-02") == later.record
    assert fast.scan("bars", ["2024-01-02"])[0].collect()["close"].to_list() == [2.0]
    history = fast.history("bars", "2024-01-02")["content_hash"].to_list()
    assert history == [first.record.content_hash, later.record.content_hash]
    assert later.record.written_at < first.record.written_at  # its own clock is kept, as provenance only
    # And a third write from the fast clock again follows the slow one.
    third = fast.write("bars", "2024-01-02", _frame([3.0]))
    assert fast.current_hash("bars", "2024-01-02") == third.record.content_hash


def test_racing_writers_never_share_a_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers that listed the partition at the same moment both try the same sequence: the exclusive
    claim lets one have it and the other takes the next, so the later claim is current."""
    first = ParquetStore(str(tmp_path), clock=lambda: T0)
    second = ParquetStore(str(tmp_path), clock=lambda: T0)
    first.write("bars", "2024-01-02", _frame([1.0]))
    stale_listing = iter([0])  # the second writer's first listing predates the first writer's claim
    real_top = second._top_sequence
    monkeypatch.setattr(second, "_top_sequence", lambda d: next(stale_listing, None) or real_top(d))
    later = second.write("bars", "2024-01-02", _frame([2.0]))
    names = sorted(p.name for p in (tmp_path / "_versions" / "bars" / "2024-01-02").iterdir())
    sequences = [int(RECORD_NAME.fullmatch(n).group(1)) for n in names if n.endswith(".parquet")]
    claims = [n for n in names if n.endswith(CLAIM_SUFFIX)]
    assert sequences == [T0, T0 + 1] and len(claims) == 2
    assert first.current_hash("bars", "2024-01-02") == later.record.content_hash


@pytest.mark.parametrize("bad", ["2024-01-02\n", "bars_5m\n", "ok\r", "a\x00", " lead"])
def test_keys_with_a_trailing_newline_or_control_character_are_rejected(tmp_path: Path, bad: str) -> None:
    """Before: ``re.match(r"...$")`` accepted a trailing newline and created directories named with it."""
    store = ParquetStore(str(tmp_path))
    with pytest.raises(ValueError, match="unsafe"):
        validate_key_segment(bad)
    with pytest.raises(ValueError, match="unsafe"):
        store.write("bars", bad, _frame([1.0]))
    with pytest.raises(ValueError, match="unsafe"):
        store.write(bad, "2024-01-02", _frame([1.0]))
    with pytest.raises(ValueError, match="unsafe"):
        DatasetSpec(dataset_id="d", source="s", assets=[bad], symbols=["BTCUSDT"], first_day="2024-01-01")
    assert not any("\n" in p.name or "\r" in p.name for p in tmp_path.rglob("*"))


def test_an_asset_cannot_be_named_like_the_version_records_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="store's own folder"):
        ParquetStore(str(tmp_path)).write("_versions", "2024-01-02", _frame([1.0]))


def test_scan_paths_refuses_paths_outside_the_store_layout(tmp_path: Path) -> None:
    """Before: a tampered record or resolution path (``../``, absolute) was read from outside the root."""
    root = tmp_path / "store"
    store = ParquetStore(str(root))
    record = store.write("bars", "2024-01-02", _frame([1.0])).record
    outside = tmp_path / "outside" / "2024-01-02"
    outside.mkdir(parents=True)
    (outside / f"{record.content_hash}.parquet").write_bytes((root / record.path).read_bytes())
    hostile = [
        f"../outside/2024-01-02/{record.content_hash}.parquet",
        str(outside / f"{record.content_hash}.parquet"),
        f"bars/../../outside/2024-01-02/{record.content_hash}.parquet",
        f"_versions/bars/2024-01-02/{record.content_hash}.parquet",
        "bars/2024-01-02/not-a-hash.parquet",
        f"bars/2024-01-02\n/{record.content_hash}.parquet",
        f"{record.content_hash}.parquet",
    ]
    for path in hostile:
        with pytest.raises(ValueError, match="refusing stored path"):
            store.scan_paths([path])
    assert store.scan_paths([record.path]).collect().equals(_frame([1.0]))
