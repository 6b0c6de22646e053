"""The immutable, content-addressed Parquet store every artifact of the platform is written to.

Layout under a root (a local path or any fsspec URL)::

    <root>/<asset>/<partition>/<content-hash>.parquet          the data, never overwritten
    <root>/_versions/<asset>/<partition>/<ns>-<hash12>.parquet one append-only record per write

The current version of a partition is derived from its version records (the latest one), never stored in
place. Identical content re-written is a no-op; different content is a new file and a new record, and every
earlier version stays readable.
"""

from quant_platform.storage.encoding import EncodedFrame, encode_frame
from quant_platform.storage.keys import UNPARTITIONED, validate_key_segment
from quant_platform.storage.store import ParquetStore, VersionRecord

__all__ = [
    "UNPARTITIONED",
    "EncodedFrame",
    "ParquetStore",
    "VersionRecord",
    "encode_frame",
    "validate_key_segment",
]
