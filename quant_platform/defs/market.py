"""Market layer assets: five raw tables from the configured source, then cleaned 5m bars and quarantine.

Daily UTC partitions; every symbol of the universe lives inside each file. Assets are thin: they fetch or
clean through the library and yield blocking schema checks (generated from the pandera schemas) plus the
reconciliation check (row accounting, uniqueness, OHLC invariants, coverage per symbol).
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from quant_platform.core.timeutil import parse_day
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import ALLOW_MISSING_KEY, PARTITION_KEY_COLUMN_KEY, parquet_output
from quant_platform.defs.partitions import daily_partitions, lookback
from quant_platform.defs.resources import MarketDataResource
from quant_platform.market import cleaning, source_checks
from quant_platform.market import quarantine as q
from quant_platform.market.reconciliation import reconciliation_report
from quant_platform.market.schemas import MARKET_SCHEMAS, Bars5m, QuarantinedRows
from quant_platform.market.sources.base import RAW_TABLES, covered_symbols
from quant_platform.market.universe import dated_listings, members_on

GROUP = "market"
# Every market asset handles a range of days in one run (one file per day), so backfills and
# `dg launch --partition-range` need no daemon and start one process, not one per day.
SINGLE_RUN = dg.BackfillPolicy.single_run()
RAW_ASSETS = {
    "raw_perp_bars": (
        "perp_bars",
        "Perpetual-futures 1m klines as the source delivers them (may hold bad rows).",
    ),
    "raw_spot_bars": ("spot_bars", "Spot 1m klines as the source delivers them (for the spot/perp basis)."),
    "raw_funding": ("funding", "Perp funding prints (rate settled at ts), typically every 8 hours."),
    "raw_open_interest": ("open_interest", "Open interest snapshots, every 5 minutes."),
    "raw_liquidations": ("liquidations", "Forced orders; SELL liquidates a long, BUY a short."),
}


def wall_clock() -> datetime:
    """The run's clock (UTC): cleaning quarantines rows stamped after it as ``ts_in_future``.

    Read once per step, so every day of a backfill is judged against the same instant; tests pin it by
    replacing this module attribute.
    """
    return datetime.now(UTC)


def _per_symbol_counts(frame: pl.DataFrame) -> dg.MetadataValue:
    if frame.is_empty():
        return dg.MetadataValue.json({})
    counts = frame.group_by("symbol", maintain_order=True).len().sort("symbol")
    return dg.MetadataValue.json(dict(zip(counts["symbol"].to_list(), counts["len"].to_list(), strict=True)))


def _source_health(source: object) -> dict | None:
    """The source's health counters, when it keeps any (binance_rest: success/failure/empty/rate-limited,
    latency, breaker state; binance_files: files read and missing). Cumulative over the source's life, which
    the raw tables of one run share (see ``MarketDataResource.source``)."""
    health = getattr(source, "health", None)
    return health() if callable(health) else None


def _raw_asset(asset_name: str, table: str, description: str) -> dg.AssetsDefinition:
    schema = MARKET_SCHEMAS[asset_name]

    @dg.asset(
        name=asset_name,
        group_name=GROUP,
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        description=description,
        check_specs=[schema_check_spec(asset_name, schema)],
        kinds={"polars", "parquet"},
        tags={"quant_platform/layer": "market"},
    )
    def raw_table(context: dg.AssetExecutionContext, market_data: MarketDataResource):
        source = market_data.source()
        parts = {}
        for day in context.partition_keys:
            try:
                parts[day] = source.fetch(table, day)
            except ValueError as exc:  # malformed content: the run's failure names the file and line
                context.log.error(f"{source.name} failed; its health: {_source_health(source)}")
                raise dg.Failure(description=_unreadable_message(asset_name, day, exc, market_data)) from exc
            except Exception:
                context.log.error(f"{source.name} failed; its health: {_source_health(source)}")
                raise
        if table == source_checks.CHECKED_TABLE:
            _require_bars(source, parts, market_data)
        whole = pl.concat(list(parts.values()), how="vertical")
        metadata = {"source": source.name}
        per_day = {day: {"rows_per_symbol": _per_symbol_counts(part)} for day, part in parts.items()}
        metadata |= _per_partition(context, asset_name, per_day)
        health = _source_health(source)
        if health is not None:
            metadata["source_health"] = dg.MetadataValue.json(health)
        yield parquet_output(context, parts, metadata=metadata)
        yield schema_check_result(asset_name, schema, whole)

    return raw_table


def _unreadable_message(asset_name: str, day: str, exc: ValueError, market_data: MarketDataResource) -> str:
    hint = (
        " (market_data.unparseable_lines: quarantine keeps the readable lines and quarantines the others as "
        "unparseable_line)"
        if market_data.kind == "binance_files" and market_data.unparseable_lines == "fail"
        else ""
    )
    return f"{asset_name} {day}: unreadable source data: {exc}{hint}"


def _require_bars(source: object, parts: dict[str, pl.DataFrame], market_data: MarketDataResource) -> None:
    """Fail the step (nothing written) when a day's source gave a universe symbol no bar rows and the day
    is not known-empty: the message names the source's root, the symbols and the files looked for."""
    known_empty = market_data.known_empty()
    problems = [
        message
        for day, frame in parts.items()
        if (
            message := source_checks.missing_bars_message(
                source,
                day,
                frame,
                market_data.symbols,
                sessions=market_data.sessions,
                known_empty=known_empty,
            )
        )
    ]
    if problems:
        raise dg.Failure(
            description=f"{len(problems)} day(s) without bars: "
            + " | ".join(problems[:3])
            + (f" | and {len(problems) - 3} more day(s)" if len(problems) > 3 else ""),
            metadata={"days_without_bars": dg.MetadataValue.json(problems)},
        )


raw_assets = [_raw_asset(name, table, text) for name, (table, text) in RAW_ASSETS.items()]


def _per_partition(context: dg.AssetExecutionContext, asset: str, per_day: dict[str, dict]) -> dict:
    """Metadata that describes one day: a one-day run returns it as output metadata; a range run attaches each
    day's own to that day's materialization event (output metadata is copied onto every day's event, so a
    run-wide per-day list grew as days x days in the event log) and returns nothing."""
    if len(per_day) == 1:
        return next(iter(per_day.values()))
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, asset_key=asset, partition_key=day)
    return {}


_RECONCILIATION = "reconciliation"
_FROM = "stored_partition"


def _by_stored_partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Rows per partition they were stored under, split in one pass (filtering the whole range once per day
    made a long backfill quadratic in its days); a partition with no rows gets the empty frame."""
    empty = frame.clear().drop(_FROM)
    parts = {key[0]: part.drop(_FROM) for key, part in frame.partition_by(_FROM, as_dict=True).items()}
    return _DefaultParts(parts, empty)


class _DefaultParts(dict):
    """A ``dict`` of frames answering an absent key with a fresh empty frame of the same columns."""

    def __init__(self, parts: dict[str, pl.DataFrame], empty: pl.DataFrame):
        super().__init__(parts)
        self._empty = empty

    def __missing__(self, key: str) -> pl.DataFrame:
        return self._empty.clone()


@dg.multi_asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    outs={
        "bars_5m": dg.AssetOut(
            description=Bars5m.__doc__, kinds={"polars", "parquet"}, tags={"quant_platform/layer": "market"}
        ),
        "quarantined_rows": dg.AssetOut(
            description=QuarantinedRows.__doc__,
            kinds={"polars", "parquet"},
            tags={"quant_platform/layer": "market"},
        ),
    },
    # Every input row is tagged with the partition it was stored under: a raw file may hold rows stamped on
    # another day (that is for cleaning to quarantine), so days are never re-split by timestamp.
    ins={
        "perp": dg.AssetIn("raw_perp_bars", metadata={PARTITION_KEY_COLUMN_KEY: _FROM}),
        "spot": dg.AssetIn("raw_spot_bars", metadata={PARTITION_KEY_COLUMN_KEY: _FROM}),
        # funding and OI carry over from the previous day: the first bars of a day see the last prior print.
        "funding": dg.AssetIn(
            "raw_funding",
            partition_mapping=lookback(1),
            metadata={ALLOW_MISSING_KEY: True, PARTITION_KEY_COLUMN_KEY: _FROM},
        ),
        "open_interest": dg.AssetIn(
            "raw_open_interest",
            partition_mapping=lookback(1),
            metadata={ALLOW_MISSING_KEY: True, PARTITION_KEY_COLUMN_KEY: _FROM},
        ),
        "liquidations": dg.AssetIn("raw_liquidations", metadata={PARTITION_KEY_COLUMN_KEY: _FROM}),
    },
    check_specs=[
        schema_check_spec("bars_5m", Bars5m),
        schema_check_spec("quarantined_rows", QuarantinedRows),
        dg.AssetCheckSpec(
            _RECONCILIATION,
            asset="bars_5m",
            blocking=True,
            description="raw = clean + quarantined for every table; no duplicate (symbol, ts); OHLC invariants; "
            "a complete 5m grid per symbol (coverage reported per symbol); a day that yields no clean bar "
            "(any symbol on a continuous grid, every symbol on observed sessions) fails unless known-empty.",
        ),
    ],
)
def clean_market(
    context: dg.AssetExecutionContext,
    perp: pl.DataFrame,
    spot: pl.DataFrame,
    funding: pl.DataFrame,
    open_interest: pl.DataFrame,
    liquidations: pl.DataFrame,
    market_data: MarketDataResource,
):
    """Clean each day of the run on its own (a single-run backfill cleans day by day)."""
    universe = tuple(market_data.symbols)
    # A source that dates its listings (an equity panel) gives each day its own members: a symbol is on the
    # grid from its listing through its last trading day, never a gap row before or after.
    listings = dated_listings(market_data.source())
    now = wall_clock()
    source = market_data.source()
    known_empty = market_data.known_empty()
    bars, quarantine, reports, liquidations_unknown = {}, {}, [], {}
    perp_by, spot_by, funding_by, oi_by, liquidations_by = (
        _by_stored_partition(f) for f in (perp, spot, funding, open_interest, liquidations)
    )
    for day in context.partition_keys:
        previous = (parse_day(day) - timedelta(days=1)).isoformat()
        members = (
            universe if listings is None else tuple(s for s in members_on(listings, day) if s in universe)
        )
        unparseable = None
        rejected_lines = getattr(source, "rejected_lines", None)
        if callable(rejected_lines):
            unparseable = q.unparseable_rows([line for t in RAW_TABLES for line in rejected_lines(t, day)])
        result = cleaning.clean_day(
            day,
            perp_by[day],
            spot_by[day],
            funding_by[day],
            oi_by[day],
            liquidations_by[day],
            universe=members,
            now=now,
            config=cleaning.CleaningConfig(
                interval_minutes=market_data.bar_minutes, sessions=market_data.sessions
            ),
            prior_funding=funding_by[previous],
            prior_open_interest=oi_by[previous],
            liquidation_symbols=(known_liquidations := covered_symbols(source, "liquidations", day)),
            unparseable=unparseable,
        )
        if unknown := sorted(set(universe) - set(known_liquidations)):
            liquidations_unknown[day] = unknown  # their liq_*_notional are null, not 0
        bars[day], quarantine[day] = result.bars, result.quarantined
        reports.append(
            {
                "day": day,
                **reconciliation_report(
                    result,
                    members,
                    market_data.bar_minutes,
                    market_data.sessions,
                    day=day,
                    known_empty=day in known_empty,
                ),
            }
        )
    all_bars = pl.concat(list(bars.values()))
    all_quarantine = pl.concat(list(quarantine.values()))
    reasons = (
        all_quarantine.group_by("source_table", "reason", maintain_order=True)
        .len()
        .sort("source_table", "reason")
    )
    coverage = {r["day"]: {"coverage_per_symbol": dg.MetadataValue.json([r["coverage"]])} for r in reports}
    yield parquet_output(
        context,
        bars,
        output_name="bars_5m",
        metadata={
            "bar_minutes": market_data.bar_minutes,
            "sessions": market_data.sessions,
            "profile": market_data.profile_name() or "(none: a grid without a profile)",
            "cleaned_at": now.isoformat(),  # rows stamped after this instant were quarantined as ts_in_future
            "gap_rows": int(all_bars["gap"].sum()),
            "liquidations_unknown": dg.MetadataValue.json(liquidations_unknown),
            **_per_partition(context, "bars_5m", coverage),
        },
    )
    yield parquet_output(
        context,
        quarantine,
        output_name="quarantined_rows",
        metadata={"by_reason": dg.MetadataValue.json(reasons.to_dicts())},
    )
    yield schema_check_result("bars_5m", Bars5m, all_bars)
    yield schema_check_result("quarantined_rows", QuarantinedRows, all_quarantine)
    yield dg.AssetCheckResult(
        asset_key="bars_5m",
        check_name=_RECONCILIATION,
        passed=all(r["passed"] for r in reports),
        metadata={"per_day": dg.MetadataValue.json(reports)},
    )


defs = dg.Definitions(assets=[*raw_assets, clean_market])
