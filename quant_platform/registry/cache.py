"""The DuckDB cache: a disposable, queryable projection of the registry facts and the store's versions.

``rebuild_cache`` lists the fact files, loads each fact type with ``read_parquet`` (the file list is a bound
parameter, never spliced into SQL), derives the RunSet membership table and the views, and swaps the new
database file into place atomically, so readers never see a half-built cache. Deleting the file and
rebuilding gives the same query results; nothing is stored only here.

Tables: ``datasets runs runsets resolutions freezes trials run_observations`` (every fact, plus
``fact_file``/``fact_seq``), ``governance_ledger`` (every promotion-ledger row; views ``promotion_decisions``,
``state_events``, ``gate_verdicts``),
``artifacts`` (store version records with ``artifact_id``; a corrupt record is left out and listed in
``quarantined_records`` with its file and reason, and ``rebuild_cache`` reports it), ``runset_membership`` (RunSet × asset ×
partition × content hash of each RunSet's current resolution), ``cache_meta``.
Views: ``runset_bindings`` (the valid name → id binding per RunSet), ``resolution_heads`` (one row per
resolve), ``latest_resolutions`` (newest non-historical resolve per RunSet), ``pins`` (the freeze per RunSet),
``current_resolutions`` (the pin if frozen, else the latest), ``runs_with_artifact_counts``,
``dataset_coverage``, ``trial_evaluations`` (one row per distinct evaluation of the trial ledger: stage, kind,
trial id, sub id, with its metric count) and ``trial_counts`` (per RunSet: distinct hypotheses, as
``registry.trials.count_hypotheses``, and every evaluation, as ``count_evaluations``, with the folds, CPCV
paths and HPO trials among them). Trial rows of fact files older than ``kind``/``sub_id`` are loaded as
hypotheses with sub id ``''``, as the registry reads them.

Experiments (``registry.experiment_projection``): tables ``experiments experiment_runs trades daily_pnl
run_metrics`` from the experiment facts, views ``runs_with_artifacts`` (each run with the artifact versions its
resolution pointed at) and ``runset_trades`` (trades through ``runset_membership``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from quant_platform.core.hashing import canonical_hash
from quant_platform.governance.ledger import LEDGER_DIR, LEDGER_SCHEMA
from quant_platform.registry.columns import FACT_SCHEMAS, FACT_TYPES
from quant_platform.registry.experiment_projection import (
    PROJECTION_TABLES,
    PROJECTION_VIEWS,
    build_projections,
    projection_files,
)
from quant_platform.registry.trials import CONFIGURATION_KINDS, CPCV_PATH, FOLD, HPO_TRIAL, HYPOTHESIS
from quant_platform.registry.versions import (
    QUARANTINE_SCHEMA,
    VersionRecords,
    empty_version_records,
    load_version_records,
)

if TYPE_CHECKING:
    from quant_platform.registry.registry import Registry

CACHE_FORMAT = "7"  # bump when tables or views change, so older cache files are rebuilt

_LOAD_FACTS = """
CREATE TABLE {table} AS
SELECT * EXCLUDE (filename),
       substr(filename, $prefix_len + 1) AS fact_file,
       CAST(regexp_extract(filename, '(\\d{{1,20}})-[0-9a-f]+\\.parquet$', 1) AS BIGINT) AS fact_seq
FROM read_parquet($files, union_by_name = true, filename = true)
WHERE filename <> $template
"""

_VIEWS = [
    """CREATE VIEW runset_bindings AS
    SELECT * FROM runsets
    QUALIFY row_number() OVER (PARTITION BY runset_name ORDER BY fact_seq, fact_file) = 1
        AND row_number() OVER (PARTITION BY runset_id ORDER BY fact_seq, fact_file) = 1""",
    """CREATE VIEW resolution_heads AS
    SELECT runset_id, runset_name, resolution_hash, resolver_version, as_of, range_start, range_end,
           coalesce(historical, false) AS historical,
           fact_file, fact_seq, min(written_at) AS resolved_at, count(*) AS n_artifacts,
           count(*) FILTER (WHERE content_hash IS NULL) AS n_missing
    FROM resolutions
    GROUP BY runset_id, runset_name, resolution_hash, resolver_version, as_of, range_start, range_end,
             coalesce(historical, false), fact_file, fact_seq""",
    """CREATE VIEW latest_resolutions AS
    SELECT * FROM resolution_heads WHERE NOT historical
    QUALIFY row_number() OVER (PARTITION BY runset_id ORDER BY fact_seq DESC, fact_file DESC) = 1""",
    """CREATE VIEW pins AS
    SELECT runset_id, runset_name, resolution_hash, written_at AS frozen_at FROM freezes
    QUALIFY row_number() OVER (PARTITION BY runset_id ORDER BY fact_seq, fact_file) = 1""",
    """CREATE VIEW current_resolutions AS
    SELECT h.*, true AS frozen FROM resolution_heads h JOIN pins p
        ON p.runset_id = h.runset_id AND p.resolution_hash = h.resolution_hash
    QUALIFY row_number() OVER (PARTITION BY h.runset_id ORDER BY h.fact_seq, h.fact_file) = 1
    UNION ALL
    SELECT l.*, false AS frozen FROM latest_resolutions l
    WHERE l.runset_id NOT IN (SELECT runset_id FROM pins)""",
    """CREATE VIEW runs_with_artifact_counts AS
    SELECT r.run_id, r.dagster_run_id, r.runset_id, r.engine_version, r.seed, r.strategy_hash,
           r.written_at, count(a.artifact_id) AS n_artifacts, CAST(coalesce(sum(a.rows), 0) AS BIGINT) AS artifact_rows
    FROM runs r LEFT JOIN artifacts a ON a.producer_run_id = r.run_id  -- only the run's own artifacts
    GROUP BY r.run_id, r.dagster_run_id, r.runset_id, r.engine_version, r.seed, r.strategy_hash,
             r.written_at, r.fact_file""",
    """CREATE VIEW trial_evaluations AS
    SELECT runset_id, stage, kind, trial_id, sub_id, family, count(metric) AS n_metrics,
           min(written_at) AS first_recorded_at
    FROM trials GROUP BY runset_id, stage, kind, trial_id, sub_id, family""",
    f"""CREATE VIEW trial_counts AS
    WITH evaluations AS (SELECT DISTINCT runset_id, stage, kind, trial_id, sub_id FROM trials),
    configurations AS (
        SELECT DISTINCT runset_id, kind, trial_id, sub_id FROM trials
        WHERE kind IN {tuple(CONFIGURATION_KINDS)!r}
    ), per_runset AS (
        SELECT runset_id, count(*) AS n_evaluations,
               count(*) FILTER (WHERE kind = '{HYPOTHESIS}') AS n_hypothesis_evaluations,
               count(*) FILTER (WHERE kind = '{FOLD}') AS n_folds,
               count(*) FILTER (WHERE kind = '{CPCV_PATH}') AS n_cpcv_paths,
               count(*) FILTER (WHERE kind = '{HPO_TRIAL}') AS n_hpo_trials
        FROM evaluations GROUP BY runset_id
    )
    SELECT p.runset_id, coalesce(c.n_hypotheses, 0) AS n_hypotheses, p.n_evaluations,
           p.n_hypothesis_evaluations, p.n_folds, p.n_cpcv_paths, p.n_hpo_trials
    FROM per_runset p LEFT JOIN (
        SELECT runset_id, count(*) AS n_hypotheses FROM configurations GROUP BY runset_id
    ) c ON c.runset_id = p.runset_id""",
    """CREATE VIEW dataset_coverage AS
    WITH ds AS (
        SELECT * FROM datasets
        QUALIFY row_number() OVER (PARTITION BY dataset_id ORDER BY fact_seq, fact_file) = 1
    ), dataset_assets AS (
        SELECT dataset_id, unnest(assets) AS asset, first_day, last_day FROM ds
    ), materialized AS (
        SELECT DISTINCT asset, TRY_CAST(partition AS DATE) AS day FROM artifacts
        WHERE TRY_CAST(partition AS DATE) IS NOT NULL
    ), joined AS (
        SELECT d.dataset_id, d.asset, d.first_day, d.last_day, m.day
        FROM dataset_assets d LEFT JOIN materialized m
          ON m.asset = d.asset AND m.day >= d.first_day AND (d.last_day IS NULL OR m.day <= d.last_day)
    )
    SELECT dataset_id, asset, first_day, last_day, min(day) AS first_materialized,
           max(day) AS last_materialized, count(day) AS n_days_materialized,
           date_diff('day', first_day, coalesce(last_day, max(day))) + 1 AS n_days_expected,
           date_diff('day', first_day, coalesce(last_day, max(day))) + 1 - count(day) AS n_days_missing
    FROM joined GROUP BY dataset_id, asset, first_day, last_day""",
]

_MEMBERSHIP = """
CREATE TABLE runset_membership AS
SELECT c.runset_id, c.runset_name, c.resolution_hash, c.frozen, r.asset, r.partition, r.content_hash, r.path
FROM resolutions r JOIN current_resolutions c ON r.fact_file = c.fact_file
"""

# The governance promotion ledger (governance.ledger): one file per decision, projected like the facts.
_GOVERNANCE_VIEWS = [
    """CREATE VIEW promotion_decisions AS
    SELECT decision_seq, decision_id, parent_decision_id, as_of_day, decided_at, decision, reason_codes,
           subject_candidate_id, prod_gated, override_json, champion_before, champion_after, detail_json
    FROM governance_ledger WHERE row_kind = 'decision'""",
    """CREATE VIEW state_events AS
    SELECT decision_seq, decision_id, as_of_day, candidate_id, state_before, allocation_before, state_after,
           allocation_after, event_reason, prod_gated
    FROM governance_ledger WHERE row_kind = 'state_event'""",
    """CREATE VIEW gate_verdicts AS
    SELECT decision_seq, decision_id, as_of_day, candidate_id, role, gate_status, sharpe_daily, completed_runs,
           observation_days, detail_json
    FROM governance_ledger WHERE row_kind = 'gate'""",
]

TABLES: tuple[str, ...] = (
    *FACT_TYPES,
    "artifacts",
    "quarantined_records",
    "runset_membership",
    "governance_ledger",
    "cache_meta",
    *PROJECTION_TABLES,
)
VIEWS: tuple[str, ...] = (
    "runset_bindings",
    "resolution_heads",
    "latest_resolutions",
    "pins",
    "current_resolutions",
    "runs_with_artifact_counts",
    "dataset_coverage",
    "trial_evaluations",
    "trial_counts",
    "promotion_decisions",
    "state_events",
    "gate_verdicts",
    *PROJECTION_VIEWS,
)


def _cache_path(registry: Registry) -> str:
    if registry.cache_path is None:
        raise ValueError("a registry on a remote root needs an explicit local cache_path for DuckDB")
    return registry.cache_path


def _all_files(registry: Registry) -> dict[str, list[str]]:
    files = {fact_type: registry.facts.files(fact_type) for fact_type in FACT_TYPES}
    files["artifacts"] = registry.store.glob("_versions/**/*.parquet") if registry.store else []
    files["governance_ledger"] = registry.fs.glob(f"{LEDGER_DIR}/*.parquet")
    files.update(projection_files(registry))
    return files


def fingerprint(registry: Registry) -> str:
    """Identifies the set of facts: fact files are immutable, so their names identify their content."""
    return canonical_hash({"format": CACHE_FORMAT, "files": _all_files(registry)})


def _cached_fingerprint(path: str) -> str | None:
    if not os.path.exists(path):
        return None
    try:
        with duckdb.connect(path, read_only=True) as con:
            rows = con.sql("SELECT value FROM cache_meta WHERE key = $key", params={"key": "fingerprint"})
            found = rows.fetchall()
    except duckdb.Error:
        return None  # unreadable or foreign file: rebuild it
    return found[0][0] if found else None


def _load_facts(con: duckdb.DuckDBPyConnection, registry: Registry, fact_type: str, files: list[str]) -> None:
    if fact_type not in FACT_SCHEMAS:  # table names come from our constants only, never from input
        raise ValueError(f"unknown fact type {fact_type!r}")
    with tempfile.TemporaryDirectory() as tmp:
        # A zero-row file carrying the schema, so an empty fact type still gets a typed table.
        template = os.path.join(tmp, "template.parquet")
        pl.DataFrame(schema=FACT_SCHEMAS[fact_type]).write_parquet(template)
        absolute = [registry.fs.uri(f) for f in files]
        prefix_len = len(registry.fs.uri("")) + 1
        con.execute(
            _LOAD_FACTS.format(table=fact_type),
            {"files": [template, *absolute], "template": template, "prefix_len": prefix_len},
        )
        con.complete()


def _load_ledger(con: duckdb.DuckDBPyConnection, registry: Registry, files: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template = os.path.join(tmp, "template.parquet")
        pl.DataFrame(schema=LEDGER_SCHEMA).write_parquet(template)
        con.execute(
            "CREATE TABLE governance_ledger AS SELECT * FROM read_parquet($files, union_by_name = true) "
            "ORDER BY decision_seq",
            {"files": [template, *(registry.fs.uri(f) for f in files)]},
        )


def _build(registry: Registry, path: str, files: dict[str, list[str]], fp: str) -> dict[str, int]:
    with duckdb.connect(path) as con:
        if not registry.fs.is_local:
            con.register_filesystem(registry.fs.fsspec)
        for fact_type in FACT_TYPES:
            try:
                _load_facts(con, registry, fact_type, files[fact_type])
            except duckdb.Error as exc:  # name the corrupt fact file rather than echo DuckDB's SQL
                raise registry.fs.unreadable(files[fact_type], exc) from exc
        # Trial rows of fact files written before kind/sub_id: hypotheses, as registry.trials reads them.
        con.execute(
            "UPDATE trials SET kind = coalesce(kind, $kind), sub_id = coalesce(sub_id, '') "
            "WHERE kind IS NULL OR sub_id IS NULL",
            {"kind": HYPOTHESIS},
        )
        loaded = (
            load_version_records(registry.store)
            if registry.store
            else VersionRecords(empty_version_records(), pl.DataFrame(schema=QUARANTINE_SCHEMA))
        )
        for table, frame in (("artifacts", loaded.records), ("quarantined_records", loaded.quarantined)):
            con.register("loaded_frame", frame)
            con.sql(f"CREATE TABLE {table} AS SELECT * FROM loaded_frame")
            con.unregister("loaded_frame")
        _load_ledger(con, registry, files["governance_ledger"])
        for view in _VIEWS + _GOVERNANCE_VIEWS:
            con.sql(view)
        con.sql(_MEMBERSHIP)
        build_projections(con, registry, files)
        con.sql("CREATE TABLE cache_meta (key VARCHAR, value VARCHAR)")
        con.execute(
            "INSERT INTO cache_meta VALUES ($k1, $v1), ($k2, $v2)",
            {
                "k1": "fingerprint",
                "v1": fp,
                "k2": "format",
                "v2": CACHE_FORMAT,
            },
        )
        con.complete()
        counts = {}
        for table in TABLES:
            counts[table] = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.checkpoint()
    return counts


def _quarantined(path: str) -> list[dict[str, Any]]:
    with duckdb.connect(path, read_only=True) as con:
        return con.sql("SELECT * FROM quarantined_records ORDER BY record_file").pl().to_dicts()


def rebuild_cache(registry: Registry, force: bool = False) -> dict[str, Any]:
    """Rebuild the cache file if the facts changed since it was built (or always with ``force``).

    The report's ``quarantined`` lists the version records left out as corrupt (file, asset, partition,
    reason). A record corrupted in place keeps its name, so only ``force`` re-reads an unchanged set."""
    path = _cache_path(registry)
    files = _all_files(registry)
    fp = canonical_hash({"format": CACHE_FORMAT, "files": files})
    if not force and _cached_fingerprint(path) == fp:
        return {"rebuilt": False, "path": path, "fingerprint": fp, "quarantined": _quarantined(path)}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        counts = _build(registry, temp, files, fp)
        os.replace(temp, path)
    finally:
        for leftover in (temp, f"{temp}.wal"):
            if os.path.exists(leftover):
                os.remove(leftover)
    return {
        "rebuilt": True,
        "path": path,
        "fingerprint": fp,
        "rows": counts,
        "quarantined": _quarantined(path),
    }


def query_cache(
    registry: Registry, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run one read-only query (values bound as parameters) on a fresh-enough cache.

    The connection is sealed: no access to files or the network (``COPY … TO``, ``read_text``, ``ATTACH`` and
    friends fail) and the setting cannot be switched back, so a query can only read the cache's own tables.
    DuckDB errors surface as ``ValueError`` with DuckDB's message.
    """
    rebuild_cache(registry)
    with duckdb.connect(_cache_path(registry), read_only=True) as con:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            return con.sql(sql, params=params).pl()
        except duckdb.Error as exc:
            raise ValueError(f"query failed: {exc}") from exc
