"""``features_v1``: every feature of ``spec/features`` per symbol and bar, point-in-time, in one lazy plan.

Gap handling (spec ``conventions.gap_policy``): gap rows are null in every feature. Segment-scope features
restart after every gap (their windows never contain one) and are null for their first ``warmup_bars``;
symbol-scope features are trailing statistics of already-masked inputs with a coverage minimum, also null
for the symbol's first ``warmup_bars`` rows. ``warmup`` marks every row whose lookback is incomplete.
"""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl

from quant_platform.core.collect import IN_MEMORY
from quant_platform.core.day_blocks import compute_by_block
from quant_platform.core.ordering import is_sorted_by_symbol_ts
from quant_platform.core.sessions import check_sessions
from quant_platform.core.timeutil import TS_DTYPE, day_bounds
from quant_platform.features.builders import (
    BUILDERS,
    N_VALID,
    SEGMENT_GROUP,
    SYMBOL_GROUP,
    BuildContext,
)
from quant_platform.features.spec import FeatureDef, FeatureSpec, load_feature_spec
from quant_platform.features.states import state_columns

TABLE = "features_v1"
SEGMENT_KEY = SEGMENT_GROUP  # one id per (symbol, gap-free segment) on the sorted frame
SYMBOL_KEY = SYMBOL_GROUP
SYMBOL_POS = "_symbol_pos"
KEY_COLUMNS = ("symbol", "ts", "gap", "warmup")


def _stages(features: tuple[FeatureDef, ...]) -> list[list[FeatureDef]]:
    """Group features into dependency stages: a feature runs after every feature it reads."""
    by_name = {f.name: f for f in features}
    depth: dict[str, int] = {}

    def resolve(name: str, trail: tuple[str, ...] = ()) -> int:
        if name in trail:
            raise ValueError(f"feature dependency cycle: {' -> '.join((*trail, name))}")
        if name not in depth:
            parents = [p for p in by_name[name].inputs if p in by_name and p != name]
            depth[name] = 1 + max((resolve(p, (*trail, name)) for p in parents), default=-1)
        return depth[name]

    for f in features:
        resolve(f.name)
    stages: list[list[FeatureDef]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for f in features:
        stages[depth[f.name]].append(f)
    return stages


def _feature_expr(f: FeatureDef, ctx: BuildContext) -> tuple[pl.Expr, dict[str, pl.Expr]]:
    """The feature's masked expression and the helper columns it reads."""
    try:
        build = BUILDERS[f.builder]
    except KeyError:
        raise ValueError(f"feature {f.name}: spec names unknown builder {f.builder!r}") from None
    built = build(f, ctx)
    expr, helpers = built if isinstance(built, tuple) else (built, {})
    if f.scope == "segment":
        # Null in the warm-up of each gap-free segment; gap rows have N_VALID == 0 and so are null too.
        ready = pl.col(N_VALID) > f.warmup_bars
    elif f.scope == "symbol":
        ready = ~pl.col("gap") & (pl.col(SYMBOL_POS) >= f.warmup_bars)
    else:
        raise ValueError(f"feature {f.name}: scope {f.scope!r} is not computed in {TABLE}")
    # Every builder runs on the whole sorted column (see builders.LOCALITY): kernels group themselves, and the
    # mask above keeps shifts and order statistics in their group.
    return pl.when(ready).then(expr).otherwise(None).alias(f.name), helpers


def gap_recovery_bars(features: tuple[FeatureDef, ...], min_coverage: float) -> int:
    """Valid bars after a gap until every feature is defined again: a segment feature's warm-up, or for a
    symbol-scope window its input's warm-up plus the coverage minimum (plus one: z-scores read t-1)."""
    bars = [f.warmup_bars for f in features if f.scope == "segment"]
    for f in features:
        window = f.params.get("window")
        if f.scope == "symbol" and window:
            bars.append(f.warmup_bars - window + math.ceil(min_coverage * window) + 1)
    return max(bars, default=0)


def _raw_inputs(features: tuple[FeatureDef, ...]) -> set[str]:
    names = {f.name for f in features}
    return {i for f in features for i in f.inputs if i not in names}


def validate_bars(
    bars: pl.LazyFrame,
    required: set[str],
    grid_minutes: int,
    *,
    presorted: bool = False,
    sessions: str = "continuous",
) -> None:
    """Refuse input that would make a window silently bridge or double-count bars. ``presorted``: the rows
    are known to be in (symbol, ts) order (see :func:`is_sorted_by_symbol_ts`), so the check needs no sort.

    ``sessions="continuous"``: every symbol is a complete ``grid_minutes`` grid. ``"observed"`` (daily bars
    with closed days absent): the panel's sorted distinct stamps are the session calendar; each symbol's
    rows must be a contiguous run of it (a missing session is a gap row, never a skipped row) with steps
    that are positive multiples of the grid.
    """
    check_sessions(sessions, grid_minutes)
    _validate_columns(bars, required)
    if sessions != "continuous":  # observed or exchange sessions: the panel's stamps are the calendar
        _validate_observed(bars, grid_minutes)
        return
    keys = bars.select("symbol", "ts")
    step = (
        (keys if presorted else keys.sort("symbol", "ts"))
        # a whole-column diff, kept only within a symbol (cheaper than grouping by symbol)
        .select(step=pl.when(pl.col("symbol") == pl.col("symbol").shift(1)).then(pl.col("ts").diff()))
        .select(
            bad_step=(
                pl.col("step").is_not_null() & (pl.col("step") != timedelta(minutes=grid_minutes))
            ).sum(),
            # sorted by (symbol, ts), a duplicated row is a zero step
            duplicated=(pl.col("step") == timedelta(0)).sum(),
        )
        .collect(engine=IN_MEMORY)
    )
    if step["duplicated"][0]:
        raise ValueError(f"bars hold {step['duplicated'][0]} duplicated (symbol, ts) rows")
    if step["bad_step"][0] - step["duplicated"][0]:
        raise ValueError(
            f"bars are not a complete {grid_minutes}-minute grid per symbol ({step['bad_step'][0] - step['duplicated'][0]} irregular steps): "
            "missing bars must be explicit gap rows"
        )


def _validate_columns(bars: pl.LazyFrame, required: set[str]) -> None:
    schema = bars.collect_schema()
    missing = sorted((required | {"symbol", "ts", "gap"}) - set(schema.names()))
    if missing:
        raise ValueError(f"bars are missing columns required by the feature spec: {missing}")
    if schema["ts"] != TS_DTYPE:
        raise ValueError(f"bars.ts must be {TS_DTYPE}, got {schema['ts']}")


def _validate_observed(bars: pl.LazyFrame, grid_minutes: int) -> None:
    same_symbol = pl.col("symbol") == pl.col("symbol").shift(1)
    steps = (
        bars.select(
            "symbol",
            "ts",
            # position of the stamp in the panel's session calendar (its sorted distinct stamps)
            session=pl.col("ts").rank("dense"),
        )
        .sort("symbol", "ts")
        .select(
            step=pl.when(same_symbol).then(pl.col("ts").diff()),
            sessions_step=pl.when(same_symbol).then(pl.col("session").diff()),
        )
        .select(
            duplicated=(pl.col("step") == timedelta(0)).sum(),
            off_grid=(
                pl.col("step").is_not_null()
                & (pl.col("step") > timedelta(0))
                & (pl.col("step").dt.total_milliseconds() % (grid_minutes * 60_000) != 0)
            ).sum(),
            skipped=(pl.col("sessions_step") > 1).sum(),
        )
        .collect(engine=IN_MEMORY)
    )
    duplicated, off_grid, skipped = (int(steps[c][0]) for c in ("duplicated", "off_grid", "skipped"))
    if duplicated:
        raise ValueError(f"bars hold {duplicated} duplicated (symbol, ts) rows")
    if off_grid:
        raise ValueError(f"bars hold {off_grid} steps that are not a multiple of {grid_minutes} minutes")
    if skipped:
        raise ValueError(
            f"bars skip {skipped} sessions that other symbols of the panel have: "
            "a symbol's missing bar on a session day must be an explicit gap row"
        )


def features_plan(
    bars: pl.LazyFrame | pl.DataFrame,
    spec: FeatureSpec | None = None,
    *,
    families: tuple[str, ...] | None = None,
    grid_minutes: int | None = None,
    validate: bool = True,
    sessions: str = "continuous",
) -> pl.LazyFrame:
    """The lazy plan behind :func:`compute_features` (for callers that want to stream or sink it)."""
    spec = spec or load_feature_spec()
    features = spec.table_features(TABLE, families)
    ctx = BuildContext(bar_minutes=grid_minutes or spec.bar_minutes, min_coverage=spec.min_coverage)
    lazy = bars.lazy()
    # Input that is already in (symbol, ts) order (bars_5m is written that way) skips both sorts.
    presorted = is_sorted_by_symbol_ts(lazy)
    if validate:
        validate_bars(
            lazy,
            _raw_inputs(features),
            grid_minutes or spec.bar_minutes,
            presorted=presorted,
            sessions=sessions,
        )
    new_symbol = (pl.col("symbol") != pl.col("symbol").shift(1)).fill_null(True)
    plan = (lazy if presorted else lazy.sort("symbol", "ts")).with_columns(
        new_symbol.cast(pl.Int64).cum_sum().alias(SYMBOL_KEY),
        (new_symbol | pl.col("gap")).cast(pl.Int64).cum_sum().alias(SEGMENT_KEY),
    )
    # Positions and counts within a group as differences of whole-column integer running counts (exact, and
    # no window grouping over thousands of symbols): the value at the group's first row is forward filled.
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    valid = (~pl.col("gap")).cast(pl.Int64)
    valid_before = valid.cum_sum() - valid
    segment_start = new_symbol | pl.col("gap")
    plan = plan.with_columns(
        (row - pl.when(new_symbol).then(row).forward_fill()).alias(SYMBOL_POS),
        (valid.cum_sum() - pl.when(segment_start).then(valid_before).forward_fill()).alias(N_VALID),
    )
    for stage in _stages(features):
        built = [_feature_expr(f, ctx) for f in stage]
        helpers = {name: e.alias(name) for _, h in built for name, e in h.items()}
        if helpers:
            plan = plan.with_columns(helpers.values())
        plan = plan.with_columns(e for e, _ in built)
    symbol_warmup = max((f.warmup_bars for f in features if f.scope == "symbol"), default=0)
    warmup = (
        pl.col("gap")
        | (pl.col(N_VALID) <= gap_recovery_bars(features, spec.min_coverage))
        | (pl.col(SYMBOL_POS) < symbol_warmup)
    )
    names = [f.name for f in features]
    states = state_columns(spec.table_states(TABLE), set(names))
    return plan.with_columns(warmup.alias("warmup")).select(
        *KEY_COLUMNS, *names, *states, pl.lit(spec.ontology_hash, dtype=pl.String).alias("ontology_hash")
    )


def compute_features(
    bars: pl.LazyFrame | pl.DataFrame,
    spec: FeatureSpec | None = None,
    *,
    families: tuple[str, ...] | None = None,
    grid_minutes: int | None = None,
    sessions: str = "continuous",
) -> pl.DataFrame:
    """features_v1 from Bars5m rows: ``symbol, ts, gap, warmup``, every spec feature (Float64), every
    state (String) and ``ontology_hash``. ``families`` restricts to some spec families (e.g. an equity panel
    without funding); ``grid_minutes`` overrides the spec's bar length for the grid check only.
    ``sessions="observed"`` (daily bars, closed days absent): windows count the panel's sessions, i.e.
    trading days (see :func:`validate_bars`)."""
    return features_plan(bars, spec, families=families, grid_minutes=grid_minutes, sessions=sessions).collect(
        engine=IN_MEMORY
    )


def lookback_days(
    spec: FeatureSpec | None = None, bar_minutes: int | None = None, sessions: str = "continuous"
) -> int:
    """``k`` for ``lookback(k)``: days before a partition that complete every feature's warm-up."""
    return (spec or load_feature_spec()).lookback_days(TABLE, bar_minutes, sessions)


def day_window(frame: pl.LazyFrame | pl.DataFrame, day: str, days_before: int) -> pl.LazyFrame:
    """Rows of ``frame`` from ``days_before`` days before ``day`` up to the end of ``day``."""
    start, end = day_bounds(day)
    return frame.lazy().filter(pl.col("ts") >= start - timedelta(days=days_before), pl.col("ts") < end)


def only_day(frame: pl.DataFrame, day: str) -> pl.DataFrame:
    start, end = day_bounds(day)
    return frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))


def compute_features_for_day(
    bars_window: pl.LazyFrame | pl.DataFrame,
    day: str,
    spec: FeatureSpec | None = None,
    *,
    grid_minutes: int | None = None,
    sessions: str = "continuous",
) -> pl.DataFrame:
    """``day``'s rows, computed on its anchored look-back window (see :mod:`quant_platform.core.day_blocks`).

    A window that starts later than the lookback (the first days of the data) is computed as is: its
    early rows are marked ``warmup``. More history than the window is cut off, so the result depends
    only on ``day`` and the lookback, never on how much history the caller happened to pass.
    """
    return compute_features_for_days(bars_window, [day], spec, grid_minutes=grid_minutes, sessions=sessions)[
        day
    ]


def compute_features_for_days(
    bars_window: pl.LazyFrame | pl.DataFrame,
    days: list[str],
    spec: FeatureSpec | None = None,
    *,
    grid_minutes: int | None = None,
    sessions: str = "continuous",
) -> dict[str, pl.DataFrame]:
    """``{day: features}`` for a range of days, computed once per block of days: each day's rows are the
    same bytes as :func:`compute_features_for_day` gives for it alone (a single-run backfill's path)."""
    spec = spec or load_feature_spec()
    return compute_by_block(
        [bars_window],
        days,
        spec.lookback_days(TABLE, grid_minutes, sessions),
        lambda window: compute_features(window, spec, grid_minutes=grid_minutes, sessions=sessions),
        only_day,
    )
