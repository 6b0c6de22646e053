"""The synthetic generator's planted effects are what its docstring says, and the point-in-time audit
catches the front-running caller when a pipeline trusts publish stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from quant_platform.external.config import ExternalSpec
from quant_platform.external.features import external_features
from quant_platform.external.lookahead import external_lookahead_report
from quant_platform.external.pipeline import process_external
from quant_platform.external.synthetic import SyntheticExternalConfig, synthetic_external

SPEC = ExternalSpec.from_spec()
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
START = datetime(2024, 3, 1, tzinfo=UTC)
H = 12


@pytest.fixture(scope="module")
def world() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(11)
    n = 288 * 10
    frames = []
    for symbol in SYMBOLS:
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
        frames.append(
            pl.DataFrame(
                {"symbol": symbol, "ts": [START + timedelta(minutes=5 * i) for i in range(n)], "open": prices}
            )
        )
    bars = pl.concat(frames).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    raw = synthetic_external(bars, SyntheticExternalConfig(seed=3, alerts_per_caller_per_day=8.0))
    return bars, raw


def _signed_returns(bars: pl.DataFrame, alerts: pl.DataFrame, time_column: str) -> np.ndarray:
    """Trade each alert: enter at the open of the bar after the one holding ``time_column``, hold H bars."""
    out = []
    for symbol, group in bars.sort("symbol", "ts").group_by("symbol", maintain_order=True):
        opens = group["open"].to_numpy()
        stamps = group["ts"].dt.epoch("ms").to_numpy()
        mine = alerts.filter(pl.col("symbol") == symbol[0])
        at = mine[time_column].dt.epoch("ms").to_numpy()
        index = np.searchsorted(stamps, at, side="right") - 1  # the bar holding the stamp
        ok = index + 1 + H < len(opens)
        entry, exit_ = opens[index[ok] + 1], opens[index[ok] + 1 + H]
        out.append(mine["side"].to_numpy()[ok] * (exit_ / entry - 1))
    return np.concatenate(out)


def test_planted_callers_are_what_the_generator_says(world) -> None:
    bars, raw = world
    result = process_external(raw, SYMBOLS, SPEC)
    assert (
        result.report["raw_records"] == result.report["kept_records"] + result.report["quarantined_records"]
    )
    assert {"malformed_json", "future_dated"} <= set(result.quarantine["reason"])
    alerts = result.events.filter((pl.col("kind") == "alert") & pl.col("is_cluster_head"))
    config = SyntheticExternalConfig()
    t_stats = {}
    for caller in [config.informed_caller, *config.noise_callers, config.frontrunner]:
        returns = _signed_returns(bars, alerts.filter(pl.col("caller_id") == caller), "available_at")
        t_stats[caller] = stats.ttest_1samp(returns, 0.0).statistic
    assert t_stats[config.informed_caller] > 3
    assert all(abs(t_stats[c]) < 3 for c in config.noise_callers)
    assert abs(t_stats[config.frontrunner]) < 3  # no edge once we actually have its alerts
    frontrun = alerts.filter(pl.col("caller_id") == config.frontrunner)
    lure = _signed_returns(bars, frontrun, "published_at")  # trusting the publish stamp: never wrong
    assert lure.size > 20 and (lure >= 0).all()
    reposts = result.events.filter((pl.col("kind") == "alert") & ~pl.col("is_cluster_head"))
    assert reposts.height > 0  # re-posted alerts joined their first post's cluster


def test_lookahead_audit_passes_on_availability_and_catches_the_frontrunner(world) -> None:
    _, raw = world
    events = process_external(raw, SYMBOLS, SPEC).events
    in_flight = events.filter(pl.col("caller_id") == SyntheticExternalConfig().frontrunner).sort(
        "published_at"
    )
    # cuts while three of the front-runner's alerts are published but not yet received, far apart in time
    picks = in_flight[[2, in_flight.height // 2, in_flight.height - 3]]
    cuts = [p + (i - p) / 2 for p, i in zip(picks["published_at"], picks["ingested_at"], strict=True)]
    honest = external_lookahead_report(raw, SYMBOLS, cuts, SPEC)
    assert honest.passed, honest.changed
    buggy = external_lookahead_report(raw, SYMBOLS, cuts, SPEC, event_time="published_at")
    assert not buggy.passed
    callers = events.join(buggy.changed.select("record_uid").unique(), on="record_uid")["caller_id"].unique()
    assert callers.to_list() == [SyntheticExternalConfig().frontrunner]
    # every cut finds its own late records, not only the first one
    assert buggy.changed["cut"].n_unique() == len(cuts)


def test_external_features_never_change_when_later_records_arrive(world) -> None:
    bars, raw = world
    cut = START + timedelta(days=4)
    past = bars.filter(pl.col("ts") + timedelta(minutes=5) <= cut)
    known = process_external(raw.filter(pl.col("ingested_at") <= cut), SYMBOLS, SPEC).events
    full = process_external(raw, SYMBOLS, SPEC).events
    early = external_features(past, known, SPEC, 5)
    late = external_features(past, full, SPEC, 5)
    assert early.equals(late)
    assert early.select(pl.col("^ext_.*$").abs().sum()).row(0) != (0.0,) * (early.width - 2)


def test_generator_skips_gap_bars(world) -> None:
    """Gap rows (open null) neither anchor an alert nor price its move."""
    bars, _ = world
    gappy = bars.with_columns(
        pl.when(pl.col("ts").dt.hour() == 3).then(None).otherwise(pl.col("open")).alias("open")
    )
    raw = synthetic_external(gappy, SyntheticExternalConfig(seed=5))
    alerts = process_external(raw, SYMBOLS, SPEC).events.filter(pl.col("kind") == "alert")
    assert alerts.height > 0
    assert alerts.filter(pl.col("published_at").dt.hour() == 3).height == 0
