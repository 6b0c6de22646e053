"""Store maintenance: ``verify`` checks every stored file, ``gc`` removes what crashed writers left behind.

verify
    Hashes every data file against the sha256 it is named by, checks every version record (readable, its
    checksum, consistent with its name) and that every recorded data file exists. ``repair=True`` restores
    a corrupt or missing data file from a verified copy with the same content hash: another file of this
    store (content addressing makes identical bytes interchangeable) or one of ``sources`` (a replica or
    backup store root). What cannot be restored is reported with the partition to re-materialize (an
    identical re-write repairs it, see ``storage.store``). Nothing is deleted.

gc
    A writer killed mid-write leaves ``.tmp-`` files and, killed between its data file and its version
    record, a data file no record names. ``gc`` removes exactly those: a temporary file, or a file in a data
    folder whose content hash no record name of that partition carries. A file any record points to is
    never removed (record *names* decide, so even a partition whose record is corrupt keeps its data), nor
    are sequence claims. Only files older than ``min_age_s`` are touched, so a write in progress (its data
    file is durable before its record) is never mistaken for a leftover: keep ``min_age_s`` above the
    longest write.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from quant_platform.storage import durable
from quant_platform.storage.integrity import IntegrityError
from quant_platform.storage.keys import RESERVED_TOP_LEVEL, is_data_file_name
from quant_platform.storage.store import CLAIM_SUFFIX, RECORD_NAME, VERSIONS_DIR, ParquetStore


@dataclass
class Problem:
    kind: str  # corrupt_data | missing_data | corrupt_record
    path: str  # relative to the store root
    detail: str
    repaired: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail, "repaired": self.repaired}


@dataclass
class VerifyReport:
    root: str
    data_files: int = 0
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def unrepaired(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def ok(self) -> bool:
        return not self.unrepaired

    def to_dict(self) -> dict[str, object]:
        return {
            "root": self.root,
            "data_files": self.data_files,
            "records": self.records,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class GcReport:
    root: str
    removed: list[dict[str, str]] = field(default_factory=list)
    kept_recent: list[str] = field(default_factory=list)  # leftovers younger than min_age_s
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "root": self.root,
            "dry_run": self.dry_run,
            "removed": self.removed,
            "kept_recent": self.kept_recent,
        }


def _all_files(store: ParquetStore) -> list[str]:
    base = store._abs("").rstrip("/")
    if not store.fs.exists(base):
        return []
    return sorted(p[len(base) + 1 :] for p in store.fs.find(base) if p.startswith(base + "/"))


def _sha256(store: ParquetStore, relative: str) -> str:
    with store.fs.open(store._abs(relative), "rb") as handle:
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _good_copy(content_hash: str, candidates: Iterable[tuple[ParquetStore, str]]) -> bytes | None:
    for source, relative in candidates:
        try:
            data = source.fs.cat_file(source._abs(relative))
        except (FileNotFoundError, OSError):
            continue
        if hashlib.sha256(data).hexdigest() == content_hash:
            return data
    return None


def verify_store(store: ParquetStore, *, repair: bool = False, sources: Sequence[str] = ()) -> VerifyReport:
    """Check every data file and version record of ``store`` (see module docstring)."""
    report = VerifyReport(root=store.root)
    files = _all_files(store)
    data = [
        f
        for f in files
        if f.split("/", 1)[0] not in RESERVED_TOP_LEVEL and is_data_file_name(f.rsplit("/", 1)[-1])
    ]
    records = [
        f for f in files if f.startswith(f"{VERSIONS_DIR}/") and RECORD_NAME.fullmatch(f.rsplit("/", 1)[-1])
    ]
    present = set(data)
    by_hash: dict[str, list[str]] = {}
    for relative in data:
        by_hash.setdefault(relative.rsplit("/", 1)[-1][:64], []).append(relative)
    bad_data: dict[str, Problem] = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # hashlib releases the GIL
        hashes = list(pool.map(lambda r: _sha256(store, r), data))
    for relative, found in zip(data, hashes, strict=True):
        report.data_files += 1
        expected = relative.rsplit("/", 1)[-1][:64]
        if found != expected:
            bad_data[relative] = Problem(
                "corrupt_data",
                relative,
                f"sha256 is {found[:16]}…, the file was written as {expected[:16]}…",
            )
    for relative in records:
        report.records += 1
        folder, name = relative[len(VERSIONS_DIR) + 1 :].rsplit("/", 1)
        content_hash = RECORD_NAME.fullmatch(name).group(2)
        try:
            store._read_record(relative)
        except IntegrityError as exc:
            report.problems.append(
                Problem("corrupt_record", relative, f"{exc}; re-materialize {folder} (writes a fresh record)")
            )
        target = f"{folder}/{content_hash}.parquet"
        if target not in present and target not in bad_data:
            bad_data[target] = Problem("missing_data", target, f"named by {relative} but absent")
    replicas = [ParquetStore(s) for s in sources]
    for target, problem in sorted(bad_data.items()):
        if repair:
            content_hash = target.rsplit("/", 1)[-1][:64]
            candidates = [
                (store, p) for p in by_hash.get(content_hash, []) if p != target and p not in bad_data
            ]
            candidates += [(replica, target) for replica in replicas]
            good = _good_copy(content_hash, candidates)
            if good is not None:
                durable.put_atomic(store.fs, store._abs(target), good)
                problem.repaired = True
                problem.detail += "; restored from a verified copy"
            else:
                problem.detail += "; no verified copy found: re-materialize this partition"
        report.problems.append(problem)
    return report


def _age_seconds(store: ParquetStore, relative: str, now: float) -> float:
    modified = store.fs.modified(store._abs(relative))
    stamp = modified.timestamp() if isinstance(modified, datetime) else float(modified)
    return now - stamp


def gc_store(store: ParquetStore, *, min_age_s: float = 3600.0, dry_run: bool = False) -> GcReport:
    """Remove temporary files and unrecorded data files older than ``min_age_s`` (see module docstring)."""
    report = GcReport(root=store.root, dry_run=dry_run)
    files = _all_files(store)
    recorded: set[str] = set()
    for relative in files:
        if relative.startswith(f"{VERSIONS_DIR}/"):
            folder, name = relative[len(VERSIONS_DIR) + 1 :].rsplit("/", 1)
            match = RECORD_NAME.fullmatch(name)
            if match:
                recorded.add(f"{folder}/{match.group(2)}.parquet")
    now = time.time()
    for relative in files:
        top, name = relative.split("/", 1)[0], relative.rsplit("/", 1)[-1]
        if durable.TEMP_MARKER in name:
            reason = "temporary file of an interrupted write"
        elif top in RESERVED_TOP_LEVEL or name.endswith(CLAIM_SUFFIX):
            continue
        elif is_data_file_name(name) and "/" in relative and relative not in recorded:
            reason = "data file that no version record names"
        else:
            continue
        if _age_seconds(store, relative, now) < min_age_s:
            report.kept_recent.append(relative)
            continue
        if not dry_run:
            store.fs.rm_file(store._abs(relative))
        report.removed.append({"path": relative, "reason": reason})
    return report
