"""The benchmark's plain pandas chain (bench/pandas_reference.py) computes what our chain computes, so the
whole-chain throughput ratio compares the same work: context columns, events (ids, direction, severity,
trigger values) and flags agree with compute_context / detect_events on tiny seeded panels, and the check
itself fails on a planted drift."""

from __future__ import annotations

import pandas as pd
import pytest

from bench import bench_features
from bench.bench_features import PANEL_FAMILIES, check_chain_agrees, make_panel


def test_pandas_chain_agrees_on_crypto_bars_with_gaps() -> None:
    bars = make_panel(3, 1000, 5, seed=11, gap_rate=0.003)
    assert bars["gap"].sum() > 0  # gaps exercise segment restarts and unknown onsets
    compared = check_chain_agrees(bars, None, 5)
    assert compared["events"] > 500 and compared["event_types"] >= 25


def test_pandas_chain_agrees_on_daily_panel_families() -> None:
    compared = check_chain_agrees(make_panel(5, 700, 1440, seed=12), PANEL_FAMILIES, 1440)
    assert compared["events"] > 100


def test_check_catches_a_drifted_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference whose severity drifts by 1e-4 relative, or that loses one event, is refused."""
    bars = make_panel(3, 700, 1440, seed=13)
    real_events = bench_features.pandas_events

    def drifted_severity(features: pd.DataFrame, context: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        events, flags = real_events(features, context)
        events["severity"] *= 1 + 1e-4
        return events, flags

    def one_event_lost(features: pd.DataFrame, context: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        events, flags = real_events(features, context)
        return events.iloc[1:], flags

    for planted, message in ((drifted_severity, "severity"), (one_event_lost, "events")):
        monkeypatch.setattr(bench_features, "pandas_events", planted)
        with pytest.raises(AssertionError, match=message):
            check_chain_agrees(bars, PANEL_FAMILIES, 1440)
