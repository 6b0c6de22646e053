"""Cleaning: raw 1m (or any-interval) klines of one UTC day → ``bars_5m`` on a complete grid + ``quarantined_rows``.

Pure functions on Polars. Nothing is repaired, zero-filled, interpolated or dropped silently: every raw row
either contributes to the clean output or becomes a quarantine row with exactly one reason, and the
:class:`CleanResult` accounting proves it (``raw == clean + quarantined`` per table).

Validation (first matching reason wins, in this order; reasons live in :mod:`quant_platform.market.quarantine`)
- bars (perp and spot): ``ts_outside_day`` (ts null or not in ``[day start, day end)``), ``ts_misaligned`` (not
  on the source interval grid), ``ts_in_future`` (the bar's close ``ts + source interval`` is after ``now``),
  ``unknown_symbol`` (symbol null, or not in ``universe`` when one is given), ``missing_price`` (an OHLC
  value null, NaN or infinite), ``nonpositive_price``, ``high_below_low``, ``ohlc_inconsistent`` (open or
  close outside ``[low, high]``), ``nonfinite_volume`` (a volume column ±inf), ``negative_volume`` (volume,
  quote volume, trades or taker volumes < 0), then
  ``duplicate_ts``: among the rows that passed every check above, the first row of a ``(symbol, ts)`` in
  input order is kept and later ones are quarantined. A null (or NaN) volume is allowed (some OHLC sources
  have none) and is null in the output.
- funding: outside day, future (``ts > now``), unknown symbol, ``missing_value`` (rate null/NaN/inf, or an
  infinite mark price), ``nonpositive_price`` (mark price <= 0; a null mark price is allowed), ``duplicate_ts``.
- open interest: outside day, future, unknown symbol, ``missing_value`` (OI null/NaN/inf or an infinite
  OI value), ``negative_value``, ``duplicate_ts``.
- liquidations: outside day, future, unknown symbol, ``missing_value`` (price/qty/notional null/NaN/inf or
  side not BUY/SELL), ``nonpositive_value``, ``duplicate_row`` (an exact copy of an earlier valid row;
  several genuine forced orders may share a millisecond, so only exact copies are duplicates).

Aggregation onto the grid (``interval_minutes``, default 5; any multiple of the source interval that tiles
the day, e.g. 60 or 1440 for hourly/daily CSV sources)
- One row per (symbol, slot) for every symbol of ``universe`` (or, without one, every symbol seen in the raw
  perp/spot rows). Slots with no valid source bar are gap rows: prices and volumes null, ``gap=True``,
  ``n_source_bars=0``. A slot with fewer valid bars than it spans is a partial bar (not a gap).
- OHLC = first open, max high, min low, last close; volume, quote volume, trades, taker-buy volume are sums
  (null if any contributing value is null: a partial sum would understate).
- ``spot_close``: close of the last valid spot bar in the slot; ``basis_bps = 1e4 (close / spot_close - 1)``.
- ``funding_rate`` / ``open_interest``: backward as-of join on the bar close ``ts + interval`` (``print_ts <=
  close``). One partition only holds its own day's prints, so before the day's first print these are null
  unless the caller passes the previous day's prints (``prior_funding`` / ``prior_open_interest``: only the
  last valid print per symbol before the day start is used).
- ``liq_long_notional`` / ``liq_short_notional``: sums of SELL / BUY liquidation notionals with ``ts`` in
  ``[slot, slot + interval)``; 0 when none.
- ``volume_ok``: ``volume > volume_ok_fraction × rolling median`` of the symbol's last ``volume_ok_window``
  non-gap bars of the day (current bar included: its volume is known at its close). False on gap rows; True
  for a non-gap bar with null volume (nothing to filter on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from quant_platform.core.timeutil import MS_PER_DAY, MS_PER_MINUTE, TS_DTYPE, day_bounds
from quant_platform.market import quarantine as q

BAR_COLUMNS = {
    "symbol": pl.String,
    "ts": TS_DTYPE,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "quote_volume": pl.Float64,
    "trades": pl.Int64,
    "taker_buy_volume": pl.Float64,
    "taker_buy_quote_volume": pl.Float64,
}
FUNDING_COLUMNS = {"symbol": pl.String, "ts": TS_DTYPE, "funding_rate": pl.Float64, "mark_price": pl.Float64}
OI_COLUMNS = {
    "symbol": pl.String,
    "ts": TS_DTYPE,
    "open_interest": pl.Float64,
    "open_interest_value": pl.Float64,
}
LIQ_COLUMNS = {
    "symbol": pl.String,
    "ts": TS_DTYPE,
    "side": pl.String,
    "price": pl.Float64,
    "qty": pl.Float64,
    "notional": pl.Float64,
}
BARS_5M_COLUMNS = {
    "symbol": pl.String,
    "ts": TS_DTYPE,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "quote_volume": pl.Float64,
    "trades": pl.Int64,
    "taker_buy_volume": pl.Float64,
    "n_source_bars": pl.Int32,
    "gap": pl.Boolean,
    "spot_close": pl.Float64,
    "basis_bps": pl.Float64,
    "funding_rate": pl.Float64,
    "open_interest": pl.Float64,
    "liq_long_notional": pl.Float64,
    "liq_short_notional": pl.Float64,
    "volume_ok": pl.Boolean,
}
TABLES = ("perp_bars", "spot_bars", "funding", "open_interest", "liquidations")


@dataclass(frozen=True)
class CleaningConfig:
    """Grid and filter parameters.

    ``interval_minutes``: output bar length (5 for ``bars_5m``). ``source_interval_minutes``: the raw bars'
    interval; None infers it from the perp stamps (spot when there are no perp rows) (:func:`infer_source_interval`; ``interval_minutes``
    when every symbol has a single bar). ``volume_ok_fraction`` / ``volume_ok_window``:
    the volume filter (5% of the trailing median over one day of 5m bars: only near-empty bars fail).
    """

    interval_minutes: int = 5
    source_interval_minutes: int | None = None
    volume_ok_fraction: float = 0.05
    volume_ok_window: int = 288

    def __post_init__(self) -> None:
        if self.interval_minutes <= 0 or MS_PER_DAY % (self.interval_minutes * MS_PER_MINUTE):
            raise ValueError(f"interval_minutes={self.interval_minutes} must be positive and tile a day")
        if self.source_interval_minutes is not None and (
            self.source_interval_minutes <= 0 or self.interval_minutes % self.source_interval_minutes
        ):
            raise ValueError(
                f"interval_minutes={self.interval_minutes} must be a multiple of "
                f"source_interval_minutes={self.source_interval_minutes}"
            )
        if not 0 <= self.volume_ok_fraction < 1 or self.volume_ok_window < 1:
            raise ValueError("volume_ok_fraction must be in [0, 1) and volume_ok_window >= 1")


@dataclass(frozen=True)
class CleanResult:
    """The clean bars, every quarantined row, and per-table row accounting.

    ``accounting[table] = {"raw": n, "clean": n, "quarantined": n}`` where ``clean`` is counted from the
    output itself (``sum(n_source_bars)`` for perp, spot bars behind ``spot_close`` slots, …).
    """

    bars: pl.DataFrame
    quarantined: pl.DataFrame
    accounting: dict[str, dict[str, int]]

    def check(self) -> None:
        """Raise ValueError unless ``raw == clean + quarantined`` for every table."""
        broken = {t: a for t, a in self.accounting.items() if a["raw"] != a["clean"] + a["quarantined"]}
        if broken:
            raise ValueError(f"row accounting does not balance: {broken}")


def _conform(raw: pl.DataFrame | None, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    if raw is None:
        return pl.DataFrame(schema=columns)
    missing = set(columns) - set(raw.columns)
    if missing:
        raise ValueError(f"raw frame lacks columns {sorted(missing)}")
    return raw.select([pl.col(c).cast(t) for c, t in columns.items()])


def _bad(c: str) -> pl.Expr:
    """Null, NaN or infinite: no usable number."""
    return ~pl.col(c).is_finite().fill_null(False)


def _reason_expr(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    expr = pl.when(checks[0][0]).then(pl.lit(checks[0][1]))
    for cond, reason in checks[1:]:
        expr = expr.when(cond).then(pl.lit(reason))
    return expr.otherwise(pl.lit(None, dtype=pl.String)).alias("reason")


def _stamp_checks(
    day: str, now: datetime | None, universe: tuple[str, ...] | None, close_offset_ms: int
) -> list[tuple[pl.Expr, str]]:
    start, end = day_bounds(day)
    ts = pl.col("ts")
    checks = [(ts.is_null() | (ts < start) | (ts >= end), q.TS_OUTSIDE_DAY)]
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")
        checks.append((ts.dt.epoch("ms") + close_offset_ms > int(now.timestamp() * 1000), q.TS_IN_FUTURE))
    unknown = pl.col("symbol").is_null()
    if universe is not None:
        unknown = unknown | ~pl.col("symbol").is_in(list(universe))
    checks.append((unknown, q.UNKNOWN_SYMBOL))
    return checks


def _split(frame: pl.DataFrame, checks: list[tuple[pl.Expr, str]], dup_keys: list[str] | None, table: str):
    """Apply the ordered row checks, then first-wins de-duplication among rows that passed them."""
    tagged = frame.with_row_index("_row").with_columns(_reason_expr(checks))
    passed = tagged.filter(pl.col("reason").is_null())
    if dup_keys is not None:
        first = pl.struct(dup_keys).is_first_distinct()  # row order is input order: the first copy wins
        duplicates = passed.filter(~first).with_columns(pl.lit(duplicate_reason(table)).alias("reason"))
        passed = passed.filter(first)
        rejected = pl.concat([tagged.filter(pl.col("reason").is_not_null()), duplicates]).sort("_row")
    else:
        rejected = tagged.filter(pl.col("reason").is_not_null())
    return passed.drop("_row", "reason"), q.quarantine_rows(rejected.drop("_row"), table)


def duplicate_reason(table: str) -> str:
    return q.DUPLICATE_ROW if table == "liquidations" else q.DUPLICATE_TS


def infer_source_interval(raw: pl.DataFrame, default: int) -> int:
    """Most common step (minutes) between a symbol's consecutive distinct bar stamps (ties: the smallest).

    Gaps and a few misaligned rows do not move the most common step; with a single bar per symbol there is
    no step and ``default`` is returned. Sparse inputs can be ambiguous: then pass the interval explicitly.
    """
    ordered = raw.select("symbol", pl.col("ts").dt.epoch("ms")).drop_nulls()
    same, step = pl.col("symbol") == pl.col("symbol").shift(), pl.col("ts").diff()
    in_order = (pl.col("symbol") > pl.col("symbol").shift()) | (same & (step >= 0))
    if not ordered.select(in_order.fill_null(True).all()).item():  # sources usually deliver sorted rows
        ordered = ordered.sort("symbol", "ts")
    steps = ordered.select(step.alias("step"), same.alias("same")).filter(
        pl.col("same") & (pl.col("step") > 0)
    )
    if steps.height == 0:
        return default
    step = steps.group_by("step").len().sort(["len", "step"], descending=[True, False])["step"][0]
    if step % MS_PER_MINUTE:
        raise ValueError(
            f"bar interval of {step} ms is not a whole number of minutes: pass source_interval_minutes"
        )
    return int(step // MS_PER_MINUTE)


def validate_bars(
    raw: pl.DataFrame | None,
    day: str,
    *,
    source_table: str = "perp_bars",
    source_interval_minutes: int = 1,
    now: datetime | None = None,
    universe: tuple[str, ...] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw klines into (valid rows, QuarantinedRows) — see the module docstring for the checks."""
    frame = _conform(raw, BAR_COLUMNS)
    start, _ = day_bounds(day)
    step_ms = source_interval_minutes * MS_PER_MINUTE
    o, h, lo, c = (pl.col(x) for x in ("open", "high", "low", "close"))
    volumes = ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume", "trades")
    checks = _stamp_checks(day, now, universe, step_ms)
    checks.insert(
        1, ((pl.col("ts").dt.epoch("ms") - int(start.timestamp() * 1000)) % step_ms != 0, q.TS_MISALIGNED)
    )
    checks += [
        (pl.any_horizontal([_bad(x) for x in ("open", "high", "low", "close")]), q.MISSING_PRICE),
        (pl.any_horizontal([pl.col(x) <= 0 for x in ("open", "high", "low", "close")]), q.NONPOSITIVE_PRICE),
        (h < lo, q.HIGH_BELOW_LOW),
        ((o > h) | (o < lo) | (c > h) | (c < lo), q.OHLC_INCONSISTENT),
        (
            pl.any_horizontal([pl.col(x).is_infinite().fill_null(False) for x in volumes[:4]]),
            q.NONFINITE_VOLUME,
        ),
        (pl.any_horizontal([(pl.col(x) < 0).fill_null(False) for x in volumes]), q.NEGATIVE_VOLUME),
    ]
    return _split(frame, checks, ["symbol", "ts"], source_table)


def validate_funding(
    raw: pl.DataFrame | None,
    day: str,
    *,
    now: datetime | None = None,
    universe: tuple[str, ...] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = _conform(raw, FUNDING_COLUMNS)
    checks = [
        *_stamp_checks(day, now, universe, 0),
        (_bad("funding_rate") | pl.col("mark_price").is_infinite().fill_null(False), q.MISSING_VALUE),
        ((pl.col("mark_price") <= 0).fill_null(False), q.NONPOSITIVE_PRICE),
    ]
    return _split(frame, checks, ["symbol", "ts"], "funding")


def validate_open_interest(
    raw: pl.DataFrame | None,
    day: str,
    *,
    now: datetime | None = None,
    universe: tuple[str, ...] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = _conform(raw, OI_COLUMNS)
    checks = [
        *_stamp_checks(day, now, universe, 0),
        (
            _bad("open_interest") | pl.col("open_interest_value").is_infinite().fill_null(False),
            q.MISSING_VALUE,
        ),
        (
            (pl.col("open_interest") < 0) | (pl.col("open_interest_value") < 0).fill_null(False),
            q.NEGATIVE_VALUE,
        ),
    ]
    return _split(frame, checks, ["symbol", "ts"], "open_interest")


def validate_liquidations(
    raw: pl.DataFrame | None,
    day: str,
    *,
    now: datetime | None = None,
    universe: tuple[str, ...] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = _conform(raw, LIQ_COLUMNS)
    values = ("price", "qty", "notional")
    checks = [
        *_stamp_checks(day, now, universe, 0),
        (
            pl.any_horizontal([_bad(x) for x in values])
            | ~pl.col("side").is_in(["BUY", "SELL"]).fill_null(False),
            q.MISSING_VALUE,
        ),
        (pl.any_horizontal([pl.col(x) <= 0 for x in values]), q.NONPOSITIVE_VALUE),
    ]
    return _split(frame, checks, list(LIQ_COLUMNS), "liquidations")


def _slot(interval_ms: int) -> pl.Expr:
    epoch = pl.col("ts").dt.epoch("ms")
    return (epoch - epoch % interval_ms).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").alias("ts")


def _sum_or_null(c: str) -> pl.Expr:
    col = pl.col(c).fill_nan(None) if c != "trades" else pl.col(c)
    return pl.when(col.is_null().any()).then(None).otherwise(col.sum()).alias(c)


def _last_before(
    prior: pl.DataFrame | None, columns: dict[str, pl.DataType], value: str, start: datetime
) -> pl.DataFrame:
    if prior is None:
        return pl.DataFrame(schema={"symbol": pl.String, "ts": TS_DTYPE, value: pl.Float64})
    frame = _conform(prior, columns).filter(
        (pl.col("ts") < start) & ~_bad(value) & pl.col("symbol").is_not_null()
    )
    return (
        frame.sort("symbol", "ts")
        .group_by("symbol", maintain_order=True)
        .last()
        .select("symbol", "ts", value)
    )


def clean_day(
    day: str,
    perp_bars: pl.DataFrame,
    spot_bars: pl.DataFrame | None = None,
    funding: pl.DataFrame | None = None,
    open_interest: pl.DataFrame | None = None,
    liquidations: pl.DataFrame | None = None,
    *,
    now: datetime | None = None,
    universe: tuple[str, ...] | None = None,
    config: CleaningConfig | None = None,
    prior_funding: pl.DataFrame | None = None,
    prior_open_interest: pl.DataFrame | None = None,
) -> CleanResult:
    """Validate one UTC day of raw tables and build the cleaned bar grid (see the module docstring)."""
    cfg = config or CleaningConfig()
    perp_raw, spot_raw = _conform(perp_bars, BAR_COLUMNS), _conform(spot_bars, BAR_COLUMNS)
    source = cfg.source_interval_minutes or infer_source_interval(
        perp_raw if perp_raw.height else spot_raw, cfg.interval_minutes
    )
    if cfg.interval_minutes % source:
        raise ValueError(
            f"interval_minutes={cfg.interval_minutes} is not a multiple of the source interval {source}"
        )
    if universe is None:
        seen = pl.concat([perp_raw.get_column("symbol"), spot_raw.get_column("symbol")]).drop_nulls().unique()
        grid_symbols = tuple(sorted(seen.to_list()))
    else:
        grid_symbols = tuple(sorted(set(universe)))
    interval_ms = cfg.interval_minutes * MS_PER_MINUTE
    start, _ = day_bounds(day)

    perp, q_perp = validate_bars(
        perp_raw,
        day,
        source_table="perp_bars",
        source_interval_minutes=source,
        now=now,
        universe=grid_symbols,
    )
    spot, q_spot = validate_bars(
        spot_raw,
        day,
        source_table="spot_bars",
        source_interval_minutes=source,
        now=now,
        universe=grid_symbols,
    )
    fund, q_fund = validate_funding(funding, day, now=now, universe=grid_symbols)
    oi, q_oi = validate_open_interest(open_interest, day, now=now, universe=grid_symbols)
    liq, q_liq = validate_liquidations(liquidations, day, now=now, universe=grid_symbols)

    agg = (
        perp.lazy()
        .sort("symbol", "ts")
        .with_columns(_slot(interval_ms))
        .group_by("symbol", "ts")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            *[_sum_or_null(c) for c in ("volume", "quote_volume", "trades", "taker_buy_volume")],
            pl.len().cast(pl.Int32).alias("n_source_bars"),
        )
    )
    spot_agg = (
        spot.lazy()
        .sort("symbol", "ts")
        .with_columns(_slot(interval_ms))
        .group_by("symbol", "ts")
        .agg(pl.col("close").last().alias("spot_close"), pl.len().alias("spot_bars"))
    )
    liq_agg = (
        liq.lazy()
        .with_columns(_slot(interval_ms))
        .group_by("symbol", "ts")
        .agg(
            pl.col("notional").filter(pl.col("side") == "SELL").sum().alias("liq_long_notional"),
            pl.col("notional").filter(pl.col("side") == "BUY").sum().alias("liq_short_notional"),
            pl.len().alias("liq_rows"),
        )
    )
    slots = pl.datetime_range(
        start,
        start + timedelta(milliseconds=MS_PER_DAY - interval_ms),
        interval=f"{cfg.interval_minutes}m",
        time_unit="ms",
        time_zone="UTC",
        eager=True,
    ).alias("ts")
    grid = pl.LazyFrame({"symbol": pl.Series(grid_symbols, dtype=pl.String)}).join(
        pl.LazyFrame({"ts": slots}), how="cross"
    )
    bars = (
        grid.join(agg, on=["symbol", "ts"], how="left")
        .join(spot_agg, on=["symbol", "ts"], how="left")
        .join(liq_agg, on=["symbol", "ts"], how="left")
        .with_columns(
            pl.col("n_source_bars").fill_null(0),
            pl.col("n_source_bars").is_null().alias("gap"),
            (1e4 * (pl.col("close") / pl.col("spot_close") - 1.0)).alias("basis_bps"),
            pl.col("liq_long_notional", "liq_short_notional").fill_null(0.0),
            (pl.col("ts").dt.epoch("ms") + interval_ms)
            .cast(pl.Datetime("ms"))
            .dt.replace_time_zone("UTC")
            .alias("close_ts"),
        )
        .sort("symbol", "ts")
    )
    funding_prints = pl.concat(
        [
            _last_before(prior_funding, FUNDING_COLUMNS, "funding_rate", start),
            fund.select("symbol", "ts", "funding_rate"),
        ]
    )
    oi_prints = pl.concat(
        [
            _last_before(prior_open_interest, OI_COLUMNS, "open_interest", start),
            oi.select("symbol", "ts", "open_interest"),
        ]
    )
    bars = _asof(bars, funding_prints, "funding_rate")
    bars = _asof(bars, oi_prints, "open_interest")
    median = pl.col("volume").rolling_median(cfg.volume_ok_window, min_samples=1).over("symbol")
    volume_ok = bars.filter(~pl.col("gap") & pl.col("volume").is_not_null()).select(
        "symbol", "ts", (pl.col("volume") > cfg.volume_ok_fraction * median).alias("volume_ok")
    )
    bars = (
        bars.join(volume_ok, on=["symbol", "ts"], how="left")
        .with_columns(
            pl.when(pl.col("gap"))
            .then(False)
            .otherwise(pl.col("volume_ok").fill_null(True))
            .alias("volume_ok")
        )
        .sort("symbol", "ts")
    )
    out = bars.collect()
    clean_bars = out.select([pl.col(c).cast(t) for c, t in BARS_5M_COLUMNS.items()])
    quarantined = pl.concat([q_perp, q_spot, q_fund, q_oi, q_liq])
    counts = out.select(
        pl.col("n_source_bars").sum().alias("perp_bars"),
        pl.col("spot_bars").sum().alias("spot_bars"),
        pl.col("liq_rows").sum().alias("liquidations"),
    ).row(0, named=True)
    # Funding/OI prints are as-of joined (not aggregated); every valid print is a clean row of its table.
    clean_counts = {
        **{k: int(v or 0) for k, v in counts.items()},
        "funding": fund.height,
        "open_interest": oi.height,
    }
    raw_counts = {
        "perp_bars": perp_raw.height,
        "spot_bars": spot_raw.height,
        "funding": 0 if funding is None else funding.height,
        "open_interest": 0 if open_interest is None else open_interest.height,
        "liquidations": 0 if liquidations is None else liquidations.height,
    }
    q_counts = dict(
        zip(TABLES, (q_perp.height, q_spot.height, q_fund.height, q_oi.height, q_liq.height), strict=True)
    )
    accounting = {
        t: {"raw": raw_counts[t], "clean": clean_counts[t], "quarantined": q_counts[t]} for t in TABLES
    }
    return CleanResult(bars=clean_bars, quarantined=quarantined, accounting=accounting)


def _asof(bars: pl.LazyFrame, prints: pl.DataFrame, value: str) -> pl.LazyFrame:
    right = prints.lazy().rename({"ts": f"{value}_ts"}).sort(f"{value}_ts")
    joined = bars.sort("close_ts").join_asof(
        right,
        left_on="close_ts",
        right_on=f"{value}_ts",
        by="symbol",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.drop(f"{value}_ts")
