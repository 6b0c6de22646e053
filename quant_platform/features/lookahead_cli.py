"""``qp lookahead``: recompute bars_5m / features_v1 / context_features / market_events at sampled cut points
inside a partition day and report every column whose past values change (exit status 1 when any does).

Registered into the project's CLI by ``register(subparsers)``; computes from a market source directly
(the synthetic market by default; ``ohlcv_csv`` and ``binance_files`` with their options) over every day
of history the asset chain reads (features, plus context, plus events lookbacks), so it needs no
materialised store. It starts from the source's raw tables: each truncation keeps the raw rows known at the
cut bar's close and cleans them, so the cleaning (every column of bars_5m) is under the audit too.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from quant_platform.core.sessions import SESSIONS
from quant_platform.core.timeutil import day_bounds, parse_day
from quant_platform.events.detect import events_lookback_bars
from quant_platform.features.compute import lookback_days
from quant_platform.features.context import context_lookback_days
from quant_platform.features.lookahead import PIPELINES, lookahead_report, sample_cut_points
from quant_platform.features.spec import days_spanned, load_feature_spec
from quant_platform.market.cleaning import CleaningConfig
from quant_platform.market.raw_window import RawWindow
from quant_platform.market.sources.base import MarketDataSource
from quant_platform.market.sources.factory import make_source

SOURCES = ("synthetic", "ohlcv_csv", "binance_files")


def _source(
    name: str, symbols: tuple[str, ...] | None = None, options: dict[str, Any] | None = None
) -> MarketDataSource:
    """The market source ``name`` built as the ``market_data`` resource builds it (``options``: its settings,
    e.g. ``path``/``symbol``/``columns``/``time_format`` for ohlcv_csv, ``root`` for binance_files)."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; expected one of {SOURCES}")
    chosen = {k: v for k, v in (options or {}).items() if v is not None}
    if symbols:
        chosen["symbols"] = tuple(symbols)
    return make_source(name, **chosen)


def history_days(asset: str, bar_minutes: int | None = None, sessions: str = "continuous") -> int:
    """Days of bars before the partition day that make ``asset`` complete on it when computed from bars: the
    features' lookback, plus the context's lookback on features, plus the events' lookback on both. The cleaning
    of a day reads that day's raw tables and the previous day's prints only (the window loads those), so
    bars_5m needs no day before."""
    if asset == "bars_5m":
        return 0
    features = lookback_days(bar_minutes=bar_minutes, sessions=sessions)
    if asset == "features_v1":
        return features
    context = features + context_lookback_days(bar_minutes=bar_minutes, sessions=sessions)
    if asset == "context_features":
        return context
    if asset == "market_events":
        grid = bar_minutes or load_feature_spec().bar_minutes
        return context + days_spanned(events_lookback_bars(), grid, sessions)
    raise ValueError(f"unknown asset {asset!r}; expected one of {sorted(PIPELINES)}")


def audit_inputs(
    asset: str,
    partition: str,
    source: str = "synthetic",
    cuts: int | None = None,
    seed: int = 0,
    symbols: tuple[str, ...] | None = None,
    *,
    bar_minutes: int = 5,
    sessions: str = "continuous",
    source_options: dict[str, Any] | None = None,
) -> tuple[RawWindow, list[datetime]]:
    """(raw window, cut points) of the audit of ``asset`` on one partition day: the cut points are sampled
    inside that day (for daily bars: the day's own bar, with the sessions after it appended as the future);
    the window holds ``source``'s raw tables over the whole history the asset chain reads, cleaned on a
    ``bar_minutes`` grid (``sessions``: ``observed`` for daily bars without closed days) by the audit itself,
    so the cleaning is audited too."""
    if asset not in PIPELINES:
        raise ValueError(f"unknown asset {asset!r}; expected one of {sorted(PIPELINES)}")
    day = parse_day(partition)
    market = _source(source, symbols, source_options)
    first = day - timedelta(days=history_days(asset, bar_minutes, sessions))
    # A window reaching before the source's first day starts at it: those rows are warm-up, as in the asset.
    origin = getattr(getattr(market, "config", None), "origin_date", None)
    if origin is not None:
        first = max(first, parse_day(origin))
    config = CleaningConfig(interval_minutes=bar_minutes, sessions=sessions)
    window = RawWindow.from_source(market, first.isoformat(), day.isoformat(), config)
    in_day = window.day_bars(day.isoformat()).filter(~pl.col("gap"))
    if in_day.height == 0:
        raise ValueError(f"{source} has no bars on {partition}: nothing to audit")
    if in_day["ts"].n_unique() >= 2:
        return window, sample_cut_points(in_day, cuts or default_cuts(asset), seed=seed)
    # Daily bars: the day is one bar stamp, so it is cut there and audited against the sessions after it
    # (the future a lookahead would read); without them the truncation would remove nothing.
    window = window.extend_to(market, (day + timedelta(days=DAILY_AUDIT_DAYS_AFTER)).isoformat())
    later = window.clean().filter(pl.col("ts") >= day_bounds(day)[1], ~pl.col("gap"))
    if later.height == 0:
        raise ValueError(
            f"{source} has no bars in the {DAILY_AUDIT_DAYS_AFTER} days after {partition}: a daily "
            "partition is audited against the sessions that follow it"
        )
    return window, in_day["ts"].unique().to_list()


def run_lookahead(
    asset: str,
    partition: str,
    *args: Any,
    bar_minutes: int = 5,
    sessions: str = "continuous",
    **kwargs: Any,
) -> pl.DataFrame:
    """The lookahead report of ``asset`` for one partition day, from the source's raw tables; the other
    arguments are :func:`audit_inputs`' (source, cuts, seed, symbols, source_options)."""
    window, cut_points = audit_inputs(
        asset, partition, *args, bar_minutes=bar_minutes, sessions=sessions, **kwargs
    )
    return lookahead_report(window, cut_points, asset=asset, bar_minutes=bar_minutes, sessions=sessions)


def default_cuts(asset: str) -> int:
    """Cut points sampled in a day when none are asked for: a cut of bars_5m re-cleans one day (milliseconds),
    so it samples many (a lookahead in the volume filter shows only near thin bars); a cut of the feature chain
    recomputes the whole history, so it samples a few."""
    return 48 if asset == "bars_5m" else 5


DAILY_AUDIT_DAYS_AFTER = 7  # calendar days loaded after a daily partition: a weekend plus holidays still
# leave at least one session


def _source_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.source == "binance_files":
        options["root"] = args.root
    if args.source == "ohlcv_csv":
        options.update(path=args.path, layout=args.layout, symbol=args.symbol, time_format=args.time_format)
        if args.time_column:
            options["columns"] = {"time": args.time_column, "symbol": None, "adj_close": None}
    if args.source == "synthetic" and args.seed_market is not None:
        options["seed"] = args.seed_market
    return options


def _main(args: argparse.Namespace) -> int:
    symbols = tuple(s for s in args.symbols.split(",") if s) if args.symbols else None
    window, cut_points = audit_inputs(
        args.asset, args.partition, args.source, args.cuts or default_cuts(args.asset), args.seed, symbols,
        bar_minutes=args.bar_minutes, sessions=args.sessions, source_options=_source_options(args),
    )  # fmt: skip
    report = lookahead_report(
        window, cut_points, asset=args.asset, bar_minutes=args.bar_minutes, sessions=args.sessions
    )
    if report.height == 0:
        print(
            f"lookahead {args.asset} {args.partition}: no past value changed at {len(cut_points)} cut point(s)"
        )
        return 0
    with pl.Config(tbl_rows=-1, tbl_width_chars=200):
        print(report)
    return 1


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``lookahead`` to the CLI's subcommands; the handler is stored as ``func`` (returns an exit code)."""
    parser = subparsers.add_parser(
        "lookahead",
        help="prove point-in-time: recompute an asset at cut points and report changed past values",
    )
    parser.add_argument("--asset", required=True, choices=sorted(PIPELINES))
    parser.add_argument("--partition", required=True, help="UTC day YYYY-MM-DD")
    parser.add_argument("--source", default="synthetic", choices=SOURCES)
    parser.add_argument(
        "--cuts",
        type=int,
        default=None,
        help="number of cut points sampled inside the day (default: 48 for bars_5m, 5 for the feature chain; "
        "daily bars: the day's bar)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the cut-point sample")
    parser.add_argument("--symbols", default=None, help="comma-separated universe (default: the source's)")
    parser.add_argument(
        "--bar-minutes",
        type=int,
        default=5,
        help="grid of the cleaned bars (60 or 1440 for hourly/daily CSV)",
    )
    parser.add_argument(
        "--sessions",
        default="continuous",
        choices=SESSIONS,
        help="observed: daily bars whose closed days (weekends, holidays) are not sessions, e.g. equities",
    )
    parser.add_argument("--path", default=None, help="ohlcv_csv: the CSV file")
    parser.add_argument("--symbol", default=None, help="ohlcv_csv: symbol of a single-instrument file")
    parser.add_argument("--layout", default="long", choices=("long", "wide"), help="ohlcv_csv: file layout")
    parser.add_argument("--time-column", default=None, help="ohlcv_csv: time column when it is not 'Date'")
    parser.add_argument("--time-format", default=None, help="ohlcv_csv: strptime-style time format")
    parser.add_argument("--root", default=None, help="binance_files: root of the data-dump tree")
    parser.add_argument("--seed-market", type=int, default=None, help="synthetic: the market's seed")
    parser.set_defaults(func=_main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m quant_platform.features.lookahead_cli lookahead ...``)."""
    parser = argparse.ArgumentParser(prog="qp")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
