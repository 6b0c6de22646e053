"""Store: the cost of verifying every read against its content hash, and of durable (fsynced) writes.

Size: 20 symbols x 288 5m bars x 30 days of a bars_5m-shaped table (16 float columns; ``--quick``: 4 x 3
days), one zstd Parquet file per day, as the IO manager writes them. Reads are timed warm (page cache),
best of five, where hashing weighs most against decoding:

- verified read (``ParquetStore.scan``: sha256 of each whole file, then one ``pl.scan_parquet``) against
  the unverified read it replaced (``pl.scan_parquet`` of the same files), collecting every column and,
  the worst case, three columns (the hash still reads every byte of each file);
- ``ParquetStore.write`` of every day with fsync of file and directory against the same writes with
  ``os.fsync`` a no-op (what the store did before: rename without fsync).

Ratios > 1 mean faster than the reference, so a ratio of 0.8 is a 25 % overhead. No target is set: the
check is a contract (every read is verified), and these rows say what it costs. Hashing runs on a thread
pool (one file per thread), so on a machine with more cores it keeps pace with polars' parallel reader.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from bench.common import best_of, row
from quant_platform.core.timeutil import day_range
from quant_platform.storage import ParquetStore, durable

N_FLOAT_COLUMNS = 16
PROJECTED = ["symbol", "ts", "close"]


def _day_frame(day: str, n_symbols: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    ts = [start + timedelta(minutes=5 * i) for i in range(288)]
    n = 288 * n_symbols
    columns = {f"f{i:02d}": rng.normal(size=n).cumsum() for i in range(N_FLOAT_COLUMNS - 1)}
    return pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i:02d}USDT" for i in range(n_symbols)], 288),
            "ts": ts * n_symbols,
            "close": 100 + rng.normal(size=n).cumsum(),
            **columns,
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))


def _write_all(root: str, frames: dict[str, pl.DataFrame]) -> ParquetStore:
    store = ParquetStore(root)
    for day, frame in frames.items():
        store.write("bars_5m", day, frame)
    return store


def _unsynced_write_all(root: str, frames: dict[str, pl.DataFrame]) -> None:
    real = durable.os.fsync
    durable.os.fsync = lambda fd: None
    try:
        _write_all(root, frames)
    finally:
        durable.os.fsync = real


def run(quick: bool = False) -> list[dict]:
    n_symbols, n_days = (4, 3) if quick else (20, 30)
    days = day_range("2024-01-01", f"2024-01-{n_days:02d}")
    frames = {d: _day_frame(d, n_symbols, i) for i, d in enumerate(days)}
    n_rows = sum(f.height for f in frames.values())
    label = f"{n_symbols} symbols x {n_days} days, {N_FLOAT_COLUMNS + 2} columns"
    scratch = tempfile.mkdtemp(prefix="qp-bench-storage-")
    try:
        counter = iter(range(10**6))
        write_s, _ = best_of(lambda: _write_all(f"{scratch}/w{next(counter)}", frames), repeat=3)
        unsynced_s, _ = best_of(lambda: _unsynced_write_all(f"{scratch}/u{next(counter)}", frames), repeat=3)
        store = _write_all(f"{scratch}/read", frames)
        paths = [store.uri(store.data_path("bars_5m", d, store.current_hash("bars_5m", d))) for d in days]
        n_bytes = sum(durable.os.path.getsize(p) for p in paths)
        verified = store.scan("bars_5m", days)[0].collect()
        assert verified.equals(pl.scan_parquet(paths).collect())  # the same rows, in the same order
        assert verified.equals(pl.concat(list(frames.values())))
        rows = []
        for what, columns in (("all columns", None), (f"{len(PROJECTED)} columns", PROJECTED)):

            def ours(columns: list[str] | None = columns) -> pl.DataFrame:
                lazy = store.scan("bars_5m", days)[0]
                return (lazy if columns is None else lazy.select(columns)).collect()

            def reference(columns: list[str] | None = columns) -> pl.DataFrame:
                lazy = pl.scan_parquet(paths)
                return (lazy if columns is None else lazy.select(columns)).collect()

            reference()  # warm the page cache for both
            ours_s, _ = best_of(ours, repeat=5)
            reference_s, _ = best_of(reference, repeat=5)
            rows.append(
                row(
                    "storage",
                    f"verified read, {what}, rows/s ({label})",
                    n_rows / ours_s,
                    "rows/s",
                    reference=n_rows / reference_s,
                    reference_name="unverified pl.scan_parquet",
                )
            )
        rows.append(
            row(
                "storage",
                f"sha256 verification throughput ({n_bytes / 2**20:.1f} MiB of Parquet)",
                n_bytes / 2**20 / max(best_of(lambda: store.scan("bars_5m", days), repeat=5)[0], 1e-9),
                "MiB/s",
            )
        )
        rows.append(
            row(
                "storage",
                f"durable write (fsync file + directory), partitions/s ({label})",
                n_days / write_s,
                "parts/s",
                reference=n_days / unsynced_s,
                reference_name="same writes without fsync",
            )
        )
        return rows
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
