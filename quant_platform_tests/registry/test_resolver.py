"""The resolver points at exactly the current versions; exploratory follows new data, frozen never moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_platform.core.hashing import canonical_hash
from quant_platform.registry import (
    RESOLVER_VERSION,
    DatasetSpec,
    FrozenRunSetError,
    Registry,
    RunSetSpec,
)
from quant_platform.storage import ParquetStore
from quant_platform_tests.registry.helpers import TickingClock, write_version_record

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def _expected_hash(runset_id: str, start: str, end: str, triples: list[tuple]) -> str:
    return canonical_hash(
        {
            "artifacts": [list(t) for t in sorted(triples)],
            "range": [start, end],
            "resolver_version": RESOLVER_VERSION,
            "runset_id": runset_id,
        }
    )


def test_resolution_lists_latest_version_per_asset_and_day(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    versions = {}
    for day in DAYS:
        for asset in dataset.assets:
            materialize(asset, day, f"{asset} {day} v1")
            versions[(asset, day)] = materialize(asset, day, f"{asset} {day} v2")  # newer wins
    registry.create_runset("jan3", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[-1]))
    resolution = registry.resolve("jan3")
    expected = sorted((a, d, r["content_hash"]) for (a, d), r in versions.items())
    got = resolution.artifacts.select("asset", "partition", "content_hash").rows()
    assert got == expected
    assert resolution.paths("bars_5m") == [versions[("bars_5m", d)]["path"] for d in DAYS]
    assert resolution.resolution_hash == _expected_hash(
        registry.runset("jan3").runset_id, DAYS[0], DAYS[-1], expected
    )
    assert resolution.complete and resolution.mode == "exploratory"
    assert resolution.symbols == dataset.symbols  # empty symbols mean every symbol of the dataset


def test_missing_partitions_are_explicit_rows_not_dropped(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    materialize("bars_5m", DAYS[0], "only one")
    registry.create_runset("gappy", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[-1]))
    resolution = registry.resolve("gappy")
    assert resolution.artifacts.height == 2 * 3
    assert resolution.missing.height == 5 and not resolution.complete
    assert resolution.partitions("bars_5m")[DAYS[1]] is None
    with pytest.raises(LookupError, match="never materialized"):
        resolution.paths("bars_5m")
    with pytest.raises(ValueError, match="misses 5 partitions"):
        registry.freeze("gappy")
    assert registry.freeze("gappy", allow_incomplete=True).frozen


def test_exploratory_follows_new_data_while_frozen_stays_pinned(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    for day in DAYS[:2]:
        for asset in dataset.assets:
            materialize(asset, day, f"{asset} {day}")
    spec = RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[-1])
    registry.create_runset("explore", spec)
    registry.create_runset("paper", spec.model_copy(update={"tags": ("paper",)}))
    before = registry.resolve("explore")
    pinned = registry.freeze("paper", allow_incomplete=True)
    assert before.partitions("bars_5m")[DAYS[2]] is None

    new_day = materialize("bars_5m", DAYS[2], "bars day 3")
    corrected = materialize("features_v1", DAYS[0], "features day 1 corrected")

    after = registry.resolve("explore")
    assert after.partitions("bars_5m")[DAYS[2]] == new_day["content_hash"]
    assert after.partitions("features_v1")[DAYS[0]] == corrected["content_hash"]
    assert after.resolution_hash != before.resolution_hash
    assert registry.resolve("explore").resolution_hash == after.resolution_hash  # nothing new: same hash

    again = registry.resolve("paper")
    assert again.frozen and again.resolution_hash == pinned.resolution_hash
    assert again.artifacts.equals(pinned.artifacts)
    with pytest.raises(FrozenRunSetError, match="cannot be re-resolved"):
        registry.resolve("paper", force=True)
    assert registry.freeze("paper").resolution_hash == pinned.resolution_hash  # idempotent
    assert len(registry.facts.files("freezes")) == 1


def test_as_of_resolves_against_the_versions_that_existed_then(
    registry: Registry, dataset: DatasetSpec, materialize, clock
) -> None:
    first = materialize("bars_5m", DAYS[0], "v1")
    cut = datetime.fromtimestamp(clock.now_ns / 1e9, tz=UTC)
    clock.now_ns += 10**9
    materialize("bars_5m", DAYS[0], "v2")
    registry.create_runset("one_day", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0]))
    assert registry.resolve("one_day", as_of=cut).partitions("bars_5m")[DAYS[0]] == first["content_hash"]
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.resolve("one_day", as_of=datetime(2024, 1, 1))


def test_reproducible_mode_pins_the_first_complete_resolution(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    registry.create_runset(
        "repro", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0], mode="reproducible")
    )
    with pytest.raises(ValueError, match="cannot be pinned"):
        registry.resolve("repro")
    assert registry.facts.files("resolutions") == []  # the refused resolve wrote nothing
    for asset in dataset.assets:
        materialize(asset, DAYS[0], f"{asset} once")
    first = registry.resolve("repro")
    assert first.frozen and first.mode == "reproducible"
    materialize("bars_5m", DAYS[0], "newer")
    assert registry.resolve("repro").resolution_hash == first.resolution_hash
    assert registry.runset_metadata("repro") == {
        "runset_id": registry.runset("repro").runset_id,
        "runset_name": "repro",
        "resolution_hash": first.resolution_hash,
        "mode": "reproducible",
    }


def test_rolling_window_on_an_open_dataset(registry: Registry, materialize, clock) -> None:
    open_ended = DatasetSpec(
        dataset_id="live", source="synthetic", assets=["bars_5m"], symbols=["BTCUSDT"], first_day="2024-12-01"
    )
    registry.register_dataset(open_ended)
    registry.create_runset("rolling_7d", RunSetSpec(dataset_id="live", rolling_days=7))
    as_of = datetime(2024, 12, 20, 6, 0, tzinfo=UTC)
    resolution = registry.resolve("rolling_7d", as_of=as_of)
    # The last 7 complete UTC days before the resolution day.
    assert (resolution.range_start, resolution.range_end) == (date(2024, 12, 13), date(2024, 12, 19))
    assert resolution.artifacts["partition"].to_list() == [
        (date(2024, 12, 13) + timedelta(days=i)).isoformat() for i in range(7)
    ]
    with pytest.raises(ValueError, match="leaves dataset"):
        registry.resolve("rolling_7d", as_of=datetime(2024, 12, 3, tzinfo=UTC))


def test_resolver_agrees_with_the_real_parquet_store(tmp_path: Path, clock) -> None:
    """Records written by the lead's ParquetStore resolve to what the store itself calls current."""
    store = ParquetStore(str(tmp_path / "store"), clock=clock)
    registry = Registry(str(tmp_path / "registry"), str(tmp_path / "store"), clock=clock)
    registry.register_dataset(
        DatasetSpec(
            dataset_id="real", source="synthetic", assets=["bars_5m"], symbols=["BTCUSDT"], first_day=DAYS[0]
        )
    )
    for value, day in enumerate(DAYS * 2):
        store.write("bars_5m", day, pl.DataFrame({"close": [float(value)]}), dagster_run_id=f"run-{value}")
    registry.create_runset("real_days", RunSetSpec(dataset_id="real", start=DAYS[0], end=DAYS[-1]))
    resolution = registry.resolve("real_days")
    for day in DAYS:
        assert resolution.partitions("bars_5m")[day] == store.current_hash("bars_5m", day)
    frames = [pl.read_parquet(store.uri(p)) for p in resolution.paths("bars_5m")]
    assert pl.concat(frames)["close"].to_list() == [3.0, 4.0, 5.0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    writes=st.lists(
        st.tuples(st.sampled_from(["bars_5m", "features_v1"]), st.sampled_from(DAYS), st.integers(0, 3)),
        min_size=1,
        max_size=12,
    ),
    cut=st.integers(0, 12),
)
def test_resolution_matches_a_naive_reference(tmp_path_factory, writes, cut) -> None:
    """Property: for any write history and any as-of cut, each (asset, day) resolves to the last version
    written at or before the cut (reference: a plain Python loop over the history)."""
    base = tmp_path_factory.mktemp("prop")
    clock = TickingClock()
    registry = Registry(str(base / "registry"), str(base / "store"), clock=clock)
    registry.register_dataset(
        DatasetSpec(
            dataset_id="p", source="s", assets=["bars_5m", "features_v1"], symbols=["X"], first_day=DAYS[0]
        )
    )
    registry.create_runset("prop", RunSetSpec(dataset_id="p", start=DAYS[0], end=DAYS[-1]))
    history = []
    for asset, day, variant in writes:
        ns = clock()
        history.append((ns, asset, day, write_version_record(base / "store", asset, day, f"{variant}", ns)))
    cut_ns = history[min(cut, len(history) - 1)][0] if cut < len(history) else clock()
    reference: dict[tuple[str, str], str] = {}
    for ns, asset, day, record in history:
        if ns <= cut_ns:
            reference[(asset, day)] = record["content_hash"]
    as_of = datetime.fromtimestamp(cut_ns / 1e9, tz=UTC)
    resolution = registry.resolve("prop", as_of=as_of)
    got = {(a, d): h for a, d, h in resolution.artifacts.select("asset", "partition", "content_hash").rows()}
    assert got == {(a, d): reference.get((a, d)) for a in ("bars_5m", "features_v1") for d in DAYS}
    assert registry.resolution("prop", resolution.resolution_hash).artifacts.equals(resolution.artifacts)


def test_historical_resolve_is_recorded_but_never_becomes_latest(
    registry: Registry, dataset: DatasetSpec, materialize, clock
) -> None:
    old = {a: materialize(a, DAYS[0], f"{a} v1") for a in dataset.assets}
    cut = datetime.fromtimestamp(clock.now_ns / 1e9, tz=UTC)
    clock.now_ns += 10**9
    new = {a: materialize(a, DAYS[0], f"{a} v2") for a in dataset.assets}
    registry.create_runset("hist", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0]))
    present = registry.resolve("hist")
    past = registry.resolve("hist", as_of=cut)
    assert past.historical and not present.historical
    assert past.partitions("bars_5m")[DAYS[0]] == old["bars_5m"]["content_hash"]
    assert len(registry.facts.files("resolutions")) == 2  # the historical resolve is on record

    info = registry.runset("hist")
    assert info.latest_resolution_hash == present.resolution_hash
    assert registry.current_resolution("hist").resolution_hash == present.resolution_hash
    pinned = registry.freeze("hist")  # pins the present, not the historical view resolved last
    assert pinned.partitions("features_v1")[DAYS[0]] == new["features_v1"]["content_hash"]
    registry.rebuild()
    latest = registry.query("SELECT resolution_hash FROM latest_resolutions WHERE runset_name = ?", ["hist"])
    assert latest["resolution_hash"].to_list() == [present.resolution_hash]


def test_unchanged_resolve_writes_nothing_unless_forced(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    for asset in dataset.assets:
        materialize(asset, DAYS[0], f"{asset} once")
    registry.create_runset("same", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0]))
    first = registry.resolve("same")
    again = registry.resolve("same")
    assert again.resolution_hash == first.resolution_hash and again.resolved_at == first.resolved_at
    assert len(registry.facts.files("resolutions")) == 1
    forced = registry.resolve("same", force=True)
    assert forced.resolution_hash == first.resolution_hash and forced.resolved_at > first.resolved_at
    assert len(registry.facts.files("resolutions")) == 2
    materialize("bars_5m", DAYS[0], "bars corrected")
    assert registry.resolve("same").resolution_hash != first.resolution_hash  # new data is recorded
    assert len(registry.facts.files("resolutions")) == 3


def test_mode_is_one_word_for_listing_and_metadata(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    for asset in dataset.assets:
        materialize(asset, DAYS[0], f"{asset} once")
    spec = RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0])
    registry.create_runset("explore", spec)
    registry.create_runset("repro", spec.model_copy(update={"mode": "reproducible"}))
    assert registry.runset("explore").mode == registry.resolve("explore").metadata()["mode"] == "exploratory"
    assert registry.runset("repro").mode == "reproducible"  # before its first resolve, too
    assert registry.resolve("repro").metadata()["mode"] == "reproducible"
    frozen = registry.freeze("explore")
    assert registry.runset("explore").mode == frozen.metadata()["mode"] == "reproducible"
    assert {i.name: i.to_dict()["mode"] for i in registry.runsets()} == {
        "explore": "reproducible",
        "repro": "reproducible",
    }


def test_freeze_error_names_the_cli_flag(registry: Registry, dataset: DatasetSpec, materialize) -> None:
    materialize("bars_5m", DAYS[0], "one")
    registry.create_runset("gap", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0]))
    with pytest.raises(ValueError, match="--allow-incomplete") as raised:
        registry.freeze("gap")
    assert "allow_incomplete" not in str(raised.value)


def test_fact_files_from_before_the_historical_column_still_read(
    registry: Registry, dataset: DatasetSpec, materialize
) -> None:
    for asset in dataset.assets:
        materialize(asset, DAYS[0], f"{asset} once")
    registry.create_runset("old", RunSetSpec(dataset_id=dataset.dataset_id, start=DAYS[0], end=DAYS[0]))
    resolved = registry.resolve("old")
    (written,) = registry.facts.files("resolutions")
    path = registry.fs.abs(written)
    pl.read_parquet(path).drop("historical").write_parquet(path)  # the layout of an older writer
    assert registry.runset("old").latest_resolution_hash == resolved.resolution_hash
    assert not registry.current_resolution("old").historical
    registry.rebuild(force=True)
    assert registry.query("SELECT count(*) AS n FROM latest_resolutions")["n"].to_list() == [1]
