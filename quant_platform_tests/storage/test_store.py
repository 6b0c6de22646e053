"""The immutable store: round trip, idempotence, versioning, atomicity, traversal, windows."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.storage import ParquetStore, durable, encode_frame, validate_key_segment
from quant_platform.storage.split import split_by_windows


def _frame(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"symbol": ["BTCUSDT"] * len(values), "close": values})


def _ticking_clock(start: int = 1_700_000_000_000_000_000):
    state = {"t": start}

    def tick() -> int:
        state["t"] += 1_000_000
        return state["t"]

    return tick


def test_round_trip_and_hash_is_sha256_of_file_bytes(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    frame = _frame([1.0, 2.0, 3.5])
    result = store.write("bars_5m", "2024-01-02", frame)
    on_disk = (tmp_path / result.record.path).read_bytes()
    assert hashlib.sha256(on_disk).hexdigest() == result.record.content_hash
    lazy, lineage = store.scan("bars_5m", ["2024-01-02"])
    assert lazy.collect().equals(frame)
    assert lineage == [
        {"asset": "bars_5m", "partition": "2024-01-02", "content_hash": result.record.content_hash}
    ]


def test_identical_rewrite_writes_nothing(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path), clock=_ticking_clock())
    first = store.write("a", "p", _frame([1.0]))
    files_before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    second = store.write("a", "p", _frame([1.0]))
    assert first.created and not second.created
    assert second.record == first.record
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files_before


def test_changed_content_is_new_version_and_old_stays_readable(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path), clock=_ticking_clock())
    old = store.write("a", "p", _frame([1.0])).record
    new = store.write("a", "p", _frame([2.0])).record
    assert old.content_hash != new.content_hash
    assert store.current("a", "p") == new
    assert store.read_version("a", "p", old.content_hash).equals(_frame([1.0]))
    history = store.history("a", "p")
    assert history["content_hash"].to_list() == [old.content_hash, new.content_hash]
    # Reverting to the old content makes it current again without rewriting its data file.
    reverted = store.write("a", "p", _frame([1.0]))
    assert reverted.created and store.current_hash("a", "p") == old.content_hash
    assert len(list((tmp_path / "a" / "p").glob("*.parquet"))) == 2


def test_failed_write_leaves_nothing_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ParquetStore(str(tmp_path))
    store.write("a", "p", _frame([1.0]))
    before = store.current("a", "p")

    def broken_mv(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(durable, "_publish_replace", broken_mv)
    with pytest.raises(OSError, match="disk full"):
        store.write("a", "p", _frame([9.0]))
    assert store.current("a", "p") == before
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and ".tmp-" in p.name]
    assert leftovers == []
    assert len(list((tmp_path / "a" / "p").glob("*.parquet"))) == 1


@pytest.mark.parametrize("bad", ["..", "../x", "/etc", "a/b", "a\\b", ".hidden", "", "x" * 200, "a..b"])
def test_traversal_rejected(tmp_path: Path, bad: str) -> None:
    store = ParquetStore(str(tmp_path))
    with pytest.raises(ValueError, match="unsafe"):
        store.write("a", bad, _frame([1.0]))
    with pytest.raises(ValueError, match="unsafe"):
        store.write(["ok", bad], "p", _frame([1.0]))


@given(st.text(min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_accepted_segments_never_contain_separators_or_dots_only(segment: str) -> None:
    try:
        validate_key_segment(segment)
    except ValueError:
        return
    assert "/" not in segment and "\\" not in segment and ".." not in segment and not segment.startswith(".")


def test_multi_partition_window_scan(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    for i, day in enumerate(["2024-01-01", "2024-01-02", "2024-01-03"]):
        store.write("bars", day, _frame([float(i)]))
    lazy, lineage = store.scan("bars", ["2024-01-01", "2024-01-02", "2024-01-03"])
    assert lazy.collect()["close"].to_list() == [0.0, 1.0, 2.0]
    with pytest.raises(LookupError, match="never been materialized"):
        store.scan("bars", ["2023-12-31", "2024-01-01"])
    lazy, lineage = store.scan("bars", ["2023-12-31", "2024-01-01"], allow_missing=True)
    assert lazy.collect().height == 1
    assert lineage[0] == {"asset": "bars", "partition": "2023-12-31", "content_hash": None}


def test_encoding_is_deterministic() -> None:
    frame = pl.DataFrame({"ts": [datetime(2024, 1, 1, tzinfo=UTC)], "x": [1.5]})
    assert encode_frame(frame).content_hash == encode_frame(frame.clone()).content_hash


def test_split_by_windows_refuses_to_drop_rows() -> None:
    day1 = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    frame = pl.DataFrame({"ts": [datetime(2024, 1, 1, 5, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)]})
    with pytest.raises(ValueError, match="1 rows of the output fall outside"):
        split_by_windows(frame, "ts", {"2024-01-01": day1})


def test_fsspec_memory_root_round_trip_and_versions() -> None:
    """A non-local root that polars cannot open itself (memory://) works through fsspec."""
    import uuid

    store = ParquetStore(f"memory://qp-{uuid.uuid4().hex}", clock=_ticking_clock())
    old = store.write("bars", "2024-01-01", _frame([1.0])).record
    store.write("bars", "2024-01-02", _frame([2.0]))
    assert store.scan("bars", ["2024-01-01", "2024-01-02"])[0].collect()["close"].to_list() == [1.0, 2.0]
    store.write("bars", "2024-01-01", _frame([3.0]))
    assert store.read_version("bars", "2024-01-01", old.content_hash)["close"].to_list() == [1.0]
    assert store.scan_paths([old.path]).collect()["close"].to_list() == [1.0]
    tagged, _ = store.scan("bars", ["2024-01-01"], partition_column="stored_partition")
    assert tagged.collect()["stored_partition"].to_list() == ["2024-01-01"]
