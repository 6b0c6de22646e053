"""Durable whole-file writes and exclusive creation, on local disk and on object storage.

Local disk (POSIX)
    ``put_atomic`` writes a temporary file (``<name>.tmp-<uuid>``), ``fsync``s it, renames it over the
    final name and ``fsync``s the directory, so after a power loss a name either holds the complete bytes or
    does not exist: a truncated file can never become current. Directories created on the way are made
    durable in their parents too. ``create_exclusive`` does the same but publishes with ``os.link``, which
    fails if the name exists: exactly one of any number of concurrent creators wins, and the name never
    shows partial content.

Object storage (S3, GCS, Azure through fsspec)
    A PUT is atomic and durable when it returns (the store acknowledges only after the object is stored
    redundantly), so ``put_atomic`` is one ``pipe_file``. ``create_exclusive`` is
    ``pipe_file(..., mode="create")``: fsspec's create-only write, which backends implement as a conditional
    put (S3 ``PutObject`` with ``If-None-Match: *``, GCS ``ifGenerationMatch=0``, Azure
    ``If-None-Match: *``) that fails with ``FileExistsError`` (HTTP 412) when the key exists. fsspec's
    generic fallback for a backend without conditional puts is check-then-write, which is not exclusive;
    run several writers only on a backend that implements it.

Leftover ``.tmp-`` files of a crashed local writer are never read (listings skip them); ``qp store gc``
removes them.
"""

from __future__ import annotations

import os
import uuid

import fsspec

TEMP_MARKER = ".tmp-"


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def fsync_directory(path: str) -> None:
    """Make a directory's entries (a rename or link into it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_durable(path: str) -> None:
    """``mkdir -p`` whose new directories survive a power loss (each new entry's parent is fsynced)."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
        fsync_directory(os.path.dirname(directory))


def _write_temp(final: str, data: bytes, sync: bool = True) -> str:
    temp = f"{final}{TEMP_MARKER}{uuid.uuid4().hex}"
    with open(temp, "wb") as handle:
        handle.write(data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())
    return temp


def _publish_replace(temp: str, final: str) -> None:
    os.replace(temp, final)


def _publish_exclusive(temp: str, final: str) -> bool:
    try:
        os.link(temp, final)
    except FileExistsError:
        return False
    return True


def put_atomic(fs: fsspec.AbstractFileSystem, final: str, data: bytes) -> None:
    """Write ``data`` whole and durably at ``final`` (replacing what is there); a crash leaves no partial
    file under ``final``."""
    if not is_local(fs):
        fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(final, data)
        return
    directory = os.path.dirname(final)
    makedirs_durable(directory)
    temp = _write_temp(final, data)
    try:
        _publish_replace(temp, final)
        fsync_directory(directory)
    finally:
        if os.path.lexists(temp):
            os.remove(temp)


def create_exclusive(fs: fsspec.AbstractFileSystem, final: str, data: bytes, *, sync: bool = True) -> bool:
    """Create ``final`` holding ``data`` only if no such name exists; ``True`` if this call created it.

    Exactly one of several concurrent callers gets ``True``; the others get ``False`` and may read what the
    winner wrote (it is complete before the name appears, and durable unless ``sync=False``: for a claim
    whose loss in a power cut is harmless, made durable anyway by a later fsync of the same directory)."""
    if not is_local(fs):
        fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        try:
            fs.pipe_file(final, data, mode="create")
        except FileExistsError:
            return False
        return True
    directory = os.path.dirname(final)
    makedirs_durable(directory)
    temp = _write_temp(final, data, sync)
    try:
        created = _publish_exclusive(temp, final)
        if created and sync:
            fsync_directory(directory)
        return created
    finally:
        if os.path.lexists(temp):
            os.remove(temp)
