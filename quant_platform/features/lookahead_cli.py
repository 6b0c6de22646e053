"""``qp lookahead``: recompute features_v1 / context_features / market_events at sampled cut points inside a
partition day and report every column whose past values change (exit status 1 when any does).

Registered into the project's CLI by ``register(subparsers)``; computes from a market source directly
(the synthetic market by default) over the partition's lookback window, so it needs no materialised store.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import polars as pl

from quant_platform.core.timeutil import day_bounds, parse_day
from quant_platform.features.compute import lookback_days
from quant_platform.features.lookahead import PIPELINES, lookahead_report, sample_cut_points
from quant_platform.features.market_window import bars_for_days
from quant_platform.market.sources.base import MarketDataSource

SOURCES = ("synthetic",)


def _source(name: str, symbols: tuple[str, ...] | None = None) -> MarketDataSource:
    if name == "synthetic":
        from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket

        return SyntheticMarket(SyntheticConfig(symbols=symbols) if symbols else None)
    raise ValueError(f"unknown source {name!r}; expected one of {SOURCES}")


def run_lookahead(
    asset: str,
    partition: str,
    source: str = "synthetic",
    cuts: int = 5,
    seed: int = 0,
    symbols: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """The lookahead report of ``asset`` for one partition day (cut points sampled inside that day)."""
    if asset not in PIPELINES:
        raise ValueError(f"unknown asset {asset!r}; expected one of {sorted(PIPELINES)}")
    day = parse_day(partition)
    market = _source(source, symbols)
    first = day - timedelta(days=lookback_days())
    # A window reaching before the source's first day starts at it: those rows are warm-up, as in the asset.
    origin = getattr(getattr(market, "config", None), "origin_date", None)
    if origin is not None:
        first = max(first, parse_day(origin))
    bars = bars_for_days(market, first.isoformat(), day.isoformat())
    start, end = day_bounds(day)
    in_day = bars.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    return lookahead_report(bars, sample_cut_points(in_day, cuts, seed=seed), asset=asset)


def _main(args: argparse.Namespace) -> int:
    symbols = tuple(s for s in args.symbols.split(",") if s) if args.symbols else None
    report = run_lookahead(args.asset, args.partition, args.source, args.cuts, args.seed, symbols)
    if report.height == 0:
        print(f"lookahead {args.asset} {args.partition}: no past value changed at {args.cuts} cut points")
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
    parser.add_argument("--cuts", type=int, default=5, help="number of cut points sampled inside the day")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cut-point sample")
    parser.add_argument("--symbols", default=None, help="comma-separated universe (default: the source's)")
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
