"""``qp``: the project's command line (datasets, RunSets, the registry cache).

Every command prints a human-readable table, or JSON with ``--json`` (for scripts). Errors print
``qp: error: ...`` on stderr, never a traceback, with one exit code per kind of failure:

- 0: done; also when the reader of our output went away early (``qp runset list | head``);
- 1: the environment failed: a root that cannot be created or read, a corrupt fact or record file (the
  message names the file);
- 2: usage or domain error: bad arguments, malformed dates, unknown ids, refused operations, a store root
  that does not exist (a mistyped ``--store-root`` would otherwise resolve everything as missing).

Roots come from ``--registry-root``/``--store-root``, else the defaults of ``core.roots`` that the Dagster
resources use too (``$QP_REGISTRY_ROOT``/``$QP_STORE_ROOT``, else ``data/registry``/``data/store`` in the
checkout).

Domains add commands by appending a ``register(subparsers)`` function to ``REGISTRARS`` at the bottom; each
leaf parser sets ``func`` (``args -> exit code``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import pydantic

from quant_platform.core import roots

EXIT_ENVIRONMENT = 1
EXIT_USAGE = 2

Registrar = Callable[[argparse._SubParsersAction], None]


class CommandError(Exception):
    """A user-facing failure with a clear message (exit code 2)."""


# ---- shared helpers -----------------------------------------------------------------------------------
def day_arg(value: str) -> date:
    """argparse type for ``YYYY-MM-DD`` (strictly: not ``20241001`` nor ``2024-W40-1``)."""
    from quant_platform.core.timeutil import parse_day

    try:
        return parse_day(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"malformed date {value!r}: expected YYYY-MM-DD") from None


def utc_datetime_arg(value: str) -> datetime:
    """argparse type for an ISO-8601 instant with an explicit offset (``2024-05-01T00:00:00+00:00``)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"malformed timestamp {value!r}: expected ISO-8601") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"timestamp {value!r} needs a UTC offset, e.g. +00:00")
    return parsed


def registry_options() -> argparse.ArgumentParser:
    """Options shared by every registry command (added as a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry-root",
        help="registry root (default $QP_REGISTRY_ROOT, else data/registry in the checkout)",
    )
    common.add_argument(
        "--store-root",
        help="artifact store root, must exist (default $QP_STORE_ROOT, else data/store in the checkout)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return common


def open_registry(args: argparse.Namespace) -> Any:
    """The registry (and store) the options name, else the shared defaults of ``core.roots``."""
    from quant_platform.registry import Registry

    root = args.registry_root or roots.default_registry_root(os.environ)
    store_root = args.store_root or roots.default_store_root(os.environ)
    return Registry(root, store_root)


def require_store(registry: Any) -> None:
    """Refuse a store root that does not exist: a mistyped ``--store-root`` would otherwise resolve every
    partition as missing, and that resolution would be recorded."""
    if not registry.store.exists(""):
        raise CommandError(
            f"store root {registry.store.root!r} does not exist; pass --store-root or set $QP_STORE_ROOT "
            "to the artifact store that the Dagster IO manager writes"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def emit(args: argparse.Namespace, payload: Any, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``payload`` as JSON (``--json``) or ``rows`` as an aligned table of ``columns``."""
    if getattr(args, "json", False):
        print(json.dumps(_jsonable(payload), indent=2, sort_keys=True))
        return
    print(format_table(rows, columns))


def format_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value) or "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(_jsonable(value))

    grid = [list(columns)] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def _short(value: str | None) -> str | None:
    return value[:12] if value else value


# ---- qp dataset ---------------------------------------------------------------------------------------
def _dataset_register(args: argparse.Namespace) -> int:
    from quant_platform.registry import DatasetSpec

    spec = DatasetSpec(
        dataset_id=args.id,
        source=args.source,
        assets=args.asset,
        symbols=args.symbols,
        first_day=args.from_day,
        last_day=args.to_day,
        description=args.description or "",
        profile=args.profile,
    )
    registry = open_registry(args)
    require_store(registry)  # the dataset is checked against what the store holds
    registry.register_dataset(spec, verify_store=True)
    emit(args, spec.canonical() | {"content_hash": spec.content_hash}, [_dataset_row(spec)], _DATASET_COLUMNS)
    return 0


_DATASET_COLUMNS = ("dataset_id", "source", "assets", "symbols", "first_day", "last_day", "content_hash")


def _dataset_row(spec: Any) -> dict[str, Any]:
    return spec.canonical() | {"content_hash": _short(spec.content_hash)}


def _dataset_list(args: argparse.Namespace) -> int:
    specs = open_registry(args).datasets()
    payload = [s.canonical() | {"content_hash": s.content_hash} for s in specs]
    emit(args, payload, [_dataset_row(s) for s in specs], _DATASET_COLUMNS)
    return 0


def register_dataset(subparsers: argparse._SubParsersAction) -> None:
    common = registry_options()
    dataset = subparsers.add_parser("dataset", help="register and list immutable datasets")
    commands = dataset.add_subparsers(dest="dataset_command", required=True)

    register = commands.add_parser("register", parents=[common], help="register a dataset (immutable)")
    register.add_argument("--id", required=True, help="dataset id, e.g. synthetic_v1")
    register.add_argument("--source", required=True, help="where the data comes from, e.g. synthetic")
    register.add_argument(
        "--asset", action="append", required=True, help="store asset key with stored versions (repeatable)"
    )
    register.add_argument("--symbols", nargs="+", required=True, help="symbols the stored rows carry")
    register.add_argument("--from", dest="from_day", type=day_arg, required=True, help="first day")
    register.add_argument("--to", dest="to_day", type=day_arg, help="last day (omit: open-ended)")
    register.add_argument("--description")
    register.add_argument(
        "--profile",
        help="what kind of bars these are (spec/profiles.yaml, e.g. us_equity_daily; omit: the default profile); "
        "research on the dataset takes its bar length, sessions, horizons and events from it",
    )
    register.set_defaults(func=_dataset_register)

    listing = commands.add_parser("list", parents=[common], help="list datasets")
    listing.set_defaults(func=_dataset_list)


# ---- qp runset ----------------------------------------------------------------------------------------
_RUNSET_COLUMNS = ("name", "runset_id", "dataset", "mode", "frozen", "tags", "resolution", "resolved_at")


def _runset_row(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "runset_id": _short(info.runset_id),
        "dataset": info.spec.dataset_id,
        "mode": info.mode,
        "frozen": info.frozen,
        "tags": info.spec.tags,
        "resolution": _short(info.pinned_resolution_hash or info.latest_resolution_hash),
        "resolved_at": info.latest_resolved_at,
    }


def _add_dagster_partition(name: str) -> str | None:
    """Add the RunSet's Dagster partition when a Dagster instance is configured; a note for the user."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    try:
        from quant_platform.defs.registry import add_runset_partitions
    except ImportError:
        return None
    try:
        added = add_runset_partitions([name])
    except Exception as exc:  # the RunSet exists either way; the sensor adds the partition later
        return f"warning: could not add Dagster partition {name!r} now ({exc}); the sensor will add it"
    return f"added Dagster partition {name!r}" if added else None


def _runset_create(args: argparse.Namespace) -> int:
    from quant_platform.registry import RunSetSpec

    if args.to_day is not None and args.from_day is not None and args.to_day < args.from_day:
        raise CommandError(f"--to {args.to_day} is before --from {args.from_day}")
    spec = RunSetSpec(
        dataset_id=args.dataset,
        symbols=args.symbols or (),
        start=args.from_day,
        end=args.to_day,
        rolling_days=args.rolling_days,
        templates=args.template or (),
        strategies=args.strategy or (),
        tags=args.tag or (),
        mode=args.mode,
        external_sources=args.external_source or (),
        max_external_tier=args.max_external_tier,
    )
    info = open_registry(args).create_runset(args.id, spec)
    note = _add_dagster_partition(info.name)
    if note:
        print(note, file=sys.stderr)
    emit(args, info.to_dict(), [_runset_row(info)], _RUNSET_COLUMNS)
    return 0


def _resolution_payload(resolution: Any) -> dict[str, Any]:
    return {
        **resolution.metadata(),
        "frozen": resolution.frozen,
        "historical": resolution.historical,
        "resolver_version": resolution.resolver_version,
        "resolved_at": resolution.resolved_at,
        "as_of": resolution.as_of,
        "range_start": resolution.range_start,
        "range_end": resolution.range_end,
        "symbols": list(resolution.symbols),
        "complete": resolution.complete,
        "artifacts": resolution.artifacts.to_dicts(),
    }


def _resolution_rows(resolution: Any) -> list[dict[str, Any]]:
    import polars as pl

    summary = (
        resolution.artifacts.group_by("asset", maintain_order=True)
        .agg(
            pl.len().alias("partitions"),
            pl.col("content_hash").null_count().alias("missing"),
            pl.col("partition").min().alias("first"),
            pl.col("partition").max().alias("last"),
        )
        .sort("asset")
    )
    return summary.to_dicts()


def _print_resolution(args: argparse.Namespace, resolution: Any) -> None:
    if args.json:
        emit(args, _resolution_payload(resolution), [], ())
        return
    state = resolution.mode + (", frozen" if resolution.frozen else "")
    state += f", historical as of {resolution.as_of.isoformat()}" if resolution.historical else ""
    print(
        f"RunSet {resolution.runset_name} ({state}) resolution {resolution.resolution_hash[:12]} "
        f"days {resolution.range_start}..{resolution.range_end} symbols {','.join(resolution.symbols)}"
    )
    print(format_table(_resolution_rows(resolution), ("asset", "partitions", "missing", "first", "last")))


def _runset_resolve(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    registry.runset(args.id)  # an unknown or malformed id is reported before anything about the store
    require_store(registry)
    resolution = registry.resolve(args.id, force=args.force, as_of=args.as_of)
    _print_resolution(args, resolution)
    return 0


def _runset_freeze(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    registry.runset(args.id)
    require_store(registry)
    resolution = registry.freeze(args.id, allow_incomplete=args.allow_incomplete)
    _print_resolution(args, resolution)
    return 0


def _runset_list(args: argparse.Namespace) -> int:
    infos = open_registry(args).runsets(tag=args.tag, frozen=True if args.frozen else None)
    emit(args, [i.to_dict() for i in infos], [_runset_row(i) for i in infos], _RUNSET_COLUMNS)
    return 0


def _runset_get(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    info = registry.runset(args.id)
    current = registry.current_resolution(args.id)
    if args.json:
        payload = info.to_dict() | {"resolution": _resolution_payload(current) if current else None}
        emit(args, payload, [], ())
        return 0
    print(format_table([_runset_row(info)], _RUNSET_COLUMNS))
    print(f"\nspec: {info.spec.to_json()}")
    if current is None:
        print("never resolved: run `qp runset resolve " + info.name + "`")
    else:
        print()
        _print_resolution(args, current)
    return 0


def register_runset(subparsers: argparse._SubParsersAction) -> None:
    common = registry_options()
    runset = subparsers.add_parser("runset", help="create, resolve, freeze and inspect RunSets")
    commands = runset.add_subparsers(dest="runset_command", required=True)

    create = commands.add_parser("create", parents=[common], help="create a RunSet (immutable)")
    create.add_argument(
        "--id", required=True, help="RunSet name, the Dagster partition key: [a-z0-9_-]{1,64}"
    )
    create.add_argument("--dataset", required=True, help="registered dataset id")
    create.add_argument("--symbols", nargs="+", help="symbols (default: every symbol of the dataset)")
    create.add_argument("--from", dest="from_day", type=day_arg, help="first day (YYYY-MM-DD)")
    create.add_argument("--to", dest="to_day", type=day_arg, help="last day (YYYY-MM-DD)")
    create.add_argument("--rolling-days", type=int, help="keep only the last N days (instead of --from)")
    create.add_argument("--template", action="append", help="template filter, fnmatch pattern (repeatable)")
    create.add_argument("--strategy", action="append", help="strategy filter, fnmatch pattern (repeatable)")
    create.add_argument("--tag", action="append", help="tag (repeatable)")
    create.add_argument("--mode", choices=("exploratory", "reproducible"), default="exploratory")
    create.add_argument(
        "--external-source",
        action="append",
        help="external information source the research reads: a caller, news source or macro series (repeatable)",
    )
    create.add_argument(
        "--max-external-tier", type=int, help="worst external source tier admitted (1 = best)"
    )
    create.set_defaults(func=_runset_create)

    resolve = commands.add_parser(
        "resolve",
        parents=[common],
        help="resolve to exact artifact versions",
        description="Resolve a RunSet to the exact artifact versions it reads and record the resolution. "
        "A frozen RunSet always returns its pin. When the versions equal the latest recorded resolution, "
        "nothing new is recorded and that resolution is shown.",
    )
    resolve.add_argument("id", help="RunSet name or id")
    resolve.add_argument(
        "--force",
        action="store_true",
        help="record a new resolution even when it equals the latest recorded one (refused for a frozen "
        "RunSet, whose pin never changes)",
    )
    resolve.add_argument(
        "--as-of",
        type=utc_datetime_arg,
        help="resolve against the versions that existed at this instant; recorded as historical, it never "
        "becomes the latest resolution that freeze pins",
    )
    resolve.set_defaults(func=_runset_resolve)

    freeze = commands.add_parser("freeze", parents=[common], help="pin the latest resolution for good")
    freeze.add_argument("id", help="RunSet name or id")
    freeze.add_argument("--allow-incomplete", action="store_true", help="pin even with missing partitions")
    freeze.set_defaults(func=_runset_freeze)

    listing = commands.add_parser("list", parents=[common], help="list RunSets")
    listing.add_argument("--tag", help="only RunSets carrying this tag")
    listing.add_argument("--frozen", action="store_true", help="only frozen RunSets")
    listing.set_defaults(func=_runset_list)

    get = commands.add_parser("get", parents=[common], help="show one RunSet and its current resolution")
    get.add_argument("id", help="RunSet name or id")
    get.set_defaults(func=_runset_get)


# ---- qp registry --------------------------------------------------------------------------------------
def _registry_rebuild(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    require_store(registry)
    report = registry.rebuild(force=args.force)
    rows = [{"table": t, "rows": n} for t, n in sorted(report.get("rows", {}).items())]
    if args.json:
        emit(args, report, [], ())
    else:
        state = "rebuilt" if report["rebuilt"] else "already up to date (use --force to rebuild anyway)"
        print(f"{report['path']}: {state}")
        if rows:
            print(format_table(rows, ("table", "rows")))
        if report["quarantined"]:
            print(f"quarantined: {len(report['quarantined'])} corrupt version records left out of the cache")
            print(format_table(report["quarantined"], ("record_file", "asset", "partition", "reason")))
    if report["quarantined"]:
        print(
            f"qp: warning: {len(report['quarantined'])} corrupt version records quarantined (see above); run "
            "`qp store verify` and re-materialize their partitions",
            file=sys.stderr,
        )
    return 0


def _registry_query(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    require_store(registry)
    frame = registry.query(args.sql, args.param or None)
    emit(args, frame.to_dicts(), frame.to_dicts(), frame.columns)
    return 0


def register_registry(subparsers: argparse._SubParsersAction) -> None:
    common = registry_options()
    registry = subparsers.add_parser("registry", help="the DuckDB cache over the registry facts")
    commands = registry.add_subparsers(dest="registry_command", required=True)

    rebuild = commands.add_parser("rebuild", parents=[common], help="rebuild the DuckDB cache from the facts")
    rebuild.add_argument("--force", action="store_true", help="rebuild even when the facts did not change")
    rebuild.set_defaults(func=_registry_rebuild)

    query = commands.add_parser("query", parents=[common], help="run one read-only SQL query on the cache")
    query.add_argument("sql", help="SQL with ? placeholders")
    query.add_argument("--param", action="append", help="a value bound to the next ? (repeatable)")
    query.set_defaults(func=_registry_query)


# ---- entry point --------------------------------------------------------------------------------------
def register_lookahead(subparsers: argparse._SubParsersAction) -> None:
    """``qp lookahead`` from quant_platform/features (the point-in-time proof)."""
    from quant_platform.features.lookahead_cli import register

    register(subparsers)


def register_store(subparsers: argparse._SubParsersAction) -> None:
    """``qp store verify`` / ``qp store gc`` from quant_platform/storage."""
    from quant_platform.storage.cli import register

    register(subparsers)


def register_blueprint(subparsers: argparse._SubParsersAction) -> None:
    """``qp blueprint check`` from quant_platform/blueprints (research-to-execution parity)."""
    from quant_platform.blueprints.cli import register

    register(subparsers)


def register_hpo(subparsers: argparse._SubParsersAction) -> None:
    """``qp hpo status|resume`` from quant_platform/hpo (the model search)."""
    from quant_platform.hpo.cli import register

    register(subparsers)


def register_champion(subparsers: argparse._SubParsersAction) -> None:
    """``qp champion`` from quant_platform/governance."""
    from quant_platform.governance.cli import register

    register(subparsers)


def register_experiments(subparsers: argparse._SubParsersAction) -> None:
    """``qp experiment``, ``qp sql`` and ``qp artifacts`` from quant_platform/experiments."""
    from quant_platform.experiments.cli import register

    register(subparsers)


# Every domain's subcommands: add a `register(subparsers)` function above and list it here.
REGISTRARS: list[Registrar] = [
    register_dataset,
    register_runset,
    register_registry,
    register_lookahead,
    register_store,
    register_blueprint,
    register_hpo,
    register_champion,
    register_experiments,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qp", description="quant_platform command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
        register(subparsers)
    return parser


def _validation_message(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def _silence_stdout() -> None:
    """After the reader closed our stdout, point it at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout replaced by an object without a file descriptor
        pass


def _error(message: str, code: int) -> int:
    print(f"qp: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 environment failure, 2 usage or domain error)."""
    import duckdb
    import polars as pl

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its message
        return int(exc.code or 0)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe fails here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:  # `qp ... | head`: the reader has what it wanted
        _silence_stdout()
        return 0
    except pydantic.ValidationError as exc:
        return _error(_validation_message(exc), EXIT_USAGE)
    except (CommandError, ValueError, LookupError) as exc:
        return _error(str(exc), EXIT_USAGE)
    except (OSError, pl.exceptions.PolarsError, duckdb.Error) as exc:
        return _error(str(exc), EXIT_ENVIRONMENT)


if __name__ == "__main__":
    sys.exit(main())
