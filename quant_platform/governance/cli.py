"""``qp champion``: show the champion and every candidate's state, the champion history, decide (or preview a
decision with ``--dry-run``), and roll the champion back by hand with a recorded reason."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from quant_platform.cli import day_arg, emit, format_table, open_registry, registry_options, require_store
from quant_platform.governance.service import GATE_COLUMNS, HISTORY_COLUMNS, STATE_EVENT_COLUMNS


def _candidates(registry: Any, runsets: list[str]) -> pl.DataFrame:
    from quant_platform.governance.config import GovernanceSpec
    from quant_platform.governance.service import read_candidates
    from quant_platform.storage.store import ParquetStore

    require_store(registry)
    version = GovernanceSpec.from_spec().feature_payload_schema_version
    return read_candidates(registry, ParquetStore(registry.store.root), runsets, version)[0]


def _print_decision(args: argparse.Namespace, outcome: Any) -> None:
    decision = outcome.decision
    payload = decision | {
        "written": outcome.written,
        "replayed": outcome.replayed,
        "dry_run": outcome.dry_run,
    }
    if args.json:
        emit(args, payload, [], [])
        return
    status = (
        "dry run: nothing written"
        if outcome.dry_run
        else ("recorded" if outcome.written else "same inputs as the ledger head: nothing new recorded")
    )
    print(
        f"decision {decision['decision_seq']}: {decision['decision']} ({', '.join(decision['reason_codes'])}) "
        f"as of {decision['as_of_day']} [{status}]"
    )
    if not decision["prod_gated"]:
        print(f"NOT prod-gated: override {decision['override']}")
    print(f"champion: {decision['champion_before'] or '-'} -> {decision['champion_after'] or '-'}")
    if decision["state_events"]:
        print(format_table(decision["state_events"], STATE_EVENT_COLUMNS))
    print(format_table(decision["gates"], GATE_COLUMNS))


def _default_as_of() -> Any:
    return (datetime.now(UTC) - timedelta(days=1)).date()


def _decide(args: argparse.Namespace) -> int:
    from quant_platform.governance.decide import Override
    from quant_platform.governance.service import run_decision

    registry = open_registry(args)
    override = None
    opt_in = {
        "run_source": args.opt_in_run_source,
        "score_source": args.opt_in_score_source,
        "data_regime": args.opt_in_data_regime,
    }
    if any(opt_in.values()) or args.override_reason:
        override = Override(opt_in={k: v for k, v in opt_in.items() if v}, reason=args.override_reason or "")
    outcome = run_decision(
        registry,
        _candidates(registry, args.runset),
        args.as_of or _default_as_of(),
        override=override,
        drift=_drift(args.drift),
        dry_run=args.dry_run,
    )
    _print_decision(args, outcome)
    return 0


def _drift(values: list[str]) -> dict[str, float]:
    """``ID=PSI`` pairs (the population stability index of each candidate's live inputs or predictions)."""
    out = {}
    for value in values:
        name, _, psi = value.partition("=")
        try:
            out[name] = float(psi)
        except ValueError:
            raise ValueError(f"--drift {value!r}: expected CANDIDATE_ID=PSI") from None
    return out


def _rollback(args: argparse.Namespace) -> int:
    from quant_platform.governance.service import run_decision

    registry = open_registry(args)
    outcome = run_decision(
        registry,
        _candidates(registry, args.runset),
        args.as_of or _default_as_of(),
        manual_rollback=args.reason,
        dry_run=args.dry_run,
    )
    _print_decision(args, outcome)
    return 0


def _show(args: argparse.Namespace) -> int:
    from quant_platform.governance.service import champion_summary

    summary = champion_summary(open_registry(args))
    if args.json:
        emit(args, summary, [], [])
        return 0
    champion = summary["champion"]
    label = (
        "-"
        if champion is None
        else champion + ("" if summary["champion_prod_gated"] else " (NOT prod-gated)")
    )
    print(f"champion: {label}")
    print(
        format_table(
            summary["states"],
            ["candidate_id", "state", "allocation", "since", "since_decision", "prod_gated"],
        )
    )
    last = summary["last_decision"]
    if last:
        print(
            f"last decision {last['decision_seq']}: {last['decision']} ({', '.join(last['reason_codes'])}) "
            f"as of {last['as_of_day']}"
        )
    return 0


def _history(args: argparse.Namespace) -> int:
    from quant_platform.governance.service import champion_summary

    history = champion_summary(open_registry(args))["history"]
    emit(args, history, history, HISTORY_COLUMNS)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    common = registry_options()
    champion = subparsers.add_parser("champion", help="champion governance: states, decisions, rollback")
    commands = champion.add_subparsers(dest="champion_command", required=True)
    show = commands.add_parser("show", parents=[common], help="the champion and every candidate's state")
    show.set_defaults(func=_show)
    history = commands.add_parser(
        "history", parents=[common], help="every champion, its period live, why it left"
    )
    history.set_defaults(func=_history)
    for name, func, helptext in (
        ("decide", _decide, "evaluate the gate and record one decision"),
        ("rollback", _rollback, "demote the live champion and restore the previous one"),
    ):
        sub = commands.add_parser(name, parents=[common], help=helptext)
        sub.add_argument(
            "--runset",
            action="append",
            default=[],
            help="RunSet whose strategy blueprints are candidates (repeatable; default: every RunSet)",
        )
        sub.add_argument("--as-of", type=day_arg, help="decision day (default: the UTC day that just ended)")
        sub.add_argument("--dry-run", action="store_true", help="show the decision without recording it")
        sub.set_defaults(func=func)
        if name == "decide":
            sub.add_argument("--opt-in-run-source", action="append", default=[], help="override: also count")
            sub.add_argument(
                "--opt-in-score-source", action="append", default=[], help="override: also count"
            )
            sub.add_argument("--opt-in-data-regime", action="append", default=[], help="override: also count")
            sub.add_argument("--override-reason", help="why the gate's filters are widened (recorded)")
            sub.add_argument(
                "--drift",
                action="append",
                default=[],
                metavar="ID=PSI",
                help="a candidate's measured PSI; above rollback.max_psi the champion rolls back",
            )
        else:
            sub.add_argument("--reason", required=True, help="why (recorded in the ledger)")
