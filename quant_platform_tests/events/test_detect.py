"""Event detection on hand-made series: planted effects fire at the right bar with the right direction,
nothing fires before its own inputs are ready (but events no longer wait for the longest window),
onset semantics, ids, flags and the prevalence/skip report."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.core.hashing import canonical_hash
from quant_platform.events import detect_events, event_report, load_event_registry
from quant_platform.events.detect import _signal_expr, evaluable_expr, values_read
from quant_platform.events.registry import Condition
from quant_platform.events.report import inputs_without_data
from quant_platform.events.schemas import EventFlags, MarketEvents
from quant_platform.features import compute_context, compute_features
from quant_platform.features.compute import only_day
from quant_platform_tests.features.bars_fixture import make_bars
from quant_platform_tests.features.helpers import bars_from_close

N = 1100
SHOCK_AT = 1000
EARLY_SHOCK_AT = 100  # inside features_v1's warm-up (vol_percentile: 913 bars), past ret_1_z's (50 bars)
WARMUP_SHOCK_AT = 30  # inside ret_1_z's own warm-up: VOL_SHOCK cannot be evaluated there


@pytest.fixture(scope="module")
def shocked() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(17)
    returns = rng.normal(0.0, 0.001, N)
    returns[SHOCK_AT] = 0.03  # ~30 sigma up
    returns[EARLY_SHOCK_AT] = -0.03  # the same shock down, before the long windows are full
    returns[WARMUP_SHOCK_AT] = -0.03  # and inside the warm-up of ret_1_z itself: must not fire
    features = compute_features(bars_from_close(100 * np.exp(np.cumsum(returns))))
    events, flags = detect_events(features)
    return features, events, flags


def test_planted_vol_shock_fires_at_the_right_bar_with_direction(shocked) -> None:
    features, events, flags = shocked
    shock = events.filter(pl.col("event_type") == "VOL_SHOCK")
    assert shock["ts"].to_list() == [features["ts"][EARLY_SHOCK_AT], features["ts"][SHOCK_AT]]
    assert shock["direction"].to_list() == [-1, 1]
    assert shock["severity"][1] == pytest.approx(abs(features["ret_1_z"][SHOCK_AT]))
    assert shock["severity"].min() > 5
    assert json.loads(shock["trigger"][1]) == {
        "ret_1": features["ret_1"][SHOCK_AT],
        "ret_1_z": features["ret_1_z"][SHOCK_AT],
    }
    assert flags["VOL_SHOCK"][SHOCK_AT] and flags["VOL_SHOCK"].sum() == 2


def test_events_wait_for_their_own_inputs_not_the_longest_window(shocked) -> None:
    """The shock at bar 100 sits in features_v1's warm-up (vol_percentile needs 913 bars) but ret_1_z is
    ready: VOL_SHOCK fires. The shock at bar 30 sits in ret_1_z's own warm-up: the flag is unknown (null)."""
    features, _, flags = shocked
    assert features["warmup"][EARLY_SHOCK_AT] and flags["VOL_SHOCK"][EARLY_SHOCK_AT] is True
    assert features["ret_1_z"][WARMUP_SHOCK_AT] is None and flags["VOL_SHOCK"][WARMUP_SHOCK_AT] is None
    # Property: wherever an event is known (True or False), every value its rule reads is non-null; a level
    # event is known exactly there (an onset also needs its previous bar when the condition holds).
    registry = load_event_registry()
    for event in registry.events:
        if event.status != "active" or not set(event.required_inputs) <= set(features.columns):
            continue
        read = features.select(evaluable_expr(event)).to_series().to_numpy()
        known = flags[event.name].is_not_null().to_numpy()
        assert not (known & ~read).any(), event.name
        if event.trigger == "level":
            assert (known == read).all(), event.name


def test_a_gap_blanks_only_the_events_whose_inputs_it_empties() -> None:
    """One missing bar: VOL_SHOCK (ret_1_z, 50-bar warm-up) fires on a shock 60 bars after it although
    features_v1 keeps ``warmup`` for ~742 bars; calendar events keep their exact daily count on every day
    without a gap row, warm-up days included; VOL_COMPRESSION is unknown while vol_percentile is null after the gap."""
    n, gap_at = 288 * 7, 288 * 4 + 100
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0, 0.001, n)
    returns[gap_at + 60] = 0.03
    gap = np.zeros(n, dtype=bool)
    gap[gap_at] = True
    features = compute_features(bars_from_close(100 * np.exp(np.cumsum(returns)), gap=gap))
    _, flags = detect_events(features)
    assert features["warmup"][gap_at + 60] and features["warmup"][gap_at + 700]
    assert flags["VOL_SHOCK"][gap_at + 60] is True
    assert flags["VOL_SHOCK"][gap_at + 1 : gap_at + 51].null_count() == 50  # ret_1_z refills its 50 bars
    assert flags["VOL_SHOCK"][gap_at + 51 :].null_count() == 0
    assert features["vol_percentile"][gap_at + 1] is None and flags["VOL_COMPRESSION"][gap_at + 1] is None
    calendar = ["SESSION_OPEN_EVENT", "SESSION_CLOSE_EVENT", "FUNDING_TIMESTAMP_EVENT", "DAILY_CLOSE_EVENT"]
    per_day = flags.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.col(calendar).fill_null(False).sum())
    gap_day = features["ts"][gap_at].date()
    clean = per_day.filter(pl.col("day") != gap_day).sort("day")
    assert clean.height == 6
    assert clean["SESSION_OPEN_EVENT"].to_list() == [3] * 6
    assert clean["SESSION_CLOSE_EVENT"].to_list() == [3] * 6
    assert clean["FUNDING_TIMESTAMP_EVENT"].to_list() == [3] * 6
    assert clean["DAILY_CLOSE_EVENT"].to_list() == [1] * 6


def test_events_and_flags_agree_and_validate(shocked) -> None:
    _, events, flags = shocked
    registry = load_event_registry()
    n_flags = flags.select(
        pl.sum_horizontal(pl.col(list(registry.names)).fill_null(False).cast(pl.Int64)).sum()
    ).item()
    assert events.height == n_flags
    MarketEvents.validate(events)
    EventFlags.validate(flags)


def test_event_id_is_sha256_of_canonical_json() -> None:
    """Every id (hashed natively, in order) equals the reference canonical_hash of its row, on two symbols
    whose events share bar times; and an id is a function of (event_type, symbol, ts) only."""
    features = compute_features(make_bars(n_symbols=2, n_bars=1300, seed=2))
    events, _ = detect_events(features)
    assert events.height > 100 and events["ts"].n_unique() < events.height
    expected = [
        canonical_hash([e, s, ts.isoformat(timespec="milliseconds")])
        for e, s, ts in events.select("event_type", "symbol", "ts").iter_rows()
    ]
    assert events["event_id"].to_list() == expected
    assert events["event_id"].n_unique() == events.height
    # Without one symbol, the other symbol's events keep their ids.
    alone, _ = detect_events(features.filter(pl.col("symbol") == events["symbol"][0]))
    assert (
        alone["event_id"].to_list()
        == events.filter(pl.col("symbol") == events["symbol"][0])["event_id"].to_list()
    )


def test_onset_fires_once_per_crossing() -> None:
    """A staircase that pushes RSI above 70 and keeps it there: RSI_OVERBOUGHT_ONSET fires once, on the
    first bar above 70, and again only after RSI fell back below and crossed again."""
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.001, N)
    returns[950:990] = 0.002  # persistent rally: RSI > 70 for many bars
    returns[990:1030] = -0.002  # sell-off: RSI back below 70
    returns[1030:1060] = 0.002  # second rally
    features = compute_features(bars_from_close(100 * np.exp(np.cumsum(returns))))
    _, flags = detect_events(features)
    rsi = features["rsi_14"].to_numpy(allow_copy=True)
    above = np.nan_to_num(rsi, nan=0.0) > 70
    crossings = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    crossings = [int(i) for i in crossings if not np.isnan(rsi[i - 1])]
    fired = np.flatnonzero(flags["RSI_OVERBOUGHT_ONSET"].fill_null(False).to_numpy())
    assert list(fired) == crossings and len(fired) >= 2


def test_skipped_and_unavailable_events_are_reported_not_dropped(shocked) -> None:
    features, _, flags = shocked
    registry = load_event_registry()
    assert set(registry.names) <= set(flags.columns)
    report = event_report(flags, input_columns=features.columns)
    assert report.height == 60
    skipped = report.filter(pl.col("status") == "skipped")
    external = {
        "CALLER_ALERT",
        "NEWS_SHOCK",
        "MACRO_SURPRISE",
    }  # rows come from external_events, not features
    assert set(skipped["event_type"]) == {"CROSS_VENUE_DESYNC", "FEE_REGIME_CHANGE_EVENT", *external}
    assert skipped["reason"].str.len_chars().min() > 20
    assert flags["CROSS_VENUE_DESYNC"].null_count() == flags.height
    # Without context, the context-driven events are unavailable (with the missing inputs named).
    unavailable = report.filter(pl.col("status") == "unavailable")
    assert "INDEX_COMPONENT_DIVERGENCE" in unavailable["event_type"].to_list()
    assert (
        unavailable.filter(pl.col("event_type") == "INDEX_COMPONENT_DIVERGENCE")["reason"][0].find(
            "residual_cum_12_z"
        )
        >= 0
    )


def test_prevalence_bounds_are_checked() -> None:
    bars = make_bars(n_symbols=2, n_bars=288 * 5, seed=4)
    features = compute_features(bars)
    events, flags = detect_events(features, compute_context(features))
    report = event_report(flags)
    session = report.filter(pl.col("event_type") == "SESSION_OPEN_EVENT").row(0, named=True)
    evaluable_days = (
        flags.filter(pl.col("SESSION_OPEN_EVENT").is_not_null())
        .select(pl.struct("symbol", pl.col("ts").dt.date()).n_unique())
        .item()
    )
    assert session["symbol_days"] == evaluable_days
    assert session["n_events"] == events.filter(pl.col("event_type") == "SESSION_OPEN_EVENT").height
    # A flag column that fires on every bar must be reported outside its bounds.
    flooded = flags.with_columns(pl.when(pl.col("VOL_SHOCK").is_not_null()).then(True).alias("VOL_SHOCK"))
    assert event_report(flooded).filter(pl.col("event_type") == "VOL_SHOCK")["within_bounds"][0] is False


def test_events_need_only_features_and_context() -> None:
    """Detection reads no raw bar column: the detector works on features_v1 + context_features alone."""
    bars = make_bars(n_symbols=2, n_bars=1200, seed=8)
    features = compute_features(bars)
    context = compute_context(features)
    events, _ = detect_events(features, context)
    assert events.height > 0
    assert set(events["family"]) <= set(load_event_registry().families)


def test_missing_funding_and_oi_are_unknown_and_reported_unavailable() -> None:
    """An OHLCV-only source (no funding, OI, liquidations, basis): every event that reads them has a null
    flag on every bar (never False), and the report says unavailable and names the empty inputs, with no
    prevalence verdict; price-only events are unaffected."""
    empty = ["funding_rate", "open_interest", "liq_long_notional", "liq_short_notional", "basis_bps"]
    bars = make_bars(n_symbols=2, n_bars=1300, seed=1, gap_prob=0.0)
    bars = bars.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in empty)
    features = compute_features(bars)
    context = compute_context(features)
    _, flags = detect_events(features, context)
    missing = inputs_without_data(features) | inputs_without_data(context)
    assert {"funding_rate", "oi_z", "oi_change_z", "basis_z", "liq_z"} <= missing
    report = event_report(
        flags, input_columns=set(features.columns) | set(context.columns), empty_inputs=missing
    )
    registry = load_event_registry()
    starved = [e.name for e in registry.events if {n for n, _ in values_read(e)} & missing]
    assert {"FUNDING_FLIP", "OI_FLUSH", "SPOT_PERP_BASIS_SHOCK", "LIQUIDATION_CASCADE"} <= set(starved)
    for name in starved:
        assert flags[name].null_count() == flags.height, name
        row = report.filter(pl.col("event_type") == name).row(0, named=True)
        assert row["status"] in ("unavailable", "skipped") and row["within_bounds"] is None, name
        if row["status"] == "unavailable":
            assert "inputs without data" in row["reason"], name
            assert (
                row["unavailable_symbol_days"]
                == flags.select(pl.struct("symbol", pl.col("ts").dt.date())).n_unique()
            )
    vol_shock = report.filter(pl.col("event_type") == "VOL_SHOCK").row(0, named=True)
    assert vol_shock["status"] == "active" and flags["VOL_SHOCK"].null_count() < flags.height


def _quiet_flags(days: int) -> pl.DataFrame:
    """One symbol, ``days`` complete days of 5m bars where every event is evaluable and nothing fires."""
    ts = pl.datetime_range(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days, minutes=-5),
        "5m", time_unit="ms", time_zone="UTC", eager=True,
    )  # fmt: skip
    names = load_event_registry().names
    return pl.DataFrame({"symbol": "AAAUSDT", "ts": ts}).with_columns(pl.lit(False).alias(n) for n in names)


def test_rate_bounds_are_a_poisson_test_not_a_single_day_verdict() -> None:
    """VOL_SHOCK has a positive minimum rate: one quiet day is plausible under it (no warning), a quiet
    stretch long enough that P(0 events) = exp(-min * days) falls under the registry's tail is not."""
    registry = load_event_registry()
    vol_shock = next(e for e in registry.events if e.name == "VOL_SHOCK")
    assert vol_shock.prevalence_compare == "rate" and vol_shock.min_per_symbol_day > 0
    long_enough = (
        math.ceil(-math.log(registry.prevalence_tail_probability) / vol_shock.min_per_symbol_day) + 1
    )
    assert math.exp(-vol_shock.min_per_symbol_day) > registry.prevalence_tail_probability
    for days, expected in ((1, True), (long_enough, False)):
        row = event_report(_quiet_flags(days)).filter(pl.col("event_type") == "VOL_SHOCK").row(0, named=True)
        assert row["within_bounds"] is expected, days
        assert row["symbol_days"] == days and row["per_symbol_day_mean"] == 0.0


def test_calendar_bounds_are_exact_per_complete_symbol_day() -> None:
    """Calendar events compare every complete symbol-day with [min, max] exactly: 3 session opens pass, a
    day with one missing fails, and a day with an unevaluable bar is not judged (no complete day)."""
    flags = _quiet_flags(2).with_columns(
        pl.col("ts").dt.strftime("%H:%M").is_in(["00:00", "07:00", "13:30"]).alias("SESSION_OPEN_EVENT")
    )

    def verdict(frame: pl.DataFrame) -> bool | None:
        return event_report(frame).filter(pl.col("event_type") == "SESSION_OPEN_EVENT")["within_bounds"][0]

    assert verdict(flags) is True
    second_day_open = pl.col("ts") == datetime(2024, 1, 2, 7, tzinfo=UTC)
    assert verdict(flags.with_columns(pl.when(second_day_open).then(False).otherwise(pl.col("SESSION_OPEN_EVENT")).alias("SESSION_OPEN_EVENT"))) is False  # fmt: skip
    blanked = flags.with_columns(
        pl.when(pl.col("ts").dt.minute() == 5).then(None).otherwise(pl.col("SESSION_OPEN_EVENT")).alias("SESSION_OPEN_EVENT")
    )  # fmt: skip
    assert verdict(blanked) is None


def _severity_checks() -> list[tuple[str, Condition]]:
    """(event, condition) pairs where the severity reads the same input (same lag) as a threshold condition."""
    pairs = []
    for event in load_event_registry().events:
        sev = event.severity
        for branch in event.branches:
            for c in branch.conditions:
                if c.feature == sev.feature and c.lag == sev.lag and c.ref is None and c.op in MONOTONE_OPS:
                    pairs.append((event.name, c))
    return pairs


MONOTONE_OPS = ("gt", "ge", "lt", "le", "abs_gt")


def test_severity_grows_with_how_far_the_reading_is_beyond_the_threshold() -> None:
    """Property over every event: among readings that satisfy the rule's threshold, a more extreme one never
    scores lower (RSI_OVERSOLD_ONSET used |rsi|, VOL_COMPRESSION |percentile|: backwards before)."""
    registry = {e.name: e for e in load_event_registry().events}
    pairs = _severity_checks()
    assert {"RSI_OVERSOLD_ONSET", "VOL_COMPRESSION", "RSI_OVERBOUGHT_ONSET"} <= {n for n, _ in pairs}
    for name, c in pairs:
        scale = max(abs(float(c.value)), 0.01)
        beyond = np.array([1e-6, 0.01, 0.1, 0.5, 0.9]) * scale  # stays inside [0, 1] / [0, 100] ranges
        values = {"gt": c.value + beyond, "ge": c.value + beyond, "abs_gt": c.value + beyond,
                  "lt": c.value - beyond, "le": c.value - beyond}[c.op]  # fmt: skip
        sev = registry[name].severity
        frame = pl.DataFrame(
            {"symbol": ["A"] * (sev.lag + 1) * len(values), sev.feature: np.repeat(values, sev.lag + 1)}
        )
        scores = frame.select(_signal_expr(sev)).to_series().to_numpy()[sev.lag :: sev.lag + 1]
        assert (np.diff(scores) > 0).all(), (name, c, scores)


def test_detecting_in_blocks_of_symbols_equals_detecting_the_whole_frame(monkeypatch) -> None:
    """Property: rules read only the symbol's own rows, so cutting the frame into blocks of whole symbols
    (as a large panel is) gives exactly the single-pass events and flags; a cut inside a symbol would lose
    the lagged values and onsets at the block's first rows."""
    from quant_platform.events import detect

    bars = make_bars(n_symbols=3, n_bars=1200, seed=5)
    features = compute_features(bars)
    context = compute_context(features)
    whole_events, whole_flags = detect_events(features, context)
    monkeypatch.setattr(detect, "_BLOCK_ROWS", 700)  # every symbol (1,200 rows) becomes its own block
    assert len(detect._symbol_blocks(features, detect._BLOCK_ROWS)) == 3
    block_events, block_flags = detect_events(features, context)
    assert whole_events.height > 0
    assert block_events.equals(whole_events) and block_flags.equals(whole_flags)
    # What the IO manager stores: a day's rows, one chunk per column however the blocks cut the window (the
    # Parquet writer's page layout follows chunk boundaries, so the bytes then depend on the values only).
    day = str(features["ts"].dt.date()[features.height // 2])
    day_events, day_flags = detect.detect_events_for_day(features, context, day)
    assert day_flags.height == 288 * 3 and day_events.height > 0
    assert day_events.equals(only_day(whole_events, day)) and day_flags.equals(only_day(whole_flags, day))
    assert block_flags["symbol"].n_chunks() > 1  # the blocks are not copied into one chunk for the whole run
    assert {s.n_chunks() for frame in (day_events, day_flags) for s in frame.iter_columns()} == {1}


def test_detection_reads_only_keys_and_rule_inputs(tmp_path) -> None:
    """Property: detect_events carries only (symbol, ts) and the columns the active rules read. Replacing
    every other column with noise, dropping it, or handing the inputs as scanned Parquet (a projection the
    reader pushes down) gives exactly the same events and flags."""
    from quant_platform.events.detect import KEYS, project_inputs, rule_inputs

    registry = load_event_registry()
    needed = rule_inputs(registry)
    # Independent truth: the union of every (input, lag) the active rules compare.
    read = {name for e in registry.events if e.status == "active" for name, _ in values_read(e)}
    assert read <= needed and needed - read <= {n for e in registry.events for n in e.required_inputs}
    features = compute_features(make_bars(n_symbols=2, n_bars=900, seed=11))
    context = compute_context(features)
    events, flags = detect_events(features, context)
    assert events.height > 0
    kept = project_inputs(features, needed).collect_schema().names()
    assert kept == [*KEYS, *[c for c in features.columns if c in needed and c not in KEYS]]

    def noised(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.lit(None, dtype=frame.schema[c]).alias(c) for c in frame.columns if c not in needed | set(KEYS)
        )

    assert set(features.columns) - needed - set(KEYS)  # the property has something to ignore
    for f, c in (
        (noised(features), noised(context)),
        (features.select(kept), context.select(project_inputs(context, needed).collect_schema().names())),
    ):
        other_events, other_flags = detect_events(f, c)
        assert other_events.equals(events) and other_flags.equals(flags)
    features.write_parquet(tmp_path / "f.parquet")
    context.write_parquet(tmp_path / "c.parquet")
    scanned = detect_events(pl.scan_parquet(tmp_path / "f.parquet"), pl.scan_parquet(tmp_path / "c.parquet"))
    assert scanned[0].equals(events) and scanned[1].equals(flags)


def test_context_columns_join_detection_without_a_copy() -> None:
    """Property: when context_features has the features' (symbol, ts) rows, its rule inputs are attached as
    they are (their own chunks), not copied into one chunk for the whole detection, also when its columns are
    chunked differently (compute_context adds one-chunk NumPy results to a many-chunk frame). The events and
    flags equal those detected on a one-chunk copy of the same context (truth)."""
    from quant_platform.events.detect import _joined, rule_inputs

    features = compute_features(make_bars(n_symbols=2, n_bars=900, seed=11))
    one_chunk = compute_context(features).rechunk()
    needed = rule_inputs(load_event_registry())
    inputs = [c for c in one_chunk.columns if c in needed]
    split = pl.concat([one_chunk.slice(0, 700), one_chunk.slice(700)], rechunk=False)
    # every rule input in two chunks except the first, kept in one
    chunked = pl.DataFrame([one_chunk[c] if c == inputs[0] else split[c] for c in one_chunk.columns])
    chunks = {c: chunked[c].n_chunks() for c in inputs}
    assert len(inputs) > 1 and set(chunks.values()) == {1, 2}
    joined = _joined(features, chunked, needed)
    assert {c: joined[c].n_chunks() for c in inputs} == chunks
    events, flags = detect_events(features, chunked)
    truth_events, truth_flags = detect_events(features, one_chunk)
    assert events.equals(truth_events) and flags.equals(truth_flags)
