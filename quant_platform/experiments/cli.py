"""``qp experiment create|execute|get|list``, ``qp sql`` and ``qp artifacts list|get|find|lineage``.

``qp sql "SELECT …"`` runs one read-only query on the registry's DuckDB cache, in the same sandbox as
``qp registry query`` (the cache is rebuilt first if the facts changed; the connection is read-only and has
no file or network access, so a query can only read the cache's tables; values are bound with ``--param``
to ``?`` placeholders). "All trades of RunSet X"::

    qp sql "SELECT * FROM runset_trades WHERE runset_name = ?" --param X
"""

from __future__ import annotations

import argparse
from typing import Any

_EXPERIMENT_COLUMNS = (
    "experiment_id",
    "runset",
    "strategy",
    "policy",
    "mode",
    "runs",
    "trades",
    "current_run_id",
)
_RUN_COLUMNS = ("run_id", "resolution_hash", "n_trades", "final_equity", "range_start", "range_end")
_ARTIFACT_COLUMNS = ("artifact_id", "asset", "partition", "content_hash", "rows", "written_at")
_KEY_METRICS = (
    "status",
    "total_return",
    "sharpe_daily",
    "max_drawdown",
    "n_round_trips",
    "hit_rate",
    "turnover",
)


def _registry(args: argparse.Namespace):
    from quant_platform.cli import open_registry, require_store

    registry = open_registry(args)
    require_store(registry)
    return registry


def _short(value: Any) -> Any:
    return f"{value[:12]}…" if isinstance(value, str) and len(value) == 64 else value


def _create(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit
    from quant_platform.experiments import create_experiment, experiment_mode, load_strategy

    registry = _registry(args)
    experiment = create_experiment(registry, args.runset, load_strategy(args.strategy))
    row = {
        "experiment_id": experiment.experiment_id,
        "runset": experiment.runset_name,
        "strategy": experiment.strategy.name,
        "strategy_hash": experiment.strategy_hash,
        "mode": experiment_mode(registry, experiment),
    }
    emit(args, row, [row], tuple(row))
    return 0


def _execute(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit
    from quant_platform.experiments import execute_experiment

    run = execute_experiment(_registry(args), args.id)
    row = {
        "run_id": run.run_id,
        "mode": run.mode,
        "resolution_hash": run.resolution_hash,
        "trades": run.trades.height,
        "final_equity": run.run["final_equity"],
        "facts_written": "nothing new"
        if not run.wrote_anything
        else ",".join(k for k, v in run.written.items() if v),
        **{k: run.metrics.get(k) for k in _KEY_METRICS},
    }
    emit(args, row, [row], tuple(row))
    return 0


def _get(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit, format_table
    from quant_platform.experiments import experiment_mode, experiment_runs, get_experiment

    registry = _registry(args)
    experiment = get_experiment(registry, args.id)
    runs = experiment_runs(registry, experiment)
    payload = experiment.definition() | {
        "mode": experiment_mode(registry, experiment),
        "runs": runs.to_dicts(),
    }
    if args.json:
        emit(args, payload, [], ())
        return 0
    print(f"experiment {experiment.experiment_id}")
    print(f"RunSet {experiment.runset_name} ({payload['mode']}), strategy {experiment.strategy.name} "
          f"({experiment.strategy_hash})")  # fmt: skip
    print(f"spec: {experiment.strategy.model_dump_json()}")
    if runs.height == 0:
        print(f"never executed: run `qp experiment execute {experiment.experiment_id}`")
    else:
        print(format_table(runs.select(_RUN_COLUMNS).to_dicts(), _RUN_COLUMNS))
    return 0


def _list(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit
    from quant_platform.experiments import list_experiments

    rows = list_experiments(_registry(args))
    emit(args, rows, [{k: _short(v) for k, v in r.items()} for r in rows], _EXPERIMENT_COLUMNS)
    return 0


def _sql(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit

    frame = _registry(args).query(args.sql, args.param or None)
    emit(args, frame.to_dicts(), frame.to_dicts(), frame.columns)
    return 0


def _artifacts_list(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit
    from quant_platform.registry.lineage import list_artifacts

    frame = list_artifacts(_registry(args), args.asset)
    emit(args, frame.to_dicts(), frame.to_dicts(), _ARTIFACT_COLUMNS)
    return 0


def _artifacts_find(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit
    from quant_platform.registry.lineage import find_artifacts

    frame = find_artifacts(
        _registry(args), asset=args.asset, partition=args.partition, content_hash=args.content_hash
    )
    emit(args, frame.to_dicts(), frame.to_dicts(), _ARTIFACT_COLUMNS)
    return 0


def _artifacts_get(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit, format_table
    from quant_platform.registry.lineage import get_artifact

    artifact = get_artifact(_registry(args), args.id)
    if args.json:
        emit(args, artifact, [], ())
        return 0
    print(format_table([artifact], (*_ARTIFACT_COLUMNS, "path")))
    inputs = artifact["inputs"]
    print(f"\ninputs ({len(inputs)}):" if inputs else "\ninputs: none recorded (a raw input)")
    if inputs:
        print(format_table(inputs, ("asset", "partition", "content_hash")))
    return 0


def _artifacts_lineage(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit
    from quant_platform.registry.lineage import lineage

    what, frame = lineage(_registry(args), args.ref)
    if args.json:
        emit(args, {"result": what, "lineage": frame.to_dicts()}, [], ())
        return 0
    print(what)
    columns = ("depth", "asset", "partition", "content_hash", "artifact_id", "needed_by", "note")
    emit(args, None, frame.to_dicts(), columns)
    return 0


def register_experiment(subparsers: argparse._SubParsersAction) -> None:
    from quant_platform.cli import registry_options

    common = registry_options()
    experiment = subparsers.add_parser("experiment", help="RunSet + strategy spec experiments")
    commands = experiment.add_subparsers(dest="experiment_command", required=True)

    create = commands.add_parser("create", parents=[common], help="bind a RunSet and a strategy spec")
    create.add_argument("--runset", required=True, help="RunSet name or id")
    create.add_argument("--strategy", required=True, help="a spec/strategies/ name or a YAML file path")
    create.set_defaults(func=_create)

    execute = commands.add_parser("execute", parents=[common], help="replay an experiment through the engine")
    execute.add_argument("id", help="experiment id (or 8+ leading hex digits)")
    execute.set_defaults(func=_execute)

    get = commands.add_parser("get", parents=[common], help="show one experiment and its runs")
    get.add_argument("id", help="experiment id (or 8+ leading hex digits)")
    get.set_defaults(func=_get)

    listing = commands.add_parser("list", parents=[common], help="list experiments")
    listing.set_defaults(func=_list)


def register_sql(subparsers: argparse._SubParsersAction) -> None:
    from quant_platform.cli import registry_options

    sql = subparsers.add_parser(
        "sql", parents=[registry_options()],
        help="one read-only SQL query on the registry cache (trades, runs, runset_membership, ...)",
    )  # fmt: skip
    sql.add_argument("sql", help="SQL with ? placeholders")
    sql.add_argument("--param", action="append", help="a value bound to the next ? (repeatable)")
    sql.set_defaults(func=_sql)


def register_artifacts(subparsers: argparse._SubParsersAction) -> None:
    from quant_platform.cli import registry_options

    common = registry_options()
    artifacts = subparsers.add_parser("artifacts", help="stored artifact versions and their lineage")
    commands = artifacts.add_subparsers(dest="artifacts_command", required=True)

    listing = commands.add_parser("list", parents=[common], help="every stored version")
    listing.add_argument("--asset", help="only this asset")
    listing.set_defaults(func=_artifacts_list)

    get = commands.add_parser("get", parents=[common], help="one version and its recorded inputs")
    get.add_argument("id", help="artifact id or content hash")
    get.set_defaults(func=_artifacts_get)

    find = commands.add_parser("find", parents=[common], help="versions matching asset/partition/hash")
    find.add_argument("--asset")
    find.add_argument("--partition")
    find.add_argument("--content-hash", help="a content hash or 8+ leading hex digits")
    find.set_defaults(func=_artifacts_find)

    lineage = commands.add_parser(
        "lineage", parents=[common], help="walk a run, a fact file or an artifact back to its exact inputs"
    )
    lineage.add_argument(
        "ref", help="experiment run id, experiments/facts/... file, artifact id or content hash"
    )
    lineage.set_defaults(func=_artifacts_lineage)


def register(subparsers: argparse._SubParsersAction) -> None:
    register_experiment(subparsers)
    register_sql(subparsers)
    register_artifacts(subparsers)
