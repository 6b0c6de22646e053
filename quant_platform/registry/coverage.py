"""What the store actually holds for a dataset or a resolution: assets with versions, rows per symbol.

A dataset that names an asset the store never recorded, or a symbol no stored row carries, describes data
that does not exist; a RunSet whose symbols have no rows would freeze as "missing 0" and research nothing.
These checks read only the version records and the ``symbol`` (and ``gap``) columns of the current data
files. An asset whose recorded schema has no ``symbol`` column (research outputs, test records) says
nothing about symbols and is not opened. Counted rows are priced rows: a ``gap`` row (bars_5m's explicit
missing bar) is not data for its symbol.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import date

import polars as pl

from quant_platform.core.timeutil import day_range
from quant_platform.registry.fs import RootFS, UnreadableFileError
from quant_platform.registry.versions import current_versions, read_version_records

_MAX_NAMED = 10


def _has_column(schema_json: str | None, column: str) -> bool:
    try:
        return column in json.loads(schema_json or "{}")
    except (TypeError, ValueError):
        return False


def symbol_rows(
    store: RootFS, artifacts: pl.DataFrame, wanted: Iterable[str] | None = None
) -> dict[str, int] | None:
    """Priced rows per symbol over the resolved files of ``artifacts`` (``path`` and ``schema_json``
    columns; rows without a path are skipped). None when no file has a ``symbol`` column (nothing to count).
    With ``wanted``, reading stops once every wanted symbol has a row (the counts are then partial)."""
    pending = set(wanted) if wanted is not None else None
    files = artifacts.filter(
        pl.col("path").is_not_null()
        & pl.col("schema_json").map_elements(lambda s: _has_column(s, "symbol"), return_dtype=pl.Boolean)
    )
    if files.height == 0:
        return None
    counts: dict[str, int] = {}
    for path, schema_json in files.select("path", "schema_json").iter_rows():
        columns = ["symbol", "gap"] if _has_column(schema_json, "gap") else ["symbol"]
        try:
            with store.fsspec.open(store.abs(path), "rb") as handle:
                frame = pl.read_parquet(io.BytesIO(handle.read()), columns=columns)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise UnreadableFileError(
                f"cannot read {store.uri(path)} to count rows per symbol: {exc}"
            ) from exc
        if "gap" in columns:
            frame = frame.filter(~pl.col("gap"))
        for symbol, n in frame.group_by("symbol").len().iter_rows():
            if symbol is not None:
                counts[symbol] = counts.get(symbol, 0) + n
        if pending is not None:
            pending -= counts.keys()
            if not pending:
                break  # every wanted symbol has a row: the answer cannot change
    return counts


def _current(store: RootFS, assets: Iterable[str], first: date, last: date) -> pl.DataFrame:
    records = read_version_records(store, list(assets), day_range(first, last))
    return current_versions(records)


def dataset_problems(
    store: RootFS, assets: Iterable[str], symbols: Iterable[str], first: date, last: date
) -> list[str]:
    """Why a dataset of ``assets`` × ``symbols`` over ``[first, last]`` does not describe stored data: assets
    with no stored version in the range (unknown or never materialized), symbols no stored row carries.
    Empty when the store backs it."""
    assets, symbols = tuple(assets), tuple(symbols)
    current = _current(store, assets, first, last)
    stored = set(current["asset"].unique().to_list())
    problems = []
    unknown_assets = [a for a in assets if a not in stored]
    if unknown_assets:
        problems.append(
            f"assets with no stored version between {first} and {last} (unknown, or never materialized): "
            f"{unknown_assets}"
        )
    rows = symbol_rows(store, current, symbols)
    if rows is not None:
        unknown = [s for s in symbols if not rows.get(s)]
        if unknown:
            known = sorted(rows)  # complete here: reading only stops early when nothing is unknown
            shown = known[:_MAX_NAMED] + (["…"] if len(known) > _MAX_NAMED else [])
            problems.append(
                f"symbols with no stored row between {first} and {last}: {unknown} (the store has {shown})"
            )
    return problems


def symbols_without_rows(store: RootFS, artifacts: pl.DataFrame, symbols: Iterable[str]) -> list[str] | None:
    """The ``symbols`` with no priced row in the resolved ``artifacts`` (a resolution's asset, partition,
    content_hash, path); None when nothing resolved carries a ``symbol`` column, so coverage cannot be told."""
    symbols = tuple(symbols)
    resolved = artifacts.filter(pl.col("content_hash").is_not_null())
    if resolved.height == 0:
        return list(symbols)
    assets = resolved["asset"].unique().to_list()
    records = read_version_records(store, assets, resolved["partition"].unique().to_list())
    schemas = records.select("asset", "partition", "content_hash", "schema_json").unique(
        subset=["asset", "partition", "content_hash"]
    )
    joined = resolved.join(schemas, on=["asset", "partition", "content_hash"], how="left")
    rows = symbol_rows(store, joined, symbols)
    if rows is None:
        return None
    return [s for s in symbols if not rows.get(s)]
