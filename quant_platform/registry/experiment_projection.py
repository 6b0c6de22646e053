"""The experiment part of the DuckDB cache: tables and views over the experiment facts.

Tables (rebuilt from ``experiments/`` under the registry root, like every cache table):
``experiments`` (one row per definition), ``experiment_runs``, ``trades`` (round trips, one row per trade with
its ``run_id``), ``daily_pnl``, ``run_metrics`` (each with ``fact_file``).

Views:
- ``runs_with_artifacts``: each experiment run with every artifact version its RunSet resolution pointed at
  (asset, partition, content hash, path, and the store's ``artifact_id`` of that version);
- ``runset_trades``: every trade with the RunSet it belongs to through ``runset_membership`` — a run belongs to
  its RunSet's current membership when it read exactly the RunSet's current resolution (a frozen RunSet's pin;
  an exploratory RunSet's latest). "All trades of RunSet X" is then one query::

      SELECT t.* FROM trades t
      JOIN experiment_runs r USING (run_id)
      JOIN (SELECT DISTINCT runset_id, runset_name, resolution_hash FROM runset_membership) m
        ON m.runset_id = r.runset_id AND m.resolution_hash = r.resolution_hash
      WHERE m.runset_name = 'X'
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from quant_platform.registry.experiment_facts import (
    EXPERIMENT_FACT_SCHEMAS,
    EXPERIMENT_TABLES,
    definition_files,
    definitions_frame,
    fact_files,
)

if TYPE_CHECKING:
    from quant_platform.registry.registry import Registry

PROJECTION_TABLES: tuple[str, ...] = ("experiments", *EXPERIMENT_TABLES)
PROJECTION_VIEWS: tuple[str, ...] = ("runs_with_artifacts", "runset_trades")

RUNSET_TRADES_SQL = """SELECT t.* FROM trades t
JOIN experiment_runs r USING (run_id)
JOIN (SELECT DISTINCT runset_id, runset_name, resolution_hash FROM runset_membership) m
  ON m.runset_id = r.runset_id AND m.resolution_hash = r.resolution_hash
WHERE m.runset_name = $runset"""

_LOAD = """
CREATE TABLE {table} AS
SELECT * EXCLUDE (filename), substr(filename, $prefix_len + 1) AS fact_file
FROM read_parquet($files, union_by_name = true, filename = true)
WHERE filename <> $template
"""

_VIEWS = [
    """CREATE VIEW runs_with_artifacts AS
    WITH resolved AS (
        SELECT DISTINCT runset_id, resolution_hash, asset, partition, content_hash, path FROM resolutions
    ), versions AS (
        SELECT asset, partition, content_hash, arg_min(artifact_id, record_seq) AS artifact_id
        FROM artifacts GROUP BY asset, partition, content_hash
    )
    SELECT r.run_id, r.experiment_id, r.runset_id, r.runset_name, r.resolution_hash, r.strategy_name,
           r.strategy_hash, r.engine_version, r.seed, a.asset, a.partition, a.content_hash, a.path,
           v.artifact_id
    FROM experiment_runs r
    JOIN resolved a ON a.runset_id = r.runset_id AND a.resolution_hash = r.resolution_hash
    LEFT JOIN versions v
      ON v.asset = a.asset AND v.partition = a.partition AND v.content_hash = a.content_hash""",
    """CREATE VIEW runset_trades AS
    SELECT m.runset_name, r.experiment_id, r.strategy_name, t.*
    FROM trades t
    JOIN experiment_runs r USING (run_id)
    JOIN (SELECT DISTINCT runset_id, runset_name, resolution_hash FROM runset_membership) m
      ON m.runset_id = r.runset_id AND m.resolution_hash = r.resolution_hash""",
]


def projection_files(registry: Registry) -> dict[str, list[str]]:
    """The files the projections read (part of the cache fingerprint: new facts rebuild the cache)."""
    files = {f"experiments/{t}": fact_files(registry.fs, t) for t in EXPERIMENT_TABLES}
    files["experiments/definitions"] = definition_files(registry.fs)
    return files


def build_projections(
    con: duckdb.DuckDBPyConnection, registry: Registry, files: dict[str, list[str]]
) -> None:
    """Create the experiment tables and views in ``con`` (after the registry tables exist)."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix_len = len(registry.fs.uri("")) + 1
        for table in EXPERIMENT_TABLES:  # table names come from our constants only
            template = os.path.join(tmp, f"{table}.parquet")
            pl.DataFrame(schema=EXPERIMENT_FACT_SCHEMAS[table]).write_parquet(template)
            absolute = [registry.fs.uri(f) for f in files[f"experiments/{table}"]]
            try:
                con.execute(
                    _LOAD.format(table=table),
                    {"files": [template, *absolute], "template": template, "prefix_len": prefix_len},
                )
            except duckdb.Error as exc:
                raise registry.fs.unreadable(files[f"experiments/{table}"], exc) from exc
    frame = definitions_frame(registry.fs)
    con.register("definitions_frame", frame)
    con.sql("CREATE TABLE experiments AS SELECT * FROM definitions_frame")
    con.unregister("definitions_frame")
    for view in _VIEWS:
        con.sql(view)
