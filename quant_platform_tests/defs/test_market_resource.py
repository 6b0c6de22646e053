"""MarketDataResource(kind="binance_rest") against local fake Binance servers (never the network).

Truth: Binance's documented public base endpoints (USD-M futures https://fapi.binance.com, spot
https://api.binance.com); the fake servers' request logs (which host got which path, how many attempts);
the values the fake generates (``expected_bars``).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs import market
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource
from quant_platform.market.sources.binance_rest import LIQUIDATIONS_UNSUPPORTED
from quant_platform.market.sources.resilient_http import CircuitOpenError, HttpFetchError
from quant_platform_tests.market.test_binance_rest import DAY, FakeBinance, expected_bars, serve_fake_binance


def test_defaults_are_binance_public_endpoints_and_library_policies() -> None:
    source = MarketDataResource(kind="binance_rest", symbols=["BTCUSDT"]).source()
    assert source.base_urls == {"futures": "https://fapi.binance.com", "spot": "https://api.binance.com"}
    assert source.client.retry.max_attempts >= 2 and source.client.retry.timeout_s > 0
    assert source.client.breaker.state == "closed"  # built without touching the network


def test_futures_and_spot_go_to_their_own_hosts_with_the_configured_policies() -> None:
    futures, spot = FakeBinance(), FakeBinance()
    with ExitStack() as stack:
        futures_url = stack.enter_context(serve_fake_binance(futures))
        spot_url = stack.enter_context(serve_fake_binance(spot))
        resource = MarketDataResource(
            kind="binance_rest",
            symbols=["BTCUSDT"],
            futures_base_url=futures_url,
            spot_base_url=spot_url,
            http_max_attempts=2,
            http_base_delay_s=0.0,  # retries without waiting
            http_timeout_s=0.2,
            breaker_failure_threshold=3,
        )
        source = resource.source()
        perp = source.fetch("perp_bars", DAY)
        spot_bars = source.fetch("spot_bars", DAY)
        assert perp.equals(expected_bars("BTCUSDT"))
        assert spot_bars.select(pl.exclude("symbol")).equals(
            expected_bars("BTCUSDT").select(pl.exclude("symbol"))
        )
        assert {path for path, _ in futures.requests} == {"/fapi/v1/klines"}
        assert {path for path, _ in spot.requests} == {"/api/v3/klines"}

        # http_timeout_s=0.2: an answer slower than that times out and the retry gets the data.
        futures.script["/fapi/v1/fundingRate"] = [("sleep", 0.6)]
        before = len(futures.requests)
        assert source.fetch("funding", DAY).height == 3
        assert len(futures.requests) - before == 2
        # http_max_attempts=2: two failing answers exhaust the retries of one call (2 consecutive failures).
        futures.script["/fapi/v1/fundingRate"] = [("status", 503), ("status", 503)]
        before = len(futures.requests)
        with pytest.raises(HttpFetchError, match="gave up after 2 attempts"):
            source.fetch("funding", DAY)
        assert len(futures.requests) - before == 2
        # breaker_failure_threshold=3: the third consecutive failure opens it; the retry is refused at once,
        # and so is every later call, to either host (one breaker per source).
        futures.script["/futures/data/openInterestHist"] = [("status", 503)]
        before, spot_before = len(futures.requests), len(spot.requests)
        with pytest.raises(CircuitOpenError):
            source.fetch("open_interest", DAY)
        with pytest.raises(CircuitOpenError):
            source.fetch("spot_bars", DAY)
        assert len(futures.requests) - before == 1 and len(spot.requests) == spot_before
        assert source.health()["breaker"]["state"] == "open"


def _materialize_raw(tmp_path: Path, resource: MarketDataResource, day: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        market.raw_assets,
        partition_key=day,
        resources={
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
            "market_data": resource,
        },
        instance=dg.DagsterInstance.ephemeral(),
    )


def _health_by_asset(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        name: result.asset_materializations_for_node(name)[0].metadata["source_health"].value
        for name in market.RAW_ASSETS
    }


def test_raw_assets_report_rest_health_from_one_shared_source(tmp_path: Path) -> None:
    """Every raw table's materialization carries the REST health counters; the counters are those of one
    source shared by the run (the last table's success count is every request both servers answered)."""
    futures, spot = FakeBinance(), FakeBinance()
    with ExitStack() as stack:
        resource = MarketDataResource(
            kind="binance_rest",
            symbols=["BTCUSDT"],
            futures_base_url=stack.enter_context(serve_fake_binance(futures)),
            spot_base_url=stack.enter_context(serve_fake_binance(spot)),
        )
        result = _materialize_raw(tmp_path, resource, DAY)
    assert result.success
    health = _health_by_asset(result)
    assert set(health) == set(market.RAW_ASSETS)
    for counters in health.values():
        assert {"success", "failure", "empty", "rate_limited", "latency", "breaker"} <= counters.keys()
        assert counters["failure"] == 0 and counters["breaker"]["state"] == "closed"
    successes = sorted(c["success"] for c in health.values())
    assert successes[-1] == len(futures.requests) + len(spot.requests)  # one source saw every request
    assert len(set(successes)) > 1  # and its counters grew from table to table
    assert health["raw_liquidations"]["unsupported"] == {"liquidations": LIQUIDATIONS_UNSUPPORTED}
    latency = max((c["latency"] for c in health.values()), key=lambda x: x["count"])
    assert latency["count"] == successes[-1] and latency["max_s"] > 0


def test_raw_assets_report_missing_dump_files(tmp_path: Path) -> None:
    root = tmp_path / "dumps"
    root.mkdir()
    # the day is declared known-empty: without that, a universe symbol without bars fails raw_perp_bars
    # (quant_platform_tests/defs/test_missing_source_data.py)
    resource = MarketDataResource(
        kind="binance_files",
        root=str(root),
        symbols=["BTCUSDT", "ETHUSDT"],
        known_empty_days=["2024-01-02"],
    )
    result = _materialize_raw(tmp_path, resource, "2024-01-02")
    assert result.success
    last = max(_health_by_asset(result).values(), key=lambda h: h["files_missing"])
    assert last["files_missing"] == 5 * 2  # every table, both symbols: nothing in the dump tree
    assert {(m["table"], m["symbol"]) for m in last["missing_files"]} == {
        (t, s)
        for t in ("perp_bars", "spot_bars", "funding", "open_interest", "liquidations")
        for s in ("BTCUSDT", "ETHUSDT")
    }
