"""Experiment facts: the runs, trades (round trips), daily PnL and metrics of experiment executions.

Layout under the registry root (every file written once, by exclusive creation)::

    experiments/definitions/<experiment_id>.json        the experiment: RunSet id + strategy spec
    experiments/facts/<table>/<run_id>.parquet          table in EXPERIMENT_FACT_SCHEMAS

Unlike the registry's other facts (stamped with ``written_at``), these files are pure functions of the run:
the same run (same ``run_id``: datasets, strategy bound to its resolved inputs, engine version, seed) always
has the same bytes. A write therefore creates the file exclusively and, when it already exists, compares
bytes: equal means the fact is already there (nothing is written), different means the replay did not
reproduce and is an :class:`~quant_platform.storage.integrity.IntegrityError` naming the file. The
``experiment_runs`` file is written last, so a run with a runs fact has all its other facts.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from quant_platform.core.hashing import canonical_json, sha256_hex
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.registry.fs import RootFS
from quant_platform.registry.names import validate_content_id
from quant_platform.storage import encode_frame
from quant_platform.storage.integrity import IntegrityError

EXPERIMENTS_DIR = "experiments"
DEFINITIONS_DIR = f"{EXPERIMENTS_DIR}/definitions"
FACTS_DIR = f"{EXPERIMENTS_DIR}/facts"

_STR, _F64, _I64 = pl.String(), pl.Float64(), pl.Int64()
EXPERIMENT_FACT_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "experiment_runs": {
        "run_id": _STR,
        "experiment_id": _STR,
        "runset_id": _STR,
        "runset_name": _STR,
        "resolution_hash": _STR,
        "dataset_id": _STR,
        "strategy_name": _STR,
        "strategy_hash": _STR,
        "run_strategy_hash": _STR,  # the strategy bound to its resolved inputs: what run_id hashes
        "engine_version": _STR,
        "engine_config_id": _STR,
        "seed": _I64,
        "symbols": pl.List(_STR),
        "range_start": pl.Date(),
        "range_end": pl.Date(),
        "n_trades": _I64,
        "final_equity": _F64,
        "result_hash": _STR,  # the engine result's content hash (fills, steps, equity)
    },
    "trades": {
        "run_id": _STR,
        "trade_no": _I64,
        "symbol": _STR,
        "side": _STR,
        "size": _F64,
        "entry_ts": TS_DTYPE,
        "entry_price": _F64,
        "exit_ts": TS_DTYPE,
        "exit_price": _F64,
        "closed": pl.Boolean(),
        "bars_held": _I64,
        "n_fills": _I64,
        "entry_fees": _F64,
        "exit_fees": _F64,
        "slippage_cost": _F64,
        "funding_pnl": _F64,
        "pnl_gross": _F64,
        "pnl_net": _F64,
        "return_gross": _F64,
        "return_net": _F64,
    },
    "daily_pnl": {
        "run_id": _STR,
        "day": pl.Date(),
        "pnl_gross": _F64,
        "fees": _F64,
        "slippage_cost": _F64,
        "funding_pnl": _F64,
        "pnl_net": _F64,
        "equity_close": _F64,
        "gross_exposure_max": _F64,
    },
    "run_metrics": {
        "run_id": _STR,
        "metric": _STR,
        "value": _F64,  # numeric metrics (booleans as 0/1)
        "text": _STR,  # text metrics (status); null for numeric ones
    },
}
EXPERIMENT_TABLES: tuple[str, ...] = tuple(EXPERIMENT_FACT_SCHEMAS)


def fact_path(table: str, run_id: str) -> str:
    if table not in EXPERIMENT_FACT_SCHEMAS:
        raise ValueError(f"unknown experiment fact table {table!r}; known: {list(EXPERIMENT_TABLES)}")
    return f"{FACTS_DIR}/{table}/{validate_content_id(run_id, 'run id')}.parquet"


def definition_path(experiment_id: str) -> str:
    return f"{DEFINITIONS_DIR}/{validate_content_id(experiment_id, 'experiment id')}.json"


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the table's columns, in order and types (a missing or extra column is an error)."""
    schema = EXPERIMENT_FACT_SCHEMAS[table]
    if set(frame.columns) != set(schema):
        raise ValueError(f"{table} fact columns {sorted(frame.columns)} differ from {sorted(schema)}")
    return frame.select([pl.col(n).cast(t) for n, t in schema.items()])


def write_once(fs: RootFS, relative: str, data: bytes) -> bool:
    """Create ``relative`` with ``data``; ``False`` when it already holds exactly ``data`` (nothing written).
    Existing different bytes raise ``IntegrityError``: an id names one content only."""
    if fs.create_exclusive(relative, data):
        return True
    existing = fs.read_bytes(relative)
    if existing != data:
        raise IntegrityError(
            f"{fs.uri(relative)} exists with different content (sha256 {sha256_hex(existing)[:12]}… vs "
            f"{sha256_hex(data)[:12]}… now): the same run did not reproduce the same facts"
        )
    return False


def write_fact(fs: RootFS, table: str, run_id: str, frame: pl.DataFrame) -> bool:
    """Write one run's ``table`` fact (deterministic bytes); ``True`` if written now."""
    fact = conform(table, frame)
    if fact.height and fact["run_id"].ne(run_id).any():
        raise ValueError(f"{table} fact rows must all carry run id {run_id[:12]}…")
    return write_once(fs, fact_path(table, run_id), encode_frame(fact).data)


def write_definition(fs: RootFS, experiment_id: str, definition: dict[str, Any]) -> bool:
    return write_once(fs, definition_path(experiment_id), canonical_json(definition).encode())


def read_definition(fs: RootFS, experiment_id: str) -> dict[str, Any] | None:
    relative = definition_path(experiment_id)
    if not fs.exists(relative):
        return None
    try:
        return json.loads(fs.read_bytes(relative))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"experiment definition {fs.uri(relative)} is corrupt: {exc}") from exc


def definition_files(fs: RootFS) -> list[str]:
    return fs.glob(f"{DEFINITIONS_DIR}/*.json")


def fact_files(fs: RootFS, table: str) -> list[str]:
    if table not in EXPERIMENT_FACT_SCHEMAS:
        raise ValueError(f"unknown experiment fact table {table!r}")
    return fs.glob(f"{FACTS_DIR}/{table}/*.parquet")


def read_facts(fs: RootFS, table: str, where: pl.Expr | None = None) -> pl.DataFrame:
    """Every fact of ``table`` (with ``fact_file``), optionally filtered."""
    return fs.read_parquet(fact_files(fs, table), EXPERIMENT_FACT_SCHEMAS[table], where)


def definitions_frame(fs: RootFS) -> pl.DataFrame:
    """One row per experiment definition (the ``experiments`` projection)."""
    rows = []
    for relative in definition_files(fs):
        definition = json.loads(fs.read_bytes(relative))
        rows.append(
            {
                "experiment_id": definition["experiment_id"],
                "runset_id": definition["runset_id"],
                "runset_name": definition["runset_name"],
                "strategy_name": definition["strategy"]["name"],
                "strategy_hash": definition["strategy_hash"],
                "policy_kind": definition["strategy"]["policy"]["kind"],
                "strategy_json": canonical_json(definition["strategy"]),
            }
        )
    schema = dict.fromkeys(
        ["experiment_id", "runset_id", "runset_name", "strategy_name", "strategy_hash", "policy_kind",
         "strategy_json"],
        _STR,
    )  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
