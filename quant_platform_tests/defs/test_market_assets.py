"""The market layer in real Dagster runs: a 2-day single-run backfill on the synthetic market, accounting
reconciled from the stored Parquet, and a blocking schema check that stops cleaning on a broken source."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from quant_platform.defs import market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket
from quant_platform.storage import ParquetStore
from quant_platform_tests.shared_data import real_data_dir, require_real

ASSETS = [*market.raw_assets, market.clean_market]
RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2024-01-01",
    "dagster/asset_partition_range_end": "2024-01-02",
}


def _materialize(tmp_path: Path, resource: MarketDataResource, **kwargs):
    return dg.materialize(
        ASSETS,
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": resource,
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        **kwargs,
    )


def test_backfill_two_days_checks_pass_and_accounting_balances(tmp_path: Path) -> None:
    resource = MarketDataResource(symbols=["BTCUSDT", "ETHUSDT"], seed=11)
    result = _materialize(tmp_path, resource, tags=RANGE_TAGS)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [
        (c.asset_key, c.check_name) for c in checks if not c.passed
    ]

    store = ParquetStore(str(tmp_path / "store"))
    days = ["2024-01-01", "2024-01-02"]
    assert store.partitions("bars_5m") == days
    source = SyntheticMarket(SyntheticConfig(seed=11, symbols=("BTCUSDT", "ETHUSDT")))
    for day in days:
        raw_perp = store.scan("raw_perp_bars", [day])[0].collect()
        assert raw_perp.equals(source.fetch("perp_bars", day))  # stored bytes are exactly the source's rows
        bars = store.scan("bars_5m", [day])[0].collect()
        quarantined = store.scan("quarantined_rows", [day])[0].collect()
        n_perp_quarantined = quarantined.filter(pl.col("source_table") == "perp_bars").height
        assert raw_perp.height == bars["n_source_bars"].sum() + n_perp_quarantined
        assert bars.height == 2 * 288  # a complete grid: 2 symbols x 288 slots
        assert bars.filter(pl.col("ts").dt.date().cast(pl.String) != day).is_empty()


class _BrokenSource:
    name = "broken"
    symbols = ("BTCUSDT",)

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        frame = SyntheticMarket(SyntheticConfig(seed=1, symbols=self.symbols)).fetch(table, day)
        if table == "perp_bars":  # wrong time unit: a contract violation the schema must catch
            return frame.with_columns(pl.col("ts").dt.cast_time_unit("us"))
        return frame


class BrokenMarketData(MarketDataResource):
    def source(self):
        return _BrokenSource()


def _step_failures(result) -> dict[str, str]:
    return {
        e.step_key: (e.step_failure_data.user_failure_data.description or "")
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.step_failure_data.user_failure_data
    }


def test_schema_violation_fails_before_write_and_good_version_stays_current(tmp_path: Path) -> None:
    """An output that violates its schema fails its step before the write: no version is recorded, the
    earlier good version stays current, and cleaning never runs on the bad table."""
    day = "2024-01-03"
    good = _materialize(tmp_path, MarketDataResource(symbols=["BTCUSDT"], seed=1), partition_key=day)
    assert good.success
    store = ParquetStore(str(tmp_path / "store"))
    good_raw, good_bars = store.current_hash("raw_perp_bars", day), store.current_hash("bars_5m", day)
    versions_before = store.history("raw_perp_bars", day).height

    broken = _materialize(tmp_path, BrokenMarketData(symbols=["BTCUSDT"]), partition_key=day)
    assert not broken.success
    failures = _step_failures(broken)
    assert list(failures) == ["raw_perp_bars"]
    assert "RawBars" in failures["raw_perp_bars"] and "ts: dtype(" in failures["raw_perp_bars"]
    assert "nothing was written" in failures["raw_perp_bars"]
    assert broken.get_asset_materialization_events() and all(  # the good raw tables still land
        e.asset_key != dg.AssetKey("raw_perp_bars") for e in broken.get_asset_materialization_events()
    )
    assert store.history("raw_perp_bars", day).height == versions_before
    assert store.current_hash("raw_perp_bars", day) == good_raw
    assert store.current_hash("bars_5m", day) == good_bars  # cleaning was skipped, not fed the bad file
    assert store.scan("raw_perp_bars", [day])[0].collect_schema()["ts"] == pl.Datetime("ms", "UTC")


def test_schema_violation_on_a_fresh_store_records_nothing(tmp_path: Path) -> None:
    result = _materialize(tmp_path, BrokenMarketData(symbols=["BTCUSDT"]), partition_key="2024-01-03")
    assert not result.success
    store = ParquetStore(str(tmp_path / "store"))
    assert store.partitions("raw_perp_bars") == [] and store.partitions("bars_5m") == []
    assert store.partitions("raw_spot_bars") == ["2024-01-03"]  # only the bad table is stopped


class _ValueDefectSource:
    """The synthetic market plus one planted row per value-level defect a real source can emit."""

    name = "value_defects"
    symbols = ("BTCUSDT",)
    # (table, column overrides of a copy of the table's first row, the reason cleaning must give)
    PLANTED = (
        ("perp_bars", {"symbol": None}, "unknown_symbol"),
        ("perp_bars", {"ts": None}, "ts_outside_day"),
        ("perp_bars", {"symbol": "DOGEUSDT"}, "unknown_symbol"),
        ("funding", {"symbol": None}, "unknown_symbol"),
        ("open_interest", {"ts": None}, "ts_outside_day"),
        ("liquidations", {"side": "HOLD"}, "unknown_side"),
        ("liquidations", {"side": None}, "unknown_side"),
        ("liquidations", {"symbol": "DOGEUSDT"}, "unknown_symbol"),
        ("liquidations", {"ts": None}, "ts_outside_day"),
    )

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        # Defect injection off, so the planted rows are the only quarantined ones.
        config = SyntheticConfig(seed=3, symbols=self.symbols, invalid_rate=0.0, aux_defect_rate=0.0)
        frame = SyntheticMarket(config).fetch(table, day)
        planted = [
            frame.head(1).with_columns(
                pl.lit(v, dtype=frame.schema[c]).alias(c) for c, v in overrides.items()
            )
            for name, overrides, _ in self.PLANTED
            if name == table
        ]
        return pl.concat([frame, *planted])


class ValueDefectMarketData(MarketDataResource):
    def source(self):
        return _ValueDefectSource()


def test_value_defects_pass_raw_schemas_and_are_quarantined_with_a_reason(tmp_path: Path) -> None:
    """Raw schemas are structural: rows with null symbol/ts, an unknown side or symbol are stored as
    delivered, and cleaning quarantines each one with its reason (raw = clean + quarantined)."""
    day = "2024-01-03"
    result = _materialize(tmp_path, ValueDefectMarketData(symbols=["BTCUSDT"]), partition_key=day)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    store = ParquetStore(str(tmp_path / "store"))
    quarantined = store.scan("quarantined_rows", [day])[0].collect()
    expected = sorted((table, reason) for table, _, reason in _ValueDefectSource.PLANTED)
    assert sorted(quarantined.select("source_table", "reason").rows()) == expected
    source = _ValueDefectSource()
    for table, raw_asset in [("perp_bars", "raw_perp_bars"), ("liquidations", "raw_liquidations")]:
        stored = store.scan(raw_asset, [day])[0].collect()
        assert stored.equals(source.fetch(table, day))  # stored as delivered, defects included
    bars = store.scan("bars_5m", [day])[0].collect()
    raw_perp = store.scan("raw_perp_bars", [day])[0].collect()
    n_perp_quarantined = quarantined.filter(pl.col("source_table") == "perp_bars").height
    assert raw_perp.height == bars["n_source_bars"].sum() + n_perp_quarantined


def test_shell_materialize_records_run_in_dagster_home(tmp_path: Path, monkeypatch) -> None:
    """`dagster asset materialize` with DAGSTER_HOME set: the run lands in that instance (what the UI reads)."""
    home = tmp_path / "home"
    home.mkdir()
    root = Path(__file__).resolve().parents[2]
    (home / "dagster.yaml").write_text((root / "dagster.yaml").read_text())
    env = {
        "DAGSTER_HOME": str(home),
        "QP_STORE_ROOT": str(tmp_path / "store"),
        "PATH": str(Path(sys.executable).parent),
    }
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "quant_platform.definitions",
        "--select",
        "raw_funding",
        "--partition",
        "2024-01-02",
    ]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # dagster.yaml places storage under $DAGSTER_HOME
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_funding"))
        assert event is not None and event.asset_materialization.partition == "2024-01-02"
    assert ParquetStore(str(tmp_path / "store")).current_hash("raw_funding", "2024-01-02")


REAL = real_data_dir()


def test_real_eurusd_file_runs_through_the_market_layer(tmp_path: Path) -> None:
    """The real hourly EUR/USD file, cleaned on its native 60-minute grid; the weekend is explicit gap rows.

    Saturday has no bars at all: the run fails naming the file unless Saturdays are declared known-empty."""
    path = require_real(REAL / "eurusd_1h_ask.csv")
    options = dict(
        kind="ohlcv_csv",
        path=str(path),
        symbol="EURUSD",
        symbols=["EURUSD"],
        time_column="Time",
        time_format="%d.%m.%Y %H:%M:%S%.3f",
        bar_minutes=60,
    )
    tags = {
        "dagster/asset_partition_range_start": "2017-01-06",
        "dagster/asset_partition_range_end": "2017-01-08",
    }
    undeclared = _materialize(tmp_path / "undeclared", MarketDataResource(**options), tags=tags)
    assert not undeclared.success
    [failure] = undeclared.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "2017-01-07" in description and "EURUSD" in description and str(path) in description
    resource = MarketDataResource(**options, known_empty_days=["saturday"])
    result = _materialize(tmp_path, resource, tags=tags)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    store = ParquetStore(str(tmp_path / "store"))
    friday, saturday = (store.scan("bars_5m", [d])[0].collect() for d in ("2017-01-06", "2017-01-07"))
    assert friday.height == saturday.height == 24
    assert saturday["gap"].all() and saturday["close"].is_null().all()  # real weekend gap, never filled
    raw = pl.read_csv(path).filter(pl.col("Time").str.starts_with("06.01.2017"))
    assert friday.filter(~pl.col("gap")).height == raw.height
    assert friday.filter(~pl.col("gap"))["close"].to_list() == raw["Close"].to_list()


def test_rows_stamped_after_the_run_clock_are_quarantined_as_future(tmp_path: Path, monkeypatch) -> None:
    """Cleaning judges rows against the run's clock: with the clock pinned at 12:00 on the partition's day,
    every row not closed (bars: ts + 1m) or not printed by then is quarantined as ts_in_future, and the
    afternoon slots are gap rows. Reference: the raw rows counted by hand against the same instant."""
    day, noon = "2024-01-03", datetime(2024, 1, 3, 12, tzinfo=UTC)
    monkeypatch.setattr(market, "wall_clock", lambda: noon)
    config = SyntheticConfig(seed=5, symbols=("BTCUSDT",), invalid_rate=0.0, aux_defect_rate=0.0)
    resource = MarketDataResource(symbols=["BTCUSDT"], seed=5)
    monkeypatch.setattr(MarketDataResource, "source", lambda self: SyntheticMarket(config))
    result = _materialize(tmp_path, resource, partition_key=day)
    assert result.success
    store = ParquetStore(str(tmp_path / "store"))
    quarantined = store.scan("quarantined_rows", [day])[0].collect()
    assert set(quarantined["reason"]) == {"ts_in_future"}
    source = SyntheticMarket(config)
    for table, close_after in [("perp_bars", timedelta(minutes=1)), ("spot_bars", timedelta(minutes=1))] + [
        (t, timedelta(0)) for t in ("funding", "open_interest", "liquidations")
    ]:
        raw = source.fetch(table, day)
        late = raw.filter(pl.col("ts") + close_after > noon)
        got = quarantined.filter(pl.col("source_table") == table).sort("ts")
        assert got.select("symbol", "ts").equals(late.select("symbol", "ts").sort("ts")), table
    bars = store.scan("bars_5m", [day])[0].collect()
    assert bars.filter(pl.col("ts") >= noon)["gap"].all()
    assert not bars.filter(pl.col("ts") < noon)["gap"].all()
    (bars_event,) = [
        m for m in result.asset_materializations_for_node("clean_market") if m.asset_key.path == ["bars_5m"]
    ]
    assert bars_event.metadata["cleaned_at"].value == noon.isoformat()
