"""The registry: datasets, runs, RunSets, resolutions, freezes and the trial ledger as append-only facts.

Names and ids
    A RunSet has a human name (``btc_eth_2024q4``, validated as ``[a-z0-9_-]{1,64}``), which is its Dagster
    partition key, and a content id ``runset_id = sha256(canonical_json(spec))``. The ``runsets`` fact binds
    the two, once: creating an existing name with the same spec is a no-op, with a different spec an error
    (RunSets are immutable; choose a new name), and one spec cannot live under two names. Everything that
    refers to a RunSet accepts either its name or its id.

Write-once rule
    For datasets, RunSet names and runs, the earliest fact per key wins; a writer that loses a race to a
    different fact for the same key gets an error after the fact, and readers ignore the losing fact.

Exclusive creation
    "Earliest fact" is decided by the writers' clocks, so it cannot by itself settle a race: a writer that
    stamps first but lands last would win after its rival had already been told it won. Dataset ids, RunSet
    names, RunSet specs and RunSet freezes are therefore bound by a *claim* before any fact is written:
    ``claims/<kind>/<key>.json`` created exclusively (``RootFS.create_exclusive``: ``os.link`` of a durable
    temporary file locally, a conditional put with ``If-None-Match: *`` on S3, ``ifGenerationMatch=0`` on
    GCS). Exactly one creator gets the claim; every other creator of the same key with a different value
    gets a clear error before writing anything, and one with the same value goes on (idempotent, also after
    a crash between claim and fact). Registries written before claims existed keep their facts' rule.

Modes
    An exploratory RunSet re-resolves to the latest versions on every ``resolve``; a resolve whose
    resolution hash equals the latest recorded one writes no new fact and returns that recorded resolution,
    unless ``force=True`` (``qp runset resolve --force``), which records it again. ``freeze`` pins its latest
    resolution (the earliest freeze wins), after which ``resolve`` always returns the pin and
    ``resolve(force=True)`` is refused. A RunSet created with ``mode="reproducible"`` pins its first complete
    resolution automatically. A RunSet's ``mode`` as shown everywhere (``qp runset list/get``, research
    materialization metadata) is ``reproducible`` once pinned or when created so, else ``exploratory``.

Historical resolves
    ``resolve(as_of=past)`` answers "what did this RunSet select then?". It is recorded (``historical``)
    but never becomes the RunSet's latest resolution, so a following ``freeze`` still pins the present one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from quant_platform.core.hashing import canonical_json
from quant_platform.core.timeutil import TS_DTYPE, day_range
from quant_platform.registry import ids
from quant_platform.registry.columns import FACT_SCHEMAS
from quant_platform.registry.facts import FactLog
from quant_platform.registry.fs import RootFS
from quant_platform.registry.names import (
    is_content_id,
    validate_content_id,
    validate_label,
    validate_name,
)
from quant_platform.registry.resolver import (
    ARTIFACT_SCHEMA,
    RESOLVER_VERSION,
    Resolution,
    resolution_hash,
    resolve_artifacts,
)
from quant_platform.registry.specs import EXPLORATORY, REPRODUCIBLE, DatasetSpec, RunSetSpec
from quant_platform.registry.trials import (
    EVALUATION_KEY,
    HYPOTHESIS,
    TRIAL_KINDS,
    count_evaluations,
    count_hypotheses,
    with_legacy_kinds,
)
from quant_platform.registry.versions import load_version_records, read_version_records
from quant_platform.storage.integrity import IntegrityError

CACHE_FILE = "registry.duckdb"
CLAIMS_DIR = "claims"


class NotFoundError(LookupError):
    """An id or name the registry has never seen."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class FrozenRunSetError(ValueError):
    """A frozen RunSet cannot be re-resolved; reproducibility is its point."""


@dataclass(frozen=True)
class RunSetInfo:
    name: str
    runset_id: str
    spec: RunSetSpec
    created_at: datetime
    pinned_resolution_hash: str | None
    latest_resolution_hash: str | None
    latest_resolved_at: datetime | None

    @property
    def frozen(self) -> bool:
        return self.pinned_resolution_hash is not None

    @property
    def mode(self) -> str:
        """``reproducible`` when pinned or created so (it pins its first resolve), else ``exploratory``:
        the ``mode`` its resolutions carry into research materialization metadata."""
        return REPRODUCIBLE if self.frozen or self.spec.mode == REPRODUCIBLE else EXPLORATORY

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runset_id": self.runset_id,
            "spec": self.spec.canonical(),
            "created_at": self.created_at.isoformat(),
            "mode": self.mode,
            "frozen": self.frozen,
            "pinned_resolution_hash": self.pinned_resolution_hash,
            "latest_resolution_hash": self.latest_resolution_hash,
            "latest_resolved_at": self.latest_resolved_at.isoformat() if self.latest_resolved_at else None,
        }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000 / 1000, tz=UTC)


def _datetime_to_ns(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError(f"as_of must be timezone-aware (UTC), got {value!r}")
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


class Registry:
    """The registry under ``root`` (facts and the DuckDB cache), reading artifact versions from
    ``store_root`` (the immutable Parquet store). Both may be local paths or fsspec URLs; the DuckDB cache
    file is local (``cache_path``, default ``<root>/cache/registry.duckdb``)."""

    def __init__(
        self,
        root: str,
        store_root: str | None = None,
        *,
        cache_path: str | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.fs = RootFS(root)
        self.store = RootFS(store_root) if store_root is not None else None
        self.facts = FactLog(self.fs, clock)
        self._clock = clock
        if cache_path is None and self.fs.is_local:
            cache_path = self.fs.abs(f"cache/{CACHE_FILE}")
        self.cache_path = cache_path

    # ---- write-once helper -------------------------------------------------------------------------------
    def _first(self, fact_type: str, where: pl.Expr) -> dict[str, Any] | None:
        rows = self.facts.read(fact_type, where)
        return rows.row(0, named=True) if rows.height else None

    def _append_checked(self, fact_type: str, frame: pl.DataFrame, where: pl.Expr, same: Callable) -> None:
        """Append, then confirm our fact is the earliest for its key (a concurrent writer may have won)."""
        written = self.facts.append(fact_type, frame)
        winner = self._first(fact_type, where)
        if winner is None or (winner["fact_file"] != written and not same(winner)):
            where_won = winner["fact_file"] if winner else "unreadable"
            raise ValueError(
                f"a concurrent writer registered a different {fact_type} fact first ({where_won})"
            )

    def _claim(self, kind: str, key: str, value: dict[str, str]) -> dict[str, str] | None:
        """Bind ``key`` to ``value`` exclusively (see module docstring). ``None`` when the binding is ours
        (created now, or already bound to the same value), else the value another creator bound first.
        ``key`` is a validated name or content id, so it is a safe file name."""
        relative = f"{CLAIMS_DIR}/{kind}/{key}.json"
        if self.fs.create_exclusive(relative, canonical_json(value).encode()):
            return None
        try:
            existing = json.loads(self.fs.read_bytes(relative))
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"claim file {self.fs.uri(relative)} is corrupt: {exc}") from exc
        if not isinstance(existing, dict) or set(existing) != set(value):
            raise IntegrityError(f"claim file {self.fs.uri(relative)} is corrupt: {existing!r}")
        return None if existing == value else existing

    # ---- datasets ----------------------------------------------------------------------------------------
    def register_dataset(self, spec: DatasetSpec) -> DatasetSpec:
        """Register an immutable dataset. The same content again is a no-op; different content raises."""
        key = pl.col("dataset_id") == spec.dataset_id
        existing = self._first("datasets", key)
        if existing is not None:
            if existing["content_hash"] != spec.content_hash:
                raise ValueError(
                    f"dataset {spec.dataset_id!r} is already registered with different content "
                    f"({existing['content_hash'][:12]}…); a corrected dataset needs a new dataset id"
                )
            return spec
        other = self._claim("datasets", spec.dataset_id, {"content_hash": spec.content_hash})
        if other is not None:
            raise ValueError(
                f"dataset {spec.dataset_id!r} was registered concurrently with different content "
                f"({other['content_hash'][:12]}…); a corrected dataset needs a new dataset id"
            )
        frame = pl.DataFrame(
            {
                "dataset_id": [spec.dataset_id],
                "content_hash": [spec.content_hash],
                "definition_json": [spec.to_json()],
                "source": [spec.source],
                "assets": [list(spec.assets)],
                "symbols": [list(spec.symbols)],
                "first_day": [spec.first_day],
                "last_day": [spec.last_day],
            },
            schema={k: v for k, v in FACT_SCHEMAS["datasets"].items() if k != "written_at"},
        )
        self._append_checked("datasets", frame, key, lambda w: w["content_hash"] == spec.content_hash)
        return spec

    def dataset(self, dataset_id: str) -> DatasetSpec:
        validate_name(dataset_id, "dataset id")
        row = self._first("datasets", pl.col("dataset_id") == dataset_id)
        if row is None:
            raise NotFoundError(f"unknown dataset {dataset_id!r}")
        return DatasetSpec.model_validate_json(row["definition_json"])

    def datasets(self) -> list[DatasetSpec]:
        rows = self.facts.read("datasets").unique("dataset_id", keep="first", maintain_order=True)
        return [DatasetSpec.model_validate_json(j) for j in rows["definition_json"]]

    # ---- runs --------------------------------------------------------------------------------------------
    def register_run(
        self,
        *,
        dataset_ids: Iterable[str],
        strategy_hash: str,
        engine_version: str,
        seed: int,
        runset: str | None = None,
        dagster_run_id: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> str:
        """Record one execution of a run; returns the deterministic ``run_id``.

        The same run (same id, same config) executed again in another Dagster run or for another RunSet is
        recorded as another execution; the same id with a different config is an error.
        """
        dataset_ids = sorted(set(dataset_ids))
        run = ids.run_id(dataset_ids, strategy_hash, engine_version, seed)
        for dataset_id in dataset_ids:
            self.dataset(dataset_id)
        runset_id = self.runset(runset).runset_id if runset is not None else None
        if dagster_run_id is not None:
            validate_label(dagster_run_id, "dagster run id")
        config_json = canonical_json(config or {})
        existing = self.facts.read("runs", pl.col("run_id") == run)
        if existing.height:
            if existing["config_json"][0] != config_json:
                raise ValueError(f"run {run[:12]}… is already registered with a different config")
            same = (existing["runset_id"].eq_missing(runset_id)) & (
                existing["dagster_run_id"].eq_missing(dagster_run_id)
            )
            if same.any():
                return run
        frame = pl.DataFrame(
            {
                "run_id": [run],
                "dataset_ids": [dataset_ids],
                "strategy_hash": [strategy_hash],
                "engine_version": [engine_version],
                "seed": [seed],
                "runset_id": [runset_id],
                "dagster_run_id": [dagster_run_id],
                "config_json": [config_json],
            },
            schema={k: v for k, v in FACT_SCHEMAS["runs"].items() if k != "written_at"},
        )
        self._append_checked(
            "runs", frame, pl.col("run_id") == run, lambda w: w["config_json"] == config_json
        )
        return run

    def runs(self) -> pl.DataFrame:
        return self.facts.read("runs")

    # ---- RunSets -----------------------------------------------------------------------------------------
    def create_runset(self, name: str, spec: RunSetSpec) -> RunSetInfo:
        """Bind ``name`` to ``spec`` (see module docstring for the rules)."""
        validate_name(name, "RunSet name")
        dataset = self.dataset(spec.dataset_id)
        spec.check_against(dataset)
        content_id = ids.runset_id(spec)
        by_name = self._first("runsets", pl.col("runset_name") == name)
        if by_name is not None:
            if by_name["runset_id"] != content_id:
                raise ValueError(
                    f"RunSet {name!r} already exists with a different spec (id {by_name['runset_id'][:12]}…); "
                    "RunSets are immutable: choose a new name"
                )
            return self.runset(name)
        by_id = self._first("runsets", pl.col("runset_id") == content_id)
        if by_id is not None:
            raise ValueError(f"this exact spec already exists as RunSet {by_id['runset_name']!r}")
        self._claim_runset(name, content_id)
        frame = pl.DataFrame(
            {
                "runset_name": [name],
                "runset_id": [content_id],
                "spec_json": [spec.to_json()],
                "dataset_id": [spec.dataset_id],
                "mode": [spec.mode],
                "tags": [list(spec.tags)],
            },
            schema={k: v for k, v in FACT_SCHEMAS["runsets"].items() if k != "written_at"},
        )
        self._append_checked(
            "runsets",
            frame,
            (pl.col("runset_name") == name) | (pl.col("runset_id") == content_id),
            lambda w: w["runset_name"] == name and w["runset_id"] == content_id,
        )
        return self.runset(name)

    def _claim_runset(self, name: str, content_id: str) -> None:
        """Claim the name, then the spec; exactly one concurrent creator of either wins (module docstring)."""
        relative = f"{CLAIMS_DIR}/runset_names/{name}.json"
        had_name = self.fs.exists(relative)
        other = self._claim("runset_names", name, {"runset_id": content_id})
        if other is not None:
            raise ValueError(
                f"RunSet {name!r} already exists with a different spec "
                f"(id {other['runset_id'][:12]}…, created concurrently); RunSets are immutable: choose a new name"
            )
        other = self._claim("runset_ids", content_id, {"runset_name": name})
        if other is not None:
            if not had_name:
                self.fs.remove(relative)  # release the name we just took: this spec lives under another
            raise ValueError(f"this exact spec already exists as RunSet {other['runset_name']!r}")

    def _runset_row(self, ref: str) -> dict[str, Any]:
        if not isinstance(ref, str):
            raise ValueError(f"a RunSet reference must be a name or an id, got {ref!r}")
        column = "runset_id" if is_content_id(ref) else "runset_name"
        if column == "runset_name":
            validate_name(ref, "RunSet name")
        facts = self.facts.read("runsets")
        matches = facts.filter(pl.col(column) == ref)
        if matches.height == 0:
            raise NotFoundError(f"unknown RunSet {ref!r}")
        row = matches.row(0, named=True)
        # The binding is valid only if this fact is also the earliest for its name and for its id.
        for key in ("runset_name", "runset_id"):
            first = facts.filter(pl.col(key) == row[key]).row(0, named=True)
            if first["fact_file"] != row["fact_file"]:
                raise NotFoundError(f"RunSet {ref!r} lost a concurrent creation to another binding")
        return row

    def _info(self, row: dict[str, Any], freezes: pl.DataFrame, resolutions: pl.DataFrame) -> RunSetInfo:
        pin = freezes.filter(pl.col("runset_id") == row["runset_id"])
        res = resolutions.filter((pl.col("runset_id") == row["runset_id"]) & ~pl.col("historical"))
        return RunSetInfo(
            name=row["runset_name"],
            runset_id=row["runset_id"],
            spec=RunSetSpec.model_validate_json(row["spec_json"]),
            created_at=row["written_at"],
            pinned_resolution_hash=pin["resolution_hash"][0] if pin.height else None,
            latest_resolution_hash=res["resolution_hash"][-1] if res.height else None,
            latest_resolved_at=res["written_at"][-1] if res.height else None,
        )

    def _resolution_heads(self, where: pl.Expr | None = None) -> pl.DataFrame:
        """One row per resolve (not per artifact), in write order."""
        cols = ["runset_id", "resolution_hash", "historical", "written_at", "fact_file", "fact_seq"]
        frame = self.facts.read("resolutions", where).select(cols)
        frame = frame.with_columns(pl.col("historical").fill_null(False))
        return frame.unique("fact_file", keep="first", maintain_order=True)

    def runset(self, ref: str) -> RunSetInfo:
        row = self._runset_row(ref)
        key = pl.col("runset_id") == row["runset_id"]
        return self._info(row, self.facts.read("freezes", key), self._resolution_heads(key))

    def runsets(self, tag: str | None = None, frozen: bool | None = None) -> list[RunSetInfo]:
        """Every RunSet in creation order, optionally only those carrying ``tag`` / (not) frozen."""
        rows = self.facts.read("runsets")
        # Only each name's valid binding: the earliest fact per name (and per id).
        rows = rows.unique("runset_name", keep="first", maintain_order=True)
        rows = rows.unique("runset_id", keep="first", maintain_order=True)
        if tag is not None:
            rows = rows.filter(pl.col("tags").list.contains(validate_name(tag, "tag")))
        freezes = self.facts.read("freezes").unique("runset_id", keep="first", maintain_order=True)
        heads = self._resolution_heads()
        infos = [self._info(r, freezes, heads) for r in rows.iter_rows(named=True)]
        return [i for i in infos if frozen is None or i.frozen == frozen]

    # ---- resolution --------------------------------------------------------------------------------------
    def _load_resolution(self, info: RunSetInfo, resolution_hash_: str, frozen: bool) -> Resolution:
        rows = self.facts.read(
            "resolutions",
            (pl.col("runset_id") == info.runset_id) & (pl.col("resolution_hash") == resolution_hash_),
        )
        if rows.height == 0:
            raise NotFoundError(f"resolution {resolution_hash_[:12]}… of RunSet {info.name!r} not found")
        present = rows.filter(~pl.col("historical").fill_null(False))
        rows = present if present.height else rows  # prefer a present-day resolve over a historical one
        rows = rows.filter(pl.col("fact_file") == rows["fact_file"][0])  # the first resolve with this hash
        first = rows.row(0, named=True)
        return self._resolution(info, rows.select(list(ARTIFACT_SCHEMA)), first, frozen)

    def _resolution(
        self, info: RunSetInfo, artifacts: pl.DataFrame, head: dict[str, Any], frozen: bool
    ) -> Resolution:
        dataset = self.dataset(info.spec.dataset_id)
        return Resolution(
            runset_name=info.name,
            runset_id=info.runset_id,
            resolution_hash=head["resolution_hash"],
            resolver_version=head["resolver_version"],
            resolved_at=head["written_at"],
            as_of=head["as_of"],
            range_start=head["range_start"],
            range_end=head["range_end"],
            frozen=frozen,
            historical=bool(head.get("historical")),
            symbols=info.spec.effective_symbols(dataset),
            templates=info.spec.templates,
            strategies=info.spec.strategies,
            artifacts=artifacts.sort("asset", "partition"),
        )

    def _store_or_raise(self) -> RootFS:
        if self.store is None:
            raise ValueError("this registry has no store root: pass store_root to resolve RunSets")
        return self.store

    def _compute(self, info: RunSetInfo, as_of_ns: int) -> tuple[pl.DataFrame, dict[str, Any]]:
        dataset = self.dataset(info.spec.dataset_id)
        start, end = info.spec.window(dataset, _ns_to_datetime(as_of_ns).date())
        store = self._store_or_raise()
        loaded = load_version_records(store, dataset.assets, day_range(start, end))
        blocking = loaded.blocking(as_of_ns)
        if blocking.height:  # a partition whose current version cannot be known; other RunSets are unaffected
            detail = loaded.describe_quarantined(store, rows=blocking)
            raise IntegrityError(f"RunSet {info.name!r} cannot be resolved: {detail}")
        records = loaded.records
        artifacts = resolve_artifacts(records, dataset.assets, start, end, as_of_ns)
        head = {
            "resolution_hash": resolution_hash(info.runset_id, start, end, artifacts),
            "resolver_version": RESOLVER_VERSION,
            "as_of": _ns_to_datetime(as_of_ns),
            "range_start": start,
            "range_end": end,
        }
        return artifacts, head

    def _write_resolution(self, info: RunSetInfo, artifacts: pl.DataFrame, head: dict[str, Any]) -> datetime:
        frame = artifacts.with_columns(
            pl.lit(info.runset_id).alias("runset_id"),
            pl.lit(info.name).alias("runset_name"),
            pl.lit(head["resolution_hash"]).alias("resolution_hash"),
            pl.lit(head["resolver_version"]).alias("resolver_version"),
            pl.lit(head["as_of"]).cast(TS_DTYPE).alias("as_of"),
            pl.lit(head["range_start"]).alias("range_start"),
            pl.lit(head["range_end"]).alias("range_end"),
            pl.lit(head["historical"]).alias("historical"),
        )
        written = self.facts.append("resolutions", frame)
        return _ns_to_datetime(int(written.rsplit("/", 1)[-1].split("-", 1)[0]))

    def resolve(self, ref: str, *, force: bool = False, as_of: datetime | None = None) -> Resolution:
        """The artifact versions ``ref`` reads (see module docstring). ``as_of`` (UTC) resolves against
        the versions that existed then (a historical resolve: recorded, never the latest). A resolve equal
        to the latest recorded resolution writes nothing and returns it, unless ``force``; a frozen RunSet
        returns its pin and refuses ``force``."""
        info = self.runset(ref)
        if info.frozen:
            if force:
                raise FrozenRunSetError(
                    f"RunSet {info.name!r} is frozen at resolution {info.pinned_resolution_hash[:12]}…; "
                    "a frozen RunSet cannot be re-resolved (create a new RunSet to follow newer data)"
                )
            return self._load_resolution(info, info.pinned_resolution_hash, frozen=True)
        historical = as_of is not None
        if historical and info.spec.mode == REPRODUCIBLE:
            raise ValueError(
                f"reproducible RunSet {info.name!r} pins its first resolution: resolve it without as_of "
                "(--as-of), or create an exploratory RunSet to look at past versions"
            )
        as_of_ns = self._clock() if as_of is None else _datetime_to_ns(as_of)
        artifacts, head = self._compute(info, as_of_ns)
        head["historical"] = historical
        if info.spec.mode == REPRODUCIBLE and artifacts["content_hash"].null_count():
            missing = artifacts.filter(pl.col("content_hash").is_null()).select("asset", "partition").rows()
            raise ValueError(
                f"reproducible RunSet {info.name!r} cannot be pinned: {len(missing)} partitions were never "
                f"materialized, e.g. {missing[:5]}"
            )
        if not force and head["resolution_hash"] == info.latest_resolution_hash:
            # Nothing changed since the latest recorded resolve: recording it again would only add noise.
            latest = self._load_resolution(info, info.latest_resolution_hash, frozen=False)
            return self._pin(info, latest.resolution_hash) if info.spec.mode == REPRODUCIBLE else latest
        head["written_at"] = self._write_resolution(info, artifacts, head)
        if info.spec.mode == REPRODUCIBLE:
            return self._pin(info, head["resolution_hash"])
        return self._resolution(info, artifacts, head, frozen=False)

    def _pin(self, info: RunSetInfo, resolution_hash_: str) -> Resolution:
        """Pin ``resolution_hash_`` unless a concurrent freeze claimed another first; returns the pin.

        The claim decides (module docstring): a loser pins the winner's hash, writing the freeze fact itself
        if the winner has not yet (or crashed before it did), so every caller returns the same pin."""
        other = self._claim("freezes", info.runset_id, {"resolution_hash": resolution_hash_})
        pinned_hash = resolution_hash_ if other is None else other["resolution_hash"]
        pinned = self.runset(info.runset_id)
        if not pinned.frozen:
            frame = pl.DataFrame(
                {
                    "runset_id": [info.runset_id],
                    "runset_name": [info.name],
                    "resolution_hash": [pinned_hash],
                }
            )
            self.facts.append("freezes", frame)
            pinned = self.runset(info.runset_id)  # the earliest freeze fact (all carry the claimed hash)
        return self._load_resolution(pinned, pinned.pinned_resolution_hash, frozen=True)

    def freeze(self, ref: str, *, allow_incomplete: bool = False) -> Resolution:
        """Pin the RunSet's latest resolution (resolving first if it has none). Idempotent once frozen.

        An incomplete resolution (never-materialized partitions) is refused unless ``allow_incomplete``.
        """
        info = self.runset(ref)
        if info.frozen:
            return self._load_resolution(info, info.pinned_resolution_hash, frozen=True)
        if info.latest_resolution_hash is None:
            latest = self.resolve(info.runset_id)
            if latest.frozen:  # a reproducible RunSet pins itself on first resolve
                return latest
        else:
            latest = self._load_resolution(info, info.latest_resolution_hash, frozen=False)
        if not latest.complete and not allow_incomplete:
            raise ValueError(
                f"RunSet {info.name!r}: the latest resolution misses {latest.missing.height} partitions, e.g. "
                f"{latest.missing.select('asset', 'partition').rows()[:5]}; materialize them and resolve "
                "again, or pin it as it is with `qp runset freeze --allow-incomplete`"
            )
        return self._pin(info, latest.resolution_hash)

    def resolution(self, ref: str, resolution_hash: str) -> Resolution:
        """One recorded resolution of ``ref`` by its hash: what a downstream asset loads to read exactly
        the versions its upstream research asset resolved (rather than resolving again mid-run)."""
        info = self.runset(ref)
        validate_content_id(resolution_hash, "resolution hash")
        return self._load_resolution(
            info, resolution_hash, frozen=info.pinned_resolution_hash == resolution_hash
        )

    def current_resolution(self, ref: str) -> Resolution | None:
        """The pin of a frozen RunSet, else its latest resolution, else ``None`` (never resolved)."""
        info = self.runset(ref)
        if info.frozen:
            return self._load_resolution(info, info.pinned_resolution_hash, frozen=True)
        if info.latest_resolution_hash is None:
            return None
        return self._load_resolution(info, info.latest_resolution_hash, frozen=False)

    def runset_metadata(self, ref: str) -> dict[str, str]:
        """``{runset_id, runset_name, resolution_hash, mode}`` for a RunSet partition key, for research
        outputs to attach; resolves the RunSet if it has never been resolved."""
        current = self.current_resolution(ref)
        return (current or self.resolve(ref)).metadata()

    # ---- trial ledger ------------------------------------------------------------------------------------
    def record_trials(self, frame: pl.DataFrame) -> int:
        """Append evaluations to the ledger; returns the number of distinct evaluations in ``frame``.

        ``frame`` has ``runset_id`` (a RunSet name or id), ``stage``, ``trial_id``, ``family``, optionally
        ``kind`` (one of :data:`~quant_platform.registry.trials.TRIAL_KINDS`; default ``hypothesis``) and
        ``sub_id`` (the fold / path / HPO trial number; ``""`` and only ``""`` for a hypothesis; default
        ``""``), and any number of numeric metric columns (wide, one row per evaluation), or
        ``metric``/``value`` columns (long).
        """
        required = ["runset_id", "stage", "trial_id", "family"]
        absent = [k for k in required if k not in frame.columns]
        if absent:
            raise ValueError(f"trial frame lacks columns {absent}")
        if frame.height == 0:
            return 0
        if "kind" not in frame.columns:
            frame = frame.with_columns(pl.lit(HYPOTHESIS).alias("kind"))
        if "sub_id" not in frame.columns:
            frame = frame.with_columns(pl.lit("").alias("sub_id"))
        keys = ["runset_id", "stage", "kind", "trial_id", "sub_id", "family"]
        for column in keys:
            if frame[column].null_count():
                raise ValueError(f"trial column {column!r} has nulls")
        for stage in frame["stage"].unique().to_list():
            validate_name(stage, "stage")
        frame = frame.with_columns(pl.col("trial_id", "sub_id", "family").cast(pl.String))
        _validate_kinds(frame)
        refs = frame["runset_id"].unique().to_list()
        resolved = {r: self.runset(r).runset_id for r in refs}
        frame = frame.with_columns(pl.col("runset_id").replace_strict(resolved, return_dtype=pl.String))
        if {"metric", "value"} <= set(frame.columns):
            long = frame.select(*keys, pl.col("metric").cast(pl.String), pl.col("value").cast(pl.Float64))
        else:
            metrics = [c for c in frame.columns if c not in keys]
            bad = [c for c in metrics if not frame.schema[c].is_numeric()]
            if bad:
                raise ValueError(f"trial metric columns must be numeric: {bad}")
            if metrics:
                long = frame.with_columns(pl.col(metrics).cast(pl.Float64)).unpivot(
                    index=keys, on=metrics, variable_name="metric", value_name="value"
                )
            else:
                long = frame.select(keys).with_columns(
                    pl.lit(None, pl.String).alias("metric"), pl.lit(None, pl.Float64).alias("value")
                )
        self.facts.append("trials", long)
        return frame.select("runset_id", *EVALUATION_KEY).unique().height

    def trials(
        self, runset: str | None = None, stage: str | None = None, kind: str | None = None
    ) -> pl.DataFrame:
        """Ledger rows (of a RunSet, stage and kind), older fact files read as hypotheses
        (:func:`~quant_platform.registry.trials.with_legacy_kinds`)."""
        where = pl.lit(True)
        if runset is not None:
            where = where & (pl.col("runset_id") == self.runset(runset).runset_id)
        if stage is not None:
            where = where & (pl.col("stage") == validate_name(stage, "stage"))
        frame = with_legacy_kinds(self.facts.read("trials", where))
        if kind is not None:
            frame = frame.filter(pl.col("kind") == _known_kind(kind))
        return frame

    def count_hypotheses(self, runset_id: str, stage: str | None = None) -> int:
        """Distinct strategy configurations (hypotheses, HPO trials) tested for a RunSet (name or id), in one
        stage or all, each once however many stages evaluated it and however often it was recorded: the N
        of the DSR and of FDR over strategies (see :mod:`quant_platform.registry.trials`)."""
        return count_hypotheses(self.trials(runset_id, stage))

    def count_evaluations(self, runset_id: str, stage: str | None = None, kind: str | None = None) -> int:
        """Distinct evaluations for a RunSet (name or id): every (stage, kind, trial_id, sub_id), i.e. each
        hypothesis, fold, CPCV path and HPO trial any stage computed, optionally of one stage or kind."""
        return count_evaluations(self.trials(runset_id, stage, kind))

    def count_trials(self, runset_id: str, stage: str | None = None) -> int:
        """Distinct (stage, trial_id) of a RunSet: each hypothesis once per stage that evaluated it (its
        folds and paths share its trial id). Kept for per-stage counts; use :meth:`count_hypotheses` for a
        multiple-testing N and :meth:`count_evaluations` for everything evaluated."""
        return self.trials(runset_id, stage).select("stage", "trial_id").unique().height

    # ---- artifacts ---------------------------------------------------------------------------------------
    def artifacts(self, assets: Iterable[str] | None = None) -> pl.DataFrame:
        """Every version record of the store (the ``artifacts`` facts) with derived ``artifact_id``."""
        return read_version_records(self._store_or_raise(), None if assets is None else list(assets))

    # ---- DuckDB cache ------------------------------------------------------------------------------------
    def rebuild(self, force: bool = False) -> dict[str, Any]:
        """Recreate the DuckDB cache from the facts (skipped when nothing changed, unless ``force``)."""
        from quant_platform.registry.cache import rebuild_cache

        return rebuild_cache(self, force=force)

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a read-only, parameterized query against the cache (rebuilt first if stale)."""
        from quant_platform.registry.cache import query_cache

        return query_cache(self, sql, params)


def _known_kind(kind: str) -> str:
    if kind not in TRIAL_KINDS:
        raise ValueError(f"unknown trial kind {kind!r}; known: {list(TRIAL_KINDS)}")
    return kind


def _validate_kinds(frame: pl.DataFrame) -> None:
    """Known kinds only; a hypothesis has the empty sub id, every part of one (fold, path, HPO trial) a
    printable label."""
    for kind in frame["kind"].unique().to_list():
        _known_kind(kind)
    is_whole = pl.col("kind") == HYPOTHESIS
    misplaced = frame.filter(is_whole != (pl.col("sub_id") == ""))
    if misplaced.height:
        row = misplaced.row(0, named=True)
        raise ValueError(
            f"trial {row['trial_id']!r} of kind {row['kind']!r} has sub_id {row['sub_id']!r}: a hypothesis "
            "has sub_id '' and every fold, cpcv_path or hpo_trial a non-empty one"
        )
    for sub_id in frame.filter(~is_whole)["sub_id"].unique().to_list():
        validate_label(sub_id, "trial sub_id")
