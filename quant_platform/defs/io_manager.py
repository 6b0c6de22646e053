"""The immutable Parquet IO manager: every asset output lands in the content-addressed ``ParquetStore``.

- ``handle_output`` writes one file per partition (``<root>/<asset>/<partition>/<hash>.parquet``), never
  overwrites, skips identical content, and appends a version record carrying the exact upstream versions read
  by the same step (lineage).
- ``load_input`` returns the current versions of the requested partitions as one ``pl.LazyFrame`` (or a
  collected ``pl.DataFrame`` when the parameter is annotated so). An input whose ``AssetIn`` metadata sets
  ``allow_missing_partitions`` (look-back windows) tolerates never-materialized partitions, and the gap is
  recorded in the lineage rather than skipped silently. Every file is checked against its content hash before
  it is read: a corrupt file fails the step with ``IntegrityError`` naming it, and re-materializing the upstream
  partition with identical content repairs it (``storage.store``).
- Assets return :func:`parquet_output` to make the content hash their Dagster data version.
- Every output is validated against the pandera schema its asset declared (``schema_check_spec``) before it
  is encoded; a violation fails the step and nothing is written (see ``defs/checks.py``).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg
import polars as pl
from pydantic import PrivateAttr

from quant_platform.core.hashing import canonical_hash
from quant_platform.core.timeutil import parse_day
from quant_platform.defs.checks import validate_before_write
from quant_platform.storage import UNPARTITIONED, EncodedFrame, ParquetStore, encode_frame
from quant_platform.storage.split import split_by_windows

PARTITION_COLUMN_KEY = "partition_column"  # asset definition metadata: which column splits a backfill output
ALLOW_MISSING_KEY = "allow_missing_partitions"  # AssetIn metadata, for look-back windows
PARTITION_KEY_COLUMN_KEY = "partition_key_column"  # AssetIn metadata: tag each row with its stored partition


@dataclass(frozen=True)
class EncodedPartitions:
    """An asset output already encoded, one ``EncodedFrame`` per partition key."""

    parts: dict[str, EncodedFrame]

    @property
    def content_hash(self) -> str:
        if len(self.parts) == 1:
            return next(iter(self.parts.values())).content_hash
        return canonical_hash({k: v.content_hash for k, v in sorted(self.parts.items())})


def _output_partition_keys(context: dg.OutputContext | dg.AssetExecutionContext) -> list[str]:
    if isinstance(context, dg.AssetExecutionContext):
        return list(context.partition_keys) if context.assets_def.partitions_def else [UNPARTITIONED]
    return list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]


def _split(frame: pl.DataFrame, keys: list[str], partitions_def: Any, column: str) -> dict[str, pl.DataFrame]:
    if len(keys) == 1:
        return {keys[0]: frame}
    if not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        raise ValueError("an output spanning several partitions needs time-window partitions to be split")
    windows = {}
    for key in keys:
        window = partitions_def.time_window_for_partition_key(key)
        windows[key] = (window.start, window.end)
    return split_by_windows(frame, column, windows)


def encode_partitions(
    frame: pl.DataFrame | pl.LazyFrame, keys: list[str], partitions_def: Any = None, column: str = "ts"
) -> EncodedPartitions:
    collected = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    return EncodedPartitions(
        {k: encode_frame(v) for k, v in _split(collected, keys, partitions_def, column).items()}
    )


def _validate_and_encode(
    asset_key: dg.AssetKey,
    frame: pl.DataFrame | pl.LazyFrame | dict[str, pl.DataFrame],
    keys: list[str],
    partitions_def: Any,
    column: str,
) -> tuple[EncodedPartitions, pl.DataFrame]:
    """The one road from a frame to bytes: validate against the asset's declared schema, then encode.

    A frame that fails its schema raises ``dg.Failure`` here, before any byte reaches the store, so it can
    never become a current version (the blocking schema check alone runs only after the write).
    """
    if isinstance(frame, dict):
        if sorted(frame) != sorted(keys):
            raise ValueError(f"output partitions {sorted(frame)} do not match the run's {sorted(keys)}")
        whole = pl.concat(list(frame.values()), how="vertical") if frame else pl.DataFrame()
        validate_before_write(asset_key, whole)
        return EncodedPartitions({k: encode_frame(v) for k, v in frame.items()}), whole
    whole = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    validate_before_write(asset_key, whole)
    return encode_partitions(whole, keys, partitions_def, column), whole


def frame_metadata(frame: pl.DataFrame) -> dict[str, Any]:
    """Row count and schema, in the forms the Dagster UI renders natively."""
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=n, type=str(t)) for n, t in frame.schema.items()]
        ),
    }


def parquet_output(
    context: dg.AssetExecutionContext,
    frame: pl.DataFrame | dict[str, pl.DataFrame],
    *,
    metadata: dict[str, Any] | None = None,
    partition_column: str = "ts",
    output_name: str = "result",
) -> dg.Output:
    """Encode an output once and return it as an ``Output`` whose data version is its content hash.

    ``frame`` is either one frame (split across the run's partitions by ``partition_column`` when the run
    spans several) or an explicit ``{partition_key: frame}`` mapping for tables that have no time column to
    split by (e.g. quarantined rows, whose timestamps may be the very thing that is wrong).
    """
    keys = _output_partition_keys(context)
    partitions_def = context.assets_def.partitions_def if keys != [UNPARTITIONED] else None
    asset_key = context.assets_def.keys_by_output_name[output_name]
    encoded, whole = _validate_and_encode(asset_key, frame, keys, partitions_def, partition_column)
    return dg.Output(
        encoded,
        output_name=output_name,
        data_version=dg.DataVersion(encoded.content_hash),
        metadata={**frame_metadata(whole), **(metadata or {})},
    )


def _materialization_run_id(context: dg.OutputContext, partition: str, lineage: list[dict]) -> str:
    """The deterministic run id of this write (asset, partition, upstream versions read, code version),
    from which the registry builds artifact ids; the Dagster run UUID stays provenance only."""
    from quant_platform.registry.ids import materialization_run_id
    from quant_platform.storage.keys import asset_path

    try:
        code_version = context.asset_spec.code_version
    except Exception:  # an op output without an asset spec has no code version
        code_version = None
    return materialization_run_id(asset_path(context.asset_key.path), partition, lineage, code_version)


def _add_partition_metadata(
    context: dg.OutputContext, store: ParquetStore, versions: list[dict], lineage: dict[str, list[dict]]
) -> None:
    """Give each partition's materialization event of a multi-partition (single-run backfill) output its own
    rows, content hash and path, overriding the run-wide values.

    Dagster 1.13 scopes metadata per partition (``add_asset_metadata(..., partition_key=...)``; partition
    metadata wins over output metadata) but keeps one data version per asset per step, so every partition of
    such a run carries the combined hash as ``dagster/data_version``; the partition's own content hash is
    its ``content_hash`` metadata (``DataVersionsByPartition`` exists only for observable source assets).
    """
    for version in versions:
        context.step_context.add_asset_metadata(
            {
                "rows": version["rows"],
                "dagster/row_count": version["rows"],
                "content_hash": version["content_hash"],
                "path": dg.MetadataValue.path(store.uri(version["path"])),
                "new_versions_written": int(version["new_version_written"]),
                # the partition's own version and upstream window: run-wide lists repeated on every event of a
                # long backfill grew as (days x days) and (days x look-back) in the event log
                "partition_versions": dg.MetadataValue.json([version]),
                "lineage": dg.MetadataValue.json(lineage[version["partition"]]),
            },
            asset_key=context.asset_key,
            partition_key=version["partition"],
        )


def lineage_by_partition(lineage: list[dict], keys: list[str]) -> dict[str, list[dict]]:
    """Each output partition's own upstream versions: what a run of that partition alone would have read.

    A single-run backfill loads the union of its days' windows; recording that union for every day made a day's
    lineage (and the run id derived from it) depend on how the backfill was batched, and grew the records as
    days x look-back. For daily keys, an upstream asset loaded from ``w`` days before the run's first day (a
    look-back mapping) gives day ``d`` its entries in ``[d - w, d]``. A run of consecutive never-materialized
    upstream days (a window reaching before the data) is recorded as one entry ``first..last`` with
    ``content_hash`` null and its ``missing_partitions`` count: recorded, not hidden, and not one row per day.
    Non-day keys keep every entry as loaded.
    """
    try:
        days = {key: parse_day(key) for key in keys}
        read = [(x, parse_day(x["partition"])) for x in lineage]
    except (ValueError, TypeError, KeyError):
        return {key: list(lineage) for key in keys}
    first_day = min(days.values())
    # per asset, in day order: (first day, last day, the entry if materialized else None); a run of
    # consecutive never-materialized days is one segment
    segments: dict[str, list[tuple[Any, Any, dict | None]]] = {}
    reach: dict[str, int] = {}  # from every key loaded, materialized or not: the mapping's own reach
    order: list[str] = []
    for x, day in sorted(read, key=lambda item: item[1]):
        asset = x["asset"]
        if asset not in segments:
            segments[asset] = []
            order.append(asset)
        reach[asset] = max(reach.get(asset, 0), (first_day - day).days)
        runs = segments[asset]
        missing = x.get("content_hash") is None
        if missing and runs and runs[-1][2] is None and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day, None)
        else:
            runs.append((day, day, None if missing else x))
    starts = {asset: [run[0] for run in runs] for asset, runs in segments.items()}
    out: dict[str, list[dict]] = {}
    for key, d in days.items():
        entries: list[dict] = []
        for asset in order:
            lo = d - timedelta(days=reach[asset])
            runs = segments[asset]
            # runs are in day order and disjoint: from the last run starting at or before lo to the last at or before d
            i = max(bisect_right(starts[asset], lo) - 1, 0)
            j = bisect_right(starts[asset], d)
            for first, last, present in runs[i:j]:
                if last < lo:
                    continue
                if present is not None:
                    entries.append(present)
                    continue
                a, b = max(first, lo), min(last, d)
                entries.append(
                    {
                        "asset": asset,
                        "partition": a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}",
                        "content_hash": None,
                        "missing_partitions": (b - a).days + 1,
                    }
                )
        out[key] = entries
    return out


class ImmutableParquetIOManager(dg.ConfigurableIOManager):
    """Content-addressed, append-only Parquet storage for every asset (see module docstring)."""

    root: str = "data/store"

    _loaded: dict[str, list[dict]] = PrivateAttr(default_factory=dict)

    @property
    def store(self) -> ParquetStore:
        return ParquetStore(self.root)

    # ---- outputs -----------------------------------------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            raise ValueError(f"{context.asset_key.to_user_string()}: an asset output may not be None")
        keys = _output_partition_keys(context)
        if isinstance(obj, EncodedPartitions):
            encoded = obj
            if sorted(encoded.parts) != sorted(keys):
                raise ValueError(
                    f"encoded partitions {sorted(encoded.parts)} do not match the run's {sorted(keys)}"
                )
        elif isinstance(obj, pl.DataFrame | pl.LazyFrame):
            column = (context.definition_metadata or {}).get(PARTITION_COLUMN_KEY, "ts")
            partitions_def = context.asset_partitions_def if keys != [UNPARTITIONED] else None
            encoded, _ = _validate_and_encode(context.asset_key, obj, keys, partitions_def, column)
        else:
            raise TypeError(f"the Parquet IO manager stores polars frames, got {type(obj).__name__}")

        lineage = self._loaded.pop(context.step_key or "", [])
        own_lineage = lineage_by_partition(lineage, sorted(encoded.parts))
        store = self.store
        rows, written, versions = 0, 0, []
        for key, part in sorted(encoded.parts.items()):
            result = store.write(
                context.asset_key.path,
                key,
                part,
                dagster_run_id=context.run_id,
                lineage=own_lineage[key],
                run_id=_materialization_run_id(context, key, own_lineage[key]),
            )
            rows += part.rows
            written += int(result.created)
            versions.append(
                {
                    "partition": key,
                    "rows": part.rows,
                    "content_hash": part.content_hash,
                    "path": result.record.path,
                    "new_version_written": result.created,
                }
            )
        if len(versions) > 1:
            _add_partition_metadata(context, store, versions, own_lineage)
        first = versions[0]
        context.add_output_metadata(
            {
                "rows": rows,
                "content_hash": encoded.content_hash,
                "run_content_hash": encoded.content_hash,  # = the data version of every partition of this run
                "path": dg.MetadataValue.path(store.uri(first["path"])) if len(versions) == 1 else store.root,
                "schema": dg.MetadataValue.json(next(iter(encoded.parts.values())).schema),
                "new_versions_written": written,
                "partition_versions": dg.MetadataValue.json(versions if len(versions) == 1 else []),
                "lineage": dg.MetadataValue.json(
                    own_lineage[first["partition"]] if len(versions) == 1 else {}
                ),
            }
        )

    # ---- inputs ------------------------------------------------------------------------------------------
    def load_input(self, context: dg.InputContext) -> pl.LazyFrame | pl.DataFrame:
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
        allow_missing = bool((context.definition_metadata or {}).get(ALLOW_MISSING_KEY, False))
        tag_column = (context.definition_metadata or {}).get(PARTITION_KEY_COLUMN_KEY)
        frame, lineage = self.store.scan(
            context.asset_key.path, keys, allow_missing=allow_missing, partition_column=tag_column
        )
        missing = [x["partition"] for x in lineage if x["content_hash"] is None]
        if missing:
            context.log.warning(
                f"{context.asset_key.to_user_string()}: partitions never materialized: {missing}"
            )
        self._loaded.setdefault(context.step_context.step.key, []).extend(lineage)
        typing_type = getattr(context.dagster_type, "typing_type", None)
        return frame if typing_type is pl.LazyFrame else frame.collect()
