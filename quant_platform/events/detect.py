"""Detect every registry event from features_v1 and context_features only (never from raw bars).

Rule semantics (spec/events): an event's condition is the OR of its branches, a branch the AND of its
conditions. ``lag``/``ref_lag`` read the symbol's bar that many rows earlier. ``trigger: level`` fires on
every bar where the condition holds; ``onset`` fires where it holds and was known false on the previous bar.

Evaluability is decided per event from its OWN inputs, not from the features_v1 ``warmup`` flag (which
stays up after a gap until the longest window has refilled): an event is evaluable on a bar when every
value its rule reads (each required input at the bar, and every lagged value a condition, direction or
severity compares) is non-null. A feature is null until its own warm-up is complete and on gap rows
(spec/features conventions), so non-null means "past that input's warm-up". Where an event is not
evaluable its flag is null (unknown), never False: missing data never looks like "no event".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import duckdb
import polars as pl

from quant_platform.core.collect import IN_MEMORY
from quant_platform.core.ordering import is_sorted_by_symbol_ts
from quant_platform.events.registry import Condition, EventDef, EventRegistry, SignalRef, load_event_registry
from quant_platform.specs import ontology_hash

_BRANCH = "__branch_{}_{}"


def _same_symbol(lag: int) -> pl.Expr:
    return pl.col("symbol").shift(lag) == pl.col("symbol")


def _lagged(name: str, lag: int) -> pl.Expr:
    """The symbol's value ``lag`` rows earlier (rows sorted by symbol, ts): a whole-column shift, nulled where
    it would read another symbol. Shifts are exact, so this equals a per-symbol shift without grouping."""
    if not lag:
        return pl.col(name)
    return pl.when(_same_symbol(lag)).then(pl.col(name).shift(lag))


# How a rule reads input ``name`` ``lag`` rows back: :func:`_lagged` (a shift) or :func:`_materialised` (a
# column that :func:`_detect_block` added once, so that it can still be read after filtering the fired rows).
Reader = Callable[[str, int], pl.Expr]


def condition_expr(c: Condition, read: Reader = _lagged) -> pl.Expr:
    x = read(c.feature, c.lag)
    other = read(c.ref, c.ref_lag) if c.ref else pl.lit(c.value)
    match c.op:
        case "gt":
            return x > other
        case "ge":
            return x >= other
        case "lt":
            return x < other
        case "le":
            return x <= other
        case "abs_gt":
            return x.abs() > other
        case "abs_lt":
            return x.abs() < other
        case "eq":
            return x == other
        case "isin":
            return pl.when(x.is_null()).then(None).otherwise(x.is_in(list(c.values)))
        case "sign_change":
            previous = read(c.feature, c.lag + 1)
            return (x.sign() != previous.sign()) & (x != 0) & (previous != 0)
        case "changed":
            return x != read(c.feature, c.lag + 1)
        case "same_sign":
            return (x.sign() == other.sign()) & (x != 0)
    raise ValueError(f"unknown condition op {c.op!r}")


def _lag_column(name: str, lag: int) -> str:
    return f"__lag{lag}__{name}"


def _materialised(name: str, lag: int) -> pl.Expr:
    """Input ``name`` ``lag`` rows back, read from the lag column :func:`_detect_block` adds (a shift after
    filtering the fired rows would read another event's bar)."""
    return pl.col(_lag_column(name, lag) if lag else name)


def _signal_expr(ref: SignalRef, read: Reader = _lagged) -> pl.Expr:
    """Direction (sign) or severity (|x - center|)."""
    if ref.feature is None:
        return pl.lit(ref.value, dtype=pl.Float64)
    x = read(ref.feature, ref.lag).cast(pl.Float64)
    x = (x - ref.center).abs() if ref.absolute else x.sign()
    return -x if ref.negate else x


def values_read(event: EventDef) -> tuple[tuple[str, int], ...]:
    """Every (input, lag) the rule reads, in a stable order: required inputs at the bar, then each lagged
    value a condition compares (a ``sign_change``/``changed`` also reads its bar before), direction and
    severity. The event is evaluable only where all of them are known; the trigger JSON records them all."""
    pairs = [(name, 0) for name in event.required_inputs]
    for branch in event.branches:
        for c in branch.conditions:
            pairs.append((c.feature, c.lag))
            if c.op in ("sign_change", "changed"):
                pairs.append((c.feature, c.lag + 1))
            if c.ref:
                pairs.append((c.ref, c.ref_lag))
    pairs += [(s.feature, s.lag) for s in (event.direction, event.severity) if s.feature]
    return tuple(dict.fromkeys(pairs))


def trigger_key(name: str, lag: int) -> str:
    """Key of a compared value in the trigger JSON: the input's name, suffixed ``_lag{k}`` when lagged."""
    return f"{name}_lag{lag}" if lag else name


def evaluable_expr(event: EventDef, read: Reader = _lagged) -> pl.Expr:
    """True where every value the rule reads is known (a lag that would cross into another symbol is not)."""
    return pl.all_horizontal(read(name, lag).is_not_null() for name, lag in values_read(event))


def _branch_exprs(event: EventDef, read: Reader) -> list[pl.Expr]:
    return [pl.all_horizontal(condition_expr(c, read) for c in b.conditions) for b in event.branches]


def flag_expr(
    event: EventDef, read: Reader = _lagged, same_symbol: Callable[[int], pl.Expr] = _same_symbol
) -> pl.Expr:
    """The flag of one active event: null where the event is not evaluable (see module doc), True where it
    fires, False where it is known not to fire. ``same_symbol(k)``: the row k rows back is the same symbol's."""
    branch_exprs = _branch_exprs(event, read)
    condition = pl.any_horizontal(branch_exprs) if len(branch_exprs) > 1 else branch_exprs[0]
    known = evaluable_expr(event, read)
    if event.trigger == "level":
        return pl.when(known).then(condition)
    # Onset: holds now and was known false on the symbol's previous bar; a previous bar that was not
    # evaluable leaves the onset unknown (null), a condition known false now is False whatever came before.
    previous = pl.when(same_symbol(1) & known.shift(1)).then(condition.shift(1))
    return pl.when(known.not_()).then(None).when(condition.not_()).then(False).otherwise(previous.not_())


def direction_expr(event: EventDef, read: Reader = _lagged) -> pl.Expr:
    """Int8 direction of one event (+1/-1/0): the first holding branch's fixed direction, else the event's.
    Row-wise (no shifts besides ``read``), so it can be evaluated on the fired rows only."""
    direction = _signal_expr(event.direction, read)
    if any(b.direction is not None for b in event.branches):
        branch_exprs = _branch_exprs(event, read)
        chained = pl.when(branch_exprs[0].fill_null(False)).then(
            pl.lit(float(event.branches[0].direction if event.branches[0].direction is not None else 0))
        )
        for branch, expr in zip(event.branches[1:], branch_exprs[1:], strict=True):
            fixed = pl.lit(float(branch.direction)) if branch.direction is not None else direction
            chained = chained.when(expr.fill_null(False)).then(fixed)
        direction = chained.otherwise(direction)
    return direction.fill_nan(0.0).fill_null(0.0).cast(pl.Int8)


def event_columns(event: EventDef) -> tuple[pl.Expr, pl.Expr]:
    """(flag, direction) expressions for one active event, evaluated on every bar (see :func:`flag_expr`)."""
    return flag_expr(event), direction_expr(event)


def unavailable_reason(event: EventDef, columns: set[str]) -> str | None:
    """Why an event cannot be detected on this input, or None when it can."""
    if event.status != "active":  # skipped by the spec, or not applicable to the profile
        return event.skip_reason
    missing = sorted(set(event.required_inputs) - columns)
    if missing:
        return f"required inputs not in features/context: {missing}"
    return None


_ISO_MS_UTC = "%Y-%m-%dT%H:%M:%S%.3f+00:00"


def event_id_expr(iso: pl.Expr | None = None) -> pl.Expr:
    """Canonical JSON text of ``[event_type, symbol, ts ISO-8601]`` (hashed with sha256 by :func:`_hash_ids`).
    Equal to ``canonical_json`` of that list for NFC-normalised names without characters JSON escapes.
    ``iso``: the ts column already formatted (default: formatted here)."""
    iso = pl.col("ts").dt.strftime(_ISO_MS_UTC) if iso is None else iso
    return pl.concat_str(
        pl.lit('["'), pl.col("event_type"), pl.lit('","'), pl.col("symbol"), pl.lit('","'), iso, pl.lit('"]')
    )


def _id_texts(events: pl.DataFrame) -> pl.Series:
    """:func:`event_id_expr` of each event, formatting each distinct ts once (events share few bar times)."""
    stamps = events["ts"].unique()
    iso = pl.col("ts").replace_strict(stamps, stamps.dt.strftime(_ISO_MS_UTC), return_dtype=pl.String)
    return events.select(event_id_expr(iso)).to_series()


def _hashing_connection() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection for :func:`_hash_ids` (no shared state, no files); one serves
    every block of a detection (opening one costs tens of milliseconds)."""
    con = duckdb.connect()
    # A projection without ORDER BY keeps the input order (DuckDB's preserve_insertion_order default,
    # pinned here so that a changed global setting cannot reorder ids).
    con.execute("SET preserve_insertion_order = true")
    return con


def _hash_ids(texts: pl.Series, con: duckdb.DuckDBPyConnection) -> pl.Series:
    """Lower-case hex sha256 of each text's UTF-8 bytes, in order. Polars has no sha256; DuckDB's is native
    and vectorised (no Python string per event) and reads the Arrow column without copying."""
    con.register("texts", texts.rename("text").to_frame())
    try:
        hashed = con.sql("SELECT sha256(text) AS event_id FROM texts").pl()
    finally:
        con.unregister("texts")
    return hashed.to_series().cast(pl.String)


KEYS = ("symbol", "ts")


def rule_inputs(registry: EventRegistry) -> frozenset[str]:
    """Every column an active event of ``registry`` reads (the registry checks that a rule reads only its
    required inputs). Skipped events read nothing: their flags are null whatever the input holds."""
    return frozenset(n for e in registry.events if e.status == "active" for n in e.required_inputs)


def project_inputs(frame: pl.DataFrame | pl.LazyFrame, needed: frozenset[str]) -> pl.LazyFrame:
    """``symbol, ts`` and the columns of ``frame`` in ``needed`` (in the frame's order), as a lazy projection:
    a scanned Parquet input then reads only those columns, and an in-memory DataFrame is not copied (an eager
    select would first copy every column to align chunk boundaries when the columns are chunked differently)."""
    lazy = frame.lazy()
    names = lazy.collect_schema().names()
    return lazy.select(*KEYS, *[n for n in names if n in needed and n not in KEYS])


def _sorted(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The frame sorted by (symbol, ts); an already sorted DataFrame is returned as is (no copy)."""
    if isinstance(frame, pl.LazyFrame):
        return frame.sort(*KEYS).collect(engine=IN_MEMORY)
    # lazy: only symbol and ts are read (see project_inputs)
    return frame if is_sorted_by_symbol_ts(frame.lazy()) else frame.sort(*KEYS)


def _joined(
    features: pl.DataFrame | pl.LazyFrame,
    context: pl.DataFrame | pl.LazyFrame | None,
    needed: frozenset[str],
) -> pl.DataFrame:
    """``symbol, ts`` and the ``needed`` columns of features, with the ``needed`` context columns attached by
    a backward as-of join on (symbol, ts).

    context_features is computed from features_v1 and has exactly its (symbol, ts) rows; when the keys are
    identical row by row, every as-of match is the same row, so the columns are attached without copying
    (an exact-key match is the as-of join's degenerate case). Otherwise a real backward as-of join runs.
    """
    base = _in_memory(project_inputs(features, needed), features)
    if context is None:
        return base
    ctx = _in_memory(project_inputs(context, needed), context)
    if ctx.height == base.height and ctx["symbol"].equals(base["symbol"]) and ctx["ts"].equals(base["ts"]):
        # Series, not ``ctx.drop``: an eager drop/select on a many-chunk frame (context_features collected in
        # one run) copies its columns into one chunk, a copy that would live through the whole detection.
        return base.hstack([ctx.get_column(name) for name in ctx.columns if name not in KEYS])
    joined = base.sort("ts").join_asof(ctx.sort("ts"), on="ts", by="symbol", strategy="backward")
    return joined.sort(*KEYS)


def _in_memory(projected: pl.LazyFrame, source: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The projection sorted by (symbol, ts): a lazy source is sorted in its plan; an in-memory one is
    collected (zero-copy) and sorted only when it is not already in order."""
    return _sorted(projected if isinstance(source, pl.LazyFrame) else projected.collect(engine=IN_MEMORY))


def detect_events(
    features: pl.DataFrame | pl.LazyFrame,
    context: pl.DataFrame | pl.LazyFrame | None = None,
    registry: EventRegistry | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(market_events, event_flags).

    market_events: ``event_id`` (sha256 of the canonical JSON ``[event_type, symbol, ts]``), ``symbol, ts,
    event_type, family, direction`` (Int8 +1/-1/0), ``severity`` (Float64, higher = more extreme),
    ``trigger`` (JSON of every value the rule compared: the required inputs at the bar and each lagged value
    as ``<input>_lag<k>``), ``ontology_hash``. event_flags: ``symbol, ts``, one Boolean column per registry event
    (null for an event that is skipped or whose inputs are absent: unknown, never silently false), and
    ``ontology_hash``. Context columns are joined backward as-of on ``(symbol, ts)``.
    """
    registry = registry or load_event_registry()
    spec_hash = registry.ontology_hash or ontology_hash()  # the hash of the spec the rules came from
    # Only the columns the rules read travel through detection (not the whole features + context width).
    frame = _joined(features, context, rule_inputs(registry))
    # Rules read only the symbol's own rows, so whole symbols can be detected a block at a time: the
    # expressions' temporaries then scale with the block, not the panel (same values, less peak memory).
    flag_parts, hashed_blocks = [], []
    # A block's ids are hashed on a worker thread while the next block is detected (DuckDB releases the GIL
    # while it hashes); one connection, used by that one thread only.
    with _hashing_connection() as con, ThreadPoolExecutor(max_workers=1) as hasher:
        for block in _symbol_blocks(frame, _BLOCK_ROWS):
            block_flags, block_events = _detect_block(block, registry, spec_hash)
            flag_parts.append(block_flags)
            hashed_blocks.append((block_events, hasher.submit(_hash_ids, _id_texts(block_events), con)))
        event_parts = [
            block_events.with_columns(
                ids.result(), pl.lit(spec_hash, dtype=pl.String).alias("ontology_hash")
            ).select(*EVENT_COLUMNS)
            for block_events, ids in hashed_blocks
        ]
    # Blocks are whole symbols in symbol order, so block-wise sorted events concatenate to the sorted whole.
    # No rechunk: a contiguous copy of the outputs would be the run's peak (the parts are zero-copy chunks;
    # detect_events_for_day hands the IO manager one contiguous frame per day).
    return pl.concat(event_parts), pl.concat(flag_parts)


_BLOCK_ROWS = 250_000  # rows per block of whole symbols in detect_events (memory, not semantics)


def _symbol_blocks(frame: pl.DataFrame, block_rows: int) -> list[pl.DataFrame]:
    """``frame`` (sorted by symbol, ts) cut into zero-copy slices of whole symbols, about ``block_rows`` each."""
    if frame.height <= block_rows:
        return [frame]
    # Each symbol is one run of rows (sorted), so its first row is the running total of the runs before it;
    # unique_counts keeps the order of appearance and needs no shifted copy of the string column.
    starts = frame.get_column("symbol").unique_counts().cum_sum().shift(1, fill_value=0).to_list()
    cuts, last = [0], 0
    for start in starts:
        if start - last >= block_rows:
            cuts.append(start)
            last = start
    cuts.append(frame.height)
    return [frame.slice(a, b - a) for a, b in itertools.pairwise(cuts)]


_POS = "__symbol_pos"  # the row's position within its symbol (0 on its first bar)
_ROW = "__row"


def _detect_block(
    frame: pl.DataFrame, registry: EventRegistry, spec_hash: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(event_flags, market_events without ``event_id`` and ``ontology_hash``) of a frame of whole symbols,
    sorted by (symbol, ts).

    Every lagged value a rule reads is materialised once (the same shift serves every event that reads it);
    flags are evaluated on every bar in one select; direction, severity and trigger only on the fired rows.
    """
    columns = set(frame.columns)
    active = [e for e in registry.events if unavailable_reason(e, columns) is None]
    new_symbol = (pl.col("symbol") != pl.col("symbol").shift(1)).fill_null(True)
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    # Lazy throughout: an eager with_columns/select on a block whose columns are chunked differently
    # (features and context columns) would first copy every column to align the chunks.
    base = frame.lazy().with_columns(
        (row - pl.when(new_symbol).then(row).forward_fill()).alias(_POS), row.alias(_ROW)
    )

    def same_symbol(lag: int) -> pl.Expr:
        """Rows are sorted by (symbol, ts): ``lag`` rows back is the same symbol's iff pos >= lag."""
        return pl.col(_POS) >= lag

    # Lagged values: a whole-column shift nulled where it would read another symbol (exact, as _lagged).
    lagged = sorted({(n, k) for e in active for n, k in values_read(e) if k})
    base = base.with_columns(
        pl.when(same_symbol(k)).then(pl.col(n).shift(k)).alias(_lag_column(n, k)) for n, k in lagged
    ).collect(engine=IN_MEMORY)
    fired = {e.name: flag_expr(e, _materialised, same_symbol) for e in active}
    flag_cols = [fired.get(name, pl.lit(None, dtype=pl.Boolean)).alias(name) for name in registry.names]
    flags = (
        base.lazy()
        .select("symbol", "ts", *flag_cols, pl.lit(spec_hash, dtype=pl.String).alias("ontology_hash"))
        .collect(engine=IN_MEMORY)
    )
    wide = base.hstack([flags[e.name] for e in active])  # no copy: the flags become filterable columns
    order = {name: i for i, name in enumerate(sorted(registry.names))}  # event_type order, as strings sort
    parts = []
    for event in active:
        # Every value the rule compared: inputs at the bar, and lagged ones as <input>_lag<k>.
        compared = [_materialised(n, k).alias(trigger_key(n, k)) for n, k in values_read(event)]
        trigger = pl.struct(*compared).struct.json_encode() if compared else pl.lit("{}")
        parts.append(
            wide.lazy()
            .filter(pl.col(event.name).fill_null(False))
            .select(
                _ROW,
                pl.lit(order[event.name], dtype=pl.Int32).alias("__type_order"),
                "symbol",
                "ts",
                pl.lit(event.name).alias("event_type"),
                pl.lit(event.family).alias("family"),
                direction_expr(event, _materialised).alias("direction"),
                _signal_expr(event.severity, _materialised).alias("severity"),
                trigger.alias("trigger"),
            )
        )
    schema = {k: v for k, v in EVENT_COLUMNS.items() if k not in ("event_id", "ontology_hash")}
    if parts:
        # (row, event_type) is the (symbol, ts, event_type) order: rows are sorted by (symbol, ts).
        events = (
            pl.concat(parts).collect(engine=IN_MEMORY).sort(_ROW, "__type_order").drop(_ROW, "__type_order")
        )
    else:
        events = pl.DataFrame(schema=schema)
    return flags, events  # event_id and ontology_hash are added by detect_events


EVENT_COLUMNS = {
    "event_id": pl.String,
    "symbol": pl.String,
    "ts": pl.Datetime("ms", "UTC"),
    "event_type": pl.String,
    "family": pl.String,
    "direction": pl.Int8,
    "severity": pl.Float64,
    "trigger": pl.String,
    "ontology_hash": pl.String,
}


def events_lookback_bars(registry: EventRegistry | None = None) -> int:
    """Bars before a bar that an event rule reads: the largest lag, plus one for onset/sign-change/changed."""
    registry = registry or load_event_registry()
    lags = [max(c.lag, c.ref_lag) + 1 for e in registry.events for b in e.branches for c in b.conditions]
    lags += [e.direction.lag for e in registry.events]
    return max(lags, default=0) + 1


def detect_events_for_day(
    features_window: pl.DataFrame | pl.LazyFrame,
    context_window: pl.DataFrame | pl.LazyFrame | None,
    day: str,
    registry: EventRegistry | None = None,
    *,
    bar_minutes: int | None = None,
    sessions: str = "continuous",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(market_events, event_flags) of ``day``, detected on its anchored window: whole days that hold the
    bars a rule reads back (:func:`events_lookback_bars` at ``bar_minutes``, the spec's bar length by
    default), so lags and onsets at the day's first bars see their history. Extra history is cut off, as for
    features and context: a day's result never depends on how much the caller passed.
    ``sessions="observed"`` (daily bars, closed days absent) counts those bars in trading days."""
    return detect_events_for_days(
        features_window, context_window, [day], registry, bar_minutes=bar_minutes, sessions=sessions
    )[day]


def detect_events_for_days(
    features_window: pl.DataFrame | pl.LazyFrame,
    context_window: pl.DataFrame | pl.LazyFrame | None,
    days: list[str],
    registry: EventRegistry | None = None,
    *,
    bar_minutes: int | None = None,
    sessions: str = "continuous",
) -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    """``{day: (market_events, event_flags)}`` detected once per block of days (see
    :mod:`quant_platform.core.day_blocks`): a single-run backfill of D days detects about D / block windows,
    and each day's rows are the bytes :func:`detect_events_for_day` gives for it alone."""
    from quant_platform.core.day_blocks import compute_by_block, only_day
    from quant_platform.features.spec import days_spanned, load_feature_spec

    registry = registry or load_event_registry()
    days_before = days_spanned(
        events_lookback_bars(registry), bar_minutes or load_feature_spec().bar_minutes, sessions
    )

    def split(result: tuple[pl.DataFrame, pl.DataFrame], day: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        # One chunk per column: the Parquet bytes of a day then depend on its values only, never on how the
        # detection blocks happened to cut the window (the writer's page layout follows chunk boundaries).
        events, flags = result
        return only_day(events, day).rechunk(), only_day(flags, day).rechunk()

    return compute_by_block(
        [features_window, context_window],
        days,
        days_before,
        lambda features, context: detect_events(features, context, registry),
        split,
    )
