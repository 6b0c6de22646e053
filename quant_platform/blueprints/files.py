"""Writing ``blueprints.jsonl`` beside the Parquet store: content-addressed, atomic, durable, never overwritten.

Path: ``<store root>/strategy_blueprints/<runset>/<sha256 of the bytes>.blueprints.jsonl`` — the same bytes
always land at the same path, and a path that exists already holds them (its content is verified).
"""

from __future__ import annotations

import os
import uuid

import fsspec

from quant_platform.core.hashing import sha256_hex
from quant_platform.storage.keys import validate_key_segment

ASSET = "strategy_blueprints"


def write_blueprints_jsonl(store_root: str, runset: str, data: bytes) -> tuple[str, bool]:
    """Write ``data`` and return ``(uri, created)``; identical bytes already there write nothing."""
    fs, root = fsspec.core.url_to_fs(store_root)
    digest = sha256_hex(data)
    relative = f"{ASSET}/{validate_key_segment(runset, 'partition key')}/{digest}.blueprints.jsonl"
    final = f"{root.rstrip('/')}/{relative}"
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    uri = final if "file" in protocols else fs.unstrip_protocol(final)
    if fs.exists(final):
        if sha256_hex(fs.cat_file(final)) != digest:
            raise OSError(f"{uri} exists but does not hold the bytes its name says (corrupt store)")
        return uri, False
    fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
    if "file" not in protocols:
        fs.pipe_file(final, data)
        return uri, True
    temp = f"{final}.tmp-{uuid.uuid4().hex}"
    try:
        with open(temp, "xb") as handle:  # exclusive: never write into someone else's temp file
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return uri, True
