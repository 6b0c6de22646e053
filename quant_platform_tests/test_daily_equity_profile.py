"""The us_equity_daily profile end to end on real stocks: raw daily OHLCV -> observed-session bars -> features
with trading-day windows -> the events that apply to equities -> phase-2 discovery on session positions ->
the bridge's rule replay -> Stage A / Stage B, each step the library function its asset calls.

Data: the shared real file (AAPL, IBM, MSFT, GOOG; the file ends in 2013, so two years 2010-03..2012-02).
Truths: the NYSE calendar the file itself records (a rule's exit is the session ``h`` positions later in it,
Friday + 1 session = Monday, never a weekend), and the profile's own spec (which events apply).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from quant_platform.bridge import default_engine_config, evaluate_bridge, rule_entries, rule_targets
from quant_platform.bridge.stages import evaluate_stage_a_survivors, screen_bridge_survivors
from quant_platform.core.timeutil import day_range
from quant_platform.discovery import load_discovery_spec, run_discovery
from quant_platform.discovery.keys import column_codes
from quant_platform.events.detect import detect_events
from quant_platform.events.registry import load_event_registry
from quant_platform.events.report import event_report
from quant_platform.features import compute_features
from quant_platform.features.context import compute_context
from quant_platform.features.spec import feature_spec_for, load_feature_spec
from quant_platform.specs.profiles import load_profile
from quant_platform_tests.market.test_ohlcv_csv import STOCKS, need

PROFILE = "us_equity_daily"
SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT")
FIRST_DAY, LAST_DAY = "2010-03-01", "2012-02-29"
CRYPTO_ONLY = ("FUNDING", "WEEKEND", "SESSION_", "DAILY_CLOSE", "LIQUIDATION", "BASIS", "OI_", "DELEVERAGING")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chain() -> dict:
    from quant_platform.features.market_window import bars_for_days
    from quant_platform.market.sources.factory import make_source

    profile = load_profile(PROFILE)
    source = make_source("ohlcv_csv", path=str(need(STOCKS)), symbols=SYMBOLS)
    bars = bars_for_days(source, FIRST_DAY, LAST_DAY, bar_minutes=1440, sessions="observed")
    spec = feature_spec_for(profile)
    features = compute_features(bars, spec, grid_minutes=1440, sessions="observed")
    context = compute_context(features, spec)
    registry = load_event_registry().for_profile(profile, load_feature_spec().bar_minutes)
    events, flags = detect_events(features, context, registry)
    discovery_spec = load_discovery_spec(profile=PROFILE)
    states = features.select("symbol", "ts", *discovery_spec.conditioning_columns)
    result = run_discovery(bars, events, states, discovery_spec, runset_id="a" * 64)
    return {"profile": profile, "bars": bars, "features": features, "events": events, "flags": flags,
            "registry": registry, "spec": discovery_spec, "states": states, "result": result}  # fmt: skip


def test_bars_are_sessions_and_features_leave_warm_up(chain: dict) -> None:
    bars, features = chain["bars"], chain["features"]
    assert bars.filter(pl.col("ts").dt.weekday() >= 6).height == 0  # no weekend bars
    per_symbol = bars.group_by("symbol").len()["len"].unique().to_list()
    assert len(per_symbol) == 1 and 495 <= per_symbol[0] <= 510  # ~252 sessions a year, every symbol
    done = features.filter(~pl.col("warmup"))
    # vol_percentile's one-year window (271 sessions with its EWMA) is the longest: the second year is out.
    assert done.height >= 0.4 * features.height
    for state in ("vol_regime", "trend_state"):
        assert done[state].null_count() == 0, state
    assert set(done["vol_regime"].unique()) == {"low", "mid", "high"}


def test_only_equity_events_fire_and_prevalence_is_within_bounds_or_not_applicable(chain: dict) -> None:
    events, registry = chain["events"], chain["registry"]
    fired = set(events["event_type"].unique())
    assert fired and not {e for e in fired if e.startswith(CRYPTO_ONLY)}
    not_applicable = {e.name for e in registry.events if e.status == "not_applicable"}
    assert {
        "FUNDING_SPIKE",
        "WEEKEND_START_EVENT",
        "DAILY_CLOSE_EVENT",
        "LIQUIDATION_CASCADE",
    } <= not_applicable
    assert "RSI_OVERSOLD_ONSET" not in not_applicable and "VWAP_CROSS" in fired
    report = event_report(chain["flags"], registry)
    judged = report.filter(pl.col("status").is_in(["active", "not_applicable"]))
    # The profile's own bounds (measured on the stocks file) judge every event that fired in its data; the
    # 5-minute crypto bounds are never applied to daily bars.
    bounded = set(chain["profile"].prevalence)
    assert bounded and set(
        judged.filter(pl.col("within_bounds").is_not_null())["event_type"]
    ) == bounded & set(judged.filter(pl.col("status") == "active")["event_type"])
    assert judged.filter(pl.col("within_bounds").is_not_null())["within_bounds"].all()
    assert (
        judged.filter(pl.col("within_bounds").is_null())["compared"].str.starts_with("not applicable").all()
    )
    # what is neither: events the spec itself skips, and those whose inputs no daily OHLCV bar has
    rest = report.filter(~pl.col("status").is_in(["active", "not_applicable"]))
    assert set(rest["status"]) <= {"skipped", "unavailable"}
    assert rest.filter(pl.col("status") == "skipped")["event_type"].to_list() == [
        e.name for e in registry.events if e.status == "skipped"
    ]


def test_discovery_counts_horizons_in_sessions(chain: dict) -> None:
    result, spec = chain["result"], chain["spec"]
    assert spec.bar_minutes == 1440 and spec.sessions == "observed"
    candidates = result.candidates
    assert set(candidates["horizon_bars"].unique()) == {1, 5, 20}
    assert candidates["tested"].sum() > 0 and candidates["n_observations"].sum() > 0
    reasons = dict(result.exclusions.group_by("reason").agg(pl.col("n_observations").sum()).iter_rows())
    # only events in the last sessions of the data have no exit bar: a few per event, not the 5-minute
    # arithmetic's "every window beyond the data" or the weekend's "gap in window"
    assert reasons.get("window_beyond_data", 0) < 0.1 * chain["events"].height
    assert "gap_in_window" not in reasons


def test_rule_exits_are_sessions_later_and_the_stages_run(chain: dict) -> None:
    bars, events, spec, states = chain["bars"], chain["events"], chain["spec"], chain["states"]
    candidates = chain["result"].candidates
    calendar = spec.calendar(bars["ts"])
    sessions = bars["ts"].dt.date().unique().sort().to_list()  # the calendar the file itself records
    one_day = candidates.filter((pl.col("horizon_bars") == 1) & (pl.col("state_column") == "all"))
    cand = one_day.sort("n_observations", descending=True).row(0, named=True)
    entries = rule_entries(cand, events, states, spec, calendar)
    targets = rule_targets(entries, cand["symbol"], 1, calendar)
    exits = set(targets.filter(pl.col("target_weight") == 0)["ts"].dt.date())
    entry_days = entries["ts"].dt.date().to_list()
    position = {d: i for i, d in enumerate(sessions)}
    for entry in entry_days[:-1]:
        following = sessions[position[entry] + 1]  # the next session: Friday -> Monday, across holidays
        assert following in exits or following in set(
            entry_days
        )  # an exit on a new entry's bar is that entry
    assert not {d for d in exits if d.weekday() >= 5}
    assert any(d.weekday() == 4 for d in entries["ts"].dt.date())  # Friday entries exist (exit on Monday)

    chosen = candidates.filter(pl.col("tested")).sort("n_observations", descending=True).head(3)
    bridge = evaluate_bridge(chosen, bars, events, states, spec, only_passing=False)
    assert bridge.height == 3 * bridge["scenario"].n_unique() and (bridge["n_trades"] > 0).all()
    # Forced through the gates (the verdicts are the data's): Stage A and B replay the rules on the daily
    # calendar and judge them over sessions.
    survivors = bridge.with_columns(tradable=pl.lit(True))
    config = default_engine_config(spec)
    screen = screen_bridge_survivors(survivors, bars, events, states, base_config=config, spec=spec)
    assert screen.decisions.height == 3
    decisions = screen.decisions.with_columns(passed=pl.lit(True))
    stage_b = evaluate_stage_a_survivors(
        survivors, decisions, bars, events, states,
        trial_ledger=_long_ledger(chain["result"].trials),
        base_config=config, spec=spec,
    )  # fmt: skip
    assert stage_b.candidates.height == 3 and stage_b.candidates["candidate_id"].is_unique().all()


def _long_ledger(wide: pl.DataFrame) -> pl.DataFrame:
    """Discovery's trial rows as the registry stores them (one row per metric), every hypothesis tested."""
    metrics = [c for c in wide.columns if c not in ("runset_id", "stage", "trial_id", "family")]
    return wide.with_columns(pl.col(metrics).cast(pl.Float64)).unpivot(
        index=["runset_id", "stage", "trial_id", "family"], on=metrics, variable_name="metric",
        value_name="value",
    ).with_columns(kind=pl.lit("hypothesis"), sub_id=pl.lit(""))  # fmt: skip


def test_nothing_to_test_says_why_instead_of_crashing() -> None:
    """Inputs that leave no sample: the candidates table is empty and the exclusions say why."""
    spec = load_discovery_spec(profile=PROFILE)
    ts = pl.datetime_range(date(2024, 1, 1), date(2024, 1, 5), "1d", time_zone="UTC", eager=True)
    bars = pl.DataFrame({"symbol": "AAPL", "ts": ts, "open": 1.0, "gap": False}).with_columns(
        pl.col("ts").dt.cast_time_unit("ms")
    )
    events = pl.DataFrame(
        {
            "event_id": ["e1"],
            "symbol": ["AAPL"],
            "ts": [ts[-1]],
            "event_type": ["RSI_OVERSOLD_ONSET"],
            "direction": [1],
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    result = run_discovery(bars, events, None, spec)
    assert result.candidates.height == 0
    assert set(result.exclusions["reason"]) == {"window_beyond_data"}
    assert (column_codes(pl.Series([None, None], dtype=pl.Float64)) == [1, 1]).all()
    assert column_codes(pl.Series([], dtype=pl.Int32)).size == 0


def test_a_daily_runset_runs_the_dagster_research_chain(chain: dict, tmp_path) -> None:
    """The research assets read the profile recorded with the dataset (not the spec's 5-minute default):
    a RunSet over the daily panel materialises hypothesis_candidates -> bridge_evaluation -> stage_a_screen ->
    stage_b_survivors with samples counted on sessions."""
    import dagster as dg

    from quant_platform.defs.engine import BacktestEngine
    from quant_platform.defs.io_manager import ImmutableParquetIOManager
    from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
    from quant_platform.defs.registry import Registry
    from quant_platform.defs.research import bridge_evaluation, hypothesis_candidates
    from quant_platform.defs.validation import stage_a_screen, stage_b_survivors
    from quant_platform.registry import DatasetSpec, RunSetSpec
    from quant_platform.storage import ParquetStore

    # The RunSet's last three months, stored day by day as the daily assets store them (a closed day: an
    # empty partition). The features were computed on the whole two years, so these are out of warm-up.
    first, last = date(2011, 12, 1), date.fromisoformat(LAST_DAY)
    store = ParquetStore(str(tmp_path / "store"))
    names = {"bars": "bars_5m", "events": "market_events", "features": "features_v1"}
    for asset, name in names.items():
        frame = chain[asset].filter(pl.col("ts").dt.date() >= first)
        parts = {d: f.drop("_day") for (d,), f in frame.with_columns(_day=pl.col("ts").dt.date()).partition_by(
            "_day", as_dict=True).items()}  # fmt: skip
        for day in day_range(first.isoformat(), last.isoformat()):
            store.write(name, day, parts.get(date.fromisoformat(day), frame.clear()))
    registry = Registry(root=str(tmp_path / "registry"), store_root=str(tmp_path / "store"))
    library = registry.library()
    library.register_dataset(
        DatasetSpec(dataset_id="stocks_daily", source="ohlcv_csv", assets=["bars_5m", "market_events",
                    "features_v1"], symbols=list(SYMBOLS), first_day=first, last_day=last, profile=PROFILE)
    )  # fmt: skip
    library.create_runset("stocks_3m", RunSetSpec(dataset_id="stocks_daily", start=first, end=last))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, ["stocks_3m"])
    result = dg.materialize(
        [hypothesis_candidates, bridge_evaluation, stage_a_screen, stage_b_survivors],
        partition_key="stocks_3m",
        instance=instance,
        resources={
            "registry": registry,
            "backtest_engine": BacktestEngine(),
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
        },
    )
    assert result.success
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("hypothesis_candidates")[0].metadata.items()
    }
    assert (meta["profile"], meta["bar_minutes"], meta["sessions"]) == (PROFILE, 1440, "observed")
    stored = store.scan("hypothesis_candidates", ["stocks_3m"])[0].collect()
    assert stored.height == meta["rows"] > 0 and set(stored["horizon_bars"]) == {1, 5, 20}
    assert stored["n_observations"].sum() > 0  # samples counted on sessions
    # Exactly the windows whose exit session (event + 1 + h sessions) lies past the RunSet's last session are
    # beyond the data, counted on the file's own session list; none is lost to a weekend or holiday.
    sessions = chain["bars"].filter(pl.col("ts").dt.date() >= first)["ts"].dt.date().unique().sort().to_list()
    position = {d: i for i, d in enumerate(sessions)}
    in_window = chain["events"].filter(pl.col("ts").dt.date() >= first)["ts"].dt.date().to_list()
    beyond = sum(position[d] + 1 + h > len(sessions) - 1 for d in in_window for h in (1, 5, 20))
    excluded = meta["excluded_observations"]
    assert excluded["window_beyond_data"] == beyond and "gap_in_window" not in excluded
    for asset in ("bridge_evaluation", "stage_a_screen", "stage_b_survivors"):
        assert result.asset_materializations_for_node(asset), asset
