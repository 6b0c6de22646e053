"""Load the one Definitions entry point and compare the asset graph with the reviewed snapshot.

Any change to lineage (keys, deps, partitions, checks, jobs, schedules, sensors) shows up as a diff of
``asset_graph_snapshot.json``. After an intended change: ``QP_UPDATE_SNAPSHOT=1 make test`` and review the diff.
"""

import json
import math
import os
from pathlib import Path

import dagster as dg
import pytest

from quant_platform.core.day_blocks import partitions_read
from quant_platform.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_graph_snapshot.json")


def _partitions_kind(partitions_def: object) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.DailyPartitionsDefinition):
        return f"daily(start={partitions_def.start.date().isoformat()}, tz={partitions_def.timezone})"
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return f"dynamic({partitions_def.name})"
    return type(partitions_def).__name__


def graph_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "partitions": _partitions_kind(node.partitions_def),
            "checks": sorted(c.name for c in node.check_keys),
            "automation": str(node.automation_condition) if node.automation_condition else None,
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }


def test_definitions_load_and_graph_matches_snapshot() -> None:
    defs.validate_loadable(defs)
    current = graph_snapshot()
    if os.environ.get("QP_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), "no reviewed snapshot: run with QP_UPDATE_SNAPSHOT=1 and commit it"
    assert current == json.loads(SNAPSHOT.read_text())


def test_library_never_imports_dagster() -> None:
    root = Path(__file__).resolve().parents[2] / "quant_platform"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.parent.name != "defs"
        and p.name != "definitions.py"
        and any(
            line.lstrip().startswith(("import dagster", "from dagster"))
            for line in p.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_every_asset_has_a_blocking_schema_check() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        schema_checks = [c for c in graph.get(key).check_keys if c.name == "schema"]
        assert schema_checks, f"{key.to_user_string()} has no schema check"
        assert graph.get_check_spec(schema_checks[0]).blocking, (
            f"{key.to_user_string()}: schema check not blocking"
        )


def test_bar_length_from_the_environment_builds_the_features_layer_for_it(monkeypatch) -> None:
    """QP_BAR_MINUTES=60 gives the 60-minute look-backs and a market_data resource on that grid."""
    from quant_platform import definitions
    from quant_platform.defs.features import LayerLookbacks

    monkeypatch.setenv(definitions.BAR_MINUTES_ENV, "60")
    hourly = definitions.build_definitions(definitions.bar_minutes_from_env())
    mapping = hourly.resolve_assets_def("features_v1").get_partition_mapping(dg.AssetKey("bars_5m"))
    assert mapping.start_offset == -partitions_read(LayerLookbacks.for_bar_minutes(60).features)
    assert mapping.start_offset != -partitions_read(LayerLookbacks.for_bar_minutes(5).features)
    assert hourly.resources["market_data"].bar_minutes == 60
    for bad in ("7", "0", "abc", "2880"):
        monkeypatch.setenv(definitions.BAR_MINUTES_ENV, bad)
        with pytest.raises(ValueError, match="QP_BAR_MINUTES"):
            definitions.bar_minutes_from_env()


def test_observed_sessions_from_the_environment_build_trading_day_lookbacks(monkeypatch) -> None:
    """QP_SESSIONS=observed with QP_BAR_MINUTES=1440 is the us_equity_daily profile's grid: look-backs of
    ceil(1.5 x warm-up) + 6 calendar days (plus the spec's margin) with the profile's trading-day windows, a
    market_data resource on observed sessions naming the profile; refused on an hourly grid."""
    from quant_platform import definitions
    from quant_platform.events.detect import events_lookback_bars
    from quant_platform.features.spec import feature_spec_for
    from quant_platform.specs.profiles import load_profile

    spec = feature_spec_for(load_profile("us_equity_daily"))
    monkeypatch.setenv(definitions.BAR_MINUTES_ENV, "1440")
    monkeypatch.setenv(definitions.SESSIONS_ENV, "observed")
    daily = definitions.build_definitions(definitions.bar_minutes_from_env(), definitions.sessions_from_env())
    warmup = max(f.warmup_bars for f in spec.table_features("features_v1")) + spec.recursive_burn_in_bars
    mapping = daily.resolve_assets_def("features_v1").get_partition_mapping(dg.AssetKey("bars_5m"))
    assert mapping.start_offset == -partitions_read(
        math.ceil(1.5 * warmup) + 6 + spec.daily_lookback_margin_days
    )
    events = daily.resolve_assets_def("market_events").get_partition_mapping(dg.AssetKey("features_v1"))
    assert events.start_offset == -partitions_read(math.ceil(1.5 * events_lookback_bars()) + 6)
    market_data = daily.resources["market_data"]
    assert (market_data.bar_minutes, market_data.sessions) == (1440, "observed")
    assert market_data.profile == "us_equity_daily"
    assert max(f.warmup_bars for f in spec.features) < 2 * 252  # two years of sessions leave warm-up
    monkeypatch.setenv(definitions.BAR_MINUTES_ENV, "60")
    with pytest.raises(ValueError, match="daily bars"):
        definitions.build_definitions(definitions.bar_minutes_from_env(), definitions.sessions_from_env())
    monkeypatch.setenv(definitions.SESSIONS_ENV, "weekly")
    with pytest.raises(ValueError, match="sessions='weekly'"):
        definitions.build_definitions(1440, definitions.sessions_from_env())


def test_one_profile_setting_builds_the_graph_and_contradictions_are_errors(monkeypatch) -> None:
    """QP_PROFILE alone names the grid, the windows and the events; QP_BAR_MINUTES / QP_SESSIONS may repeat
    it but a contradiction is refused, as is an unknown profile."""
    from quant_platform import definitions

    for name in (definitions.BAR_MINUTES_ENV, definitions.SESSIONS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(definitions.PROFILE_ENV, "us_equity_daily")
    assert definitions.profile_from_env() == "us_equity_daily"
    daily = definitions.build_definitions(profile=definitions.profile_from_env())
    market_data = daily.resources["market_data"]
    assert (market_data.bar_minutes, market_data.sessions, market_data.profile) == (
        1440, "observed", "us_equity_daily"
    )  # fmt: skip
    flags = {c.name for c in daily.resolve_assets_def("market_events").check_specs}
    assert "prevalence_funding_spike" in flags  # every event keeps its check; it reports "not applicable"
    monkeypatch.setenv(definitions.BAR_MINUTES_ENV, "1440")
    assert definitions.profile_from_env() == "us_equity_daily"  # repeating the profile's grid is fine
    monkeypatch.setenv(definitions.BAR_MINUTES_ENV, "5")
    with pytest.raises(ValueError, match="QP_PROFILE=us_equity_daily"):
        definitions.profile_from_env()
    with pytest.raises(ValueError, match="set the profile alone"):
        definitions.build_definitions(5, None, "us_equity_daily")
    monkeypatch.setenv(definitions.PROFILE_ENV, "no_such_profile")
    with pytest.raises(ValueError, match="unknown profile"):
        definitions.profile_from_env()
