"""``qp store``: check the Parquet store's integrity and clean up after crashed writers.

- ``qp store verify [--repair] [--from ROOT ...]``: hash every data file and check every version record
  (``storage.maintenance.verify_store``); exit 1 while any problem is left unrepaired.
- ``qp store gc [--min-age-seconds N] [--dry-run]``: remove ``.tmp-`` leftovers and data files no record
  names, older than N seconds (default one hour); never a file a record points to.

Registered into the project's CLI by ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import os

from quant_platform.core import roots

EXIT_PROBLEMS = 1


def _store(args: argparse.Namespace):  # -> ParquetStore (imported lazily: polars is slow to import)
    from quant_platform.storage import ParquetStore

    root = args.store_root or roots.default_store_root(os.environ)
    if "://" not in root and not os.path.isdir(root):
        raise ValueError(f"store root {root!r} does not exist; pass --store-root or set $QP_STORE_ROOT")
    return ParquetStore(root)


def _verify(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit, format_table
    from quant_platform.storage.maintenance import verify_store

    report = verify_store(_store(args), repair=args.repair, sources=args.sources or ())
    if args.json:
        emit(args, report.to_dict(), [], ())
    else:
        print(f"{report.root}: {report.data_files} data files, {report.records} version records checked")
        if report.problems:
            rows = [p.to_dict() for p in report.problems]
            print(format_table(rows, ("kind", "path", "repaired", "detail")))
        state = "ok" if report.ok else f"{len(report.unrepaired)} problems left unrepaired"
        print(state if report.ok or args.repair else f"{state} (try --repair)")
    return 0 if report.ok else EXIT_PROBLEMS


def _gc(args: argparse.Namespace) -> int:
    from quant_platform.cli import emit, format_table
    from quant_platform.storage.maintenance import gc_store

    report = gc_store(_store(args), min_age_s=args.min_age_seconds, dry_run=args.dry_run)
    if args.json:
        emit(args, report.to_dict(), [], ())
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(f"{report.root}: {verb} {len(report.removed)} files")
    if report.removed:
        print(format_table(report.removed, ("path", "reason")))
    if report.kept_recent:
        print(f"kept {len(report.kept_recent)} leftovers younger than {args.min_age_seconds:g} s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store-root", help="artifact store root (default $QP_STORE_ROOT, else data/store in the checkout)"
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    store = subparsers.add_parser("store", help="verify the Parquet store and collect crash leftovers")
    commands = store.add_subparsers(dest="store_command", required=True)

    verify = commands.add_parser("verify", parents=[common], help="check every data file and version record")
    verify.add_argument(
        "--repair", action="store_true", help="restore corrupt or missing files from verified copies"
    )
    verify.add_argument(
        "--from",
        dest="sources",
        action="append",
        metavar="ROOT",
        help="a replica or backup store to copy from",
    )
    verify.set_defaults(func=_verify)

    gc = commands.add_parser("gc", parents=[common], help="remove .tmp- leftovers and unrecorded data files")
    gc.add_argument(
        "--min-age-seconds", type=float, default=3600.0, help="only files older than this (default 3600)"
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    gc.set_defaults(func=_gc)
