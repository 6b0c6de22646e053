"""The immutable, content-addressed Parquet store every artifact of the platform is written to.

Layout under a root (a local path or any fsspec URL)::

    <root>/<asset>/<partition>/<content-hash>.parquet               the data, never overwritten
    <root>/_versions/<asset>/<partition>/<seq>-<content-hash>.parquet one append-only record per write

The current version of a partition is derived from its version records (the one with the highest
sequence, taken by exclusive creation, never from wall clocks), never stored in place. Identical content
re-written adds no version; different content is a new file and a new record, and every earlier version
stays readable. Every read is checked against the content hash (``IntegrityError`` otherwise); see
``storage.store`` for durability, ordering and integrity, ``storage.maintenance`` for verify and gc.
"""

from quant_platform.storage.encoding import EncodedFrame, encode_frame
from quant_platform.storage.integrity import IntegrityError
from quant_platform.storage.keys import UNPARTITIONED, validate_data_path, validate_key_segment
from quant_platform.storage.store import ParquetStore, VersionRecord, WriteResult

__all__ = [
    "UNPARTITIONED",
    "EncodedFrame",
    "IntegrityError",
    "ParquetStore",
    "VersionRecord",
    "WriteResult",
    "encode_frame",
    "validate_data_path",
    "validate_key_segment",
]
