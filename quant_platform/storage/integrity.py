"""What is read is what was written: content checks for data files and version records.

Data files
    A data file is named by the sha256 of its bytes (``<asset>/<partition>/<sha256>.parquet``) and its
    version record repeats that hash. Every read hashes the whole file and compares (``verified_bytes``):
    sha256 catches any change, including the flips Parquet would decode without complaint (a value bit in
    an uncompressed page, a statistics value, a footer field). The cost is measured by ``make bench``
    (``bench/bench_storage.py``: verified against unverified reads).

Version records
    A record carries ``record_checksum``: sha256 of the canonical JSON of its other fields
    (:func:`record_checksum`). A reader recomputes it, and also checks the record against its own file
    name and folder (content hash, asset, partition and data path), so a flipped or tampered field is an
    error naming the file, never a silently different version. Records written before the column existed
    have a null checksum and get the name checks only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from quant_platform.core.hashing import canonical_hash

_CHUNK = 1 << 20


class IntegrityError(OSError):
    """A stored file whose content is not what was written (corrupt, truncated or tampered). The message
    names the file, what was expected and what was found, and how to repair it."""


REPAIR_HINT = (
    "re-materialize the partition (an identical re-write repairs the file) or run `qp store verify --repair`"
)


def sha256_of_handle(handle: Any) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def check_bytes(data: bytes, expected: str, where: str) -> bytes:
    """``data`` if its sha256 is ``expected``, else ``IntegrityError`` naming ``where``."""
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise IntegrityError(
            f"integrity check failed for {where}: its sha256 is {found[:16]}…, it was written as "
            f"{expected[:16]}…; {REPAIR_HINT}"
        )
    return data


def check_local_file(path: str, expected: str) -> None:
    """Hash a local file (streamed, no copy held in memory) and compare with ``expected``."""
    try:
        with open(path, "rb") as handle:
            found = hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        raise IntegrityError(
            f"data file {path} is missing (its version record exists); {REPAIR_HINT}"
        ) from None
    if found != expected:
        raise IntegrityError(
            f"integrity check failed for {path}: its sha256 is {found[:16]}…, it was written as "
            f"{expected[:16]}…; {REPAIR_HINT}"
        )


def check_local_files(paths: list[str], expected: list[str]) -> None:
    """:func:`check_local_file` for many files at once, on a thread pool: hashlib releases the GIL while it
    hashes, so verification scales with cores as the Parquet reader does."""
    if len(paths) == 1:
        check_local_file(paths[0], expected[0])
        return
    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool:
        for _ in pool.map(check_local_file, paths, expected):  # re-raises the first failure
            pass


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def record_checksum(fields: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a version record's fields (``record_checksum`` itself excluded)."""
    return canonical_hash({k: _jsonable(v) for k, v in fields.items() if k != "record_checksum"})


def record_problem(fields: Mapping[str, Any], record_file: str) -> str | None:
    """Why the version record read from ``record_file`` (``_versions/<asset>/<partition>/<seq>-<hash>
    .parquet``) cannot be trusted, or ``None`` if it checks out."""
    directory, name = record_file.rsplit("/", 1)
    name_hash = name.removesuffix(".parquet").split("-", 1)[-1]
    folder = directory.split("/", 1)[-1]  # <asset>/<partition>
    expected_path = f"{folder}/{name_hash}.parquet"
    if fields.get("content_hash") != name_hash:
        return (
            f"content_hash {fields.get('content_hash')!r} differs from the record's name ({name_hash[:16]}…)"
        )
    if f"{fields.get('asset')}/{fields.get('partition')}" != folder:
        return f"asset/partition {fields.get('asset')!r}/{fields.get('partition')!r} differ from its folder"
    if fields.get("path") != expected_path:
        return f"path {fields.get('path')!r} differs from {expected_path!r}"
    stored = fields.get("record_checksum")
    if stored is not None and stored != record_checksum(fields):
        return "record_checksum does not match the record's fields"
    return None
