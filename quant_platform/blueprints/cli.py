"""``qp blueprint check PATH``: research-to-execution parity of every blueprint of a ``blueprints.jsonl``.

Each line's id is verified against its content; its lineage names the RunSet and the exact resolution the
research chain read, whose bars, events and states are read from the registry and store (the usual
``--registry-root`` / ``--store-root``). Each blueprint then runs in our engine and in NautilusTrader's
``BacktestEngine`` (:mod:`quant_platform.execution.nautilus.parity`), with slippage off (exact parity) and,
with ``--slippage``, also under both fill models. Prints the fills side by side (the first ``--fills``
of each blueprint) and one summary row per blueprint and mode; exit status 2 when any parity fails.
Needs the ``[nautilus]`` extra.
"""

from __future__ import annotations

import argparse
from typing import Any

FILL_COLUMNS = (
    "fill", "ts_engine", "ts_nautilus", "side_engine", "side_nautilus", "qty_engine", "qty_nautilus",
    "price_engine", "price_nautilus", "fee_engine", "fee_nautilus",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "blueprint_id", "candidate_id", "symbol", "mode", "fills_engine", "fills_nautilus", "pnl_engine",
    "pnl_nautilus", "pnl_rel_diff", "explained_diff", "unexplained_diff", "config_id_ok", "passed", "failures",
)  # fmt: skip


def _round(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(f"{v:.10g}") if isinstance(v, float) else v) for k, v in row.items()}


def _check(args: argparse.Namespace) -> int:
    from quant_platform.blueprints.compile import read_blueprints_jsonl
    from quant_platform.blueprints.inputs import lineage_inputs
    from quant_platform.cli import CommandError, emit, format_table, open_registry, require_store

    try:
        from quant_platform.execution.nautilus.parity import check_blueprint
    except ImportError as exc:  # the optional extra is missing
        raise CommandError(
            f"qp blueprint check needs NautilusTrader: pip install -e '.[nautilus]' ({exc})"
        ) from None
    lines = read_blueprints_jsonl(args.path)
    registry = open_registry(args)
    require_store(registry)
    store_root = registry.store.root
    results = []
    for line in lines:
        bars, events, states = lineage_inputs(registry, store_root, line["lineage"])
        for slippage in (False, True) if args.slippage else (False,):
            results.append(check_blueprint(line, bars, events, states, slippage=slippage))
    summaries = [_round(r.summary()) for r in results]
    if args.json:
        emit(args, {"blueprints": summaries}, [], ())
    else:
        for result in results:
            mode = "with slippage" if result.slippage else "zero slippage"
            print(f"\nblueprint {result.blueprint_id[:12]} ({result.symbol}, {mode}): fills side by side")
            rows = [_round(r) for r in result.fills.head(args.fills).iter_rows(named=True)]
            print(format_table(rows, FILL_COLUMNS))
            if result.fills.height > args.fills:
                print(f"... {result.fills.height - args.fills} more fills")
        print()
        print(format_table(summaries, SUMMARY_COLUMNS))
    failed = [r for r in results if not r.passed]
    if failed:
        raise CommandError(f"parity failed for {len(failed)} of {len(results)} checks")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from quant_platform.cli import registry_options

    common = registry_options()
    blueprint = subparsers.add_parser("blueprint", help="strategy blueprints for NautilusTrader")
    commands = blueprint.add_subparsers(dest="blueprint_command", required=True)
    check = commands.add_parser(
        "check", parents=[common], help="research-to-execution parity of a blueprints.jsonl (NautilusTrader)"
    )
    check.add_argument("path", help="a blueprints.jsonl file")
    check.add_argument("--slippage", action="store_true", help="also compare under both slippage models")
    check.add_argument("--fills", type=int, default=10, help="fills shown per blueprint (default 10)")
    check.set_defaults(func=_check)
