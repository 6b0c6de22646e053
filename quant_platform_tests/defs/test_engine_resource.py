import dataclasses

import dagster as dg
import numpy as np
import pytest

from quant_platform.defs.engine import BacktestEngine
from quant_platform.engine import EngineConfig, run_backtest
from quant_platform_tests.engine.helpers import make_bars


def test_fields_mirror_engine_config_with_the_same_defaults() -> None:
    engine_fields = {f.name: f.default for f in dataclasses.fields(EngineConfig)}
    resource_fields = BacktestEngine.model_fields
    assert set(resource_fields) == set(engine_fields)
    for name, default in engine_fields.items():
        assert resource_fields[name].default == default, name
    assert BacktestEngine().engine_config() == EngineConfig()


def test_resource_from_dagster_config_runs_the_library() -> None:
    resource = BacktestEngine(taker_fee_bps=12.0, latency_bars=1, slippage_base_bps=0.0)
    initialized = resource.with_replaced_resource_context(dg.build_init_resource_context())
    bars = make_bars([100.0, 101.0, 103.0, 102.0, 104.0, 106.0])
    target = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    got = initialized.backtest(bars, target)
    expected = run_backtest(
        bars, target, EngineConfig(taker_fee_bps=12.0, latency_bars=1, slippage_base_bps=0.0)
    )
    assert got.content_hash() == expected.content_hash()
    assert got.trades["ts"].to_list() == [bars["ts"][2], bars["ts"][5]]  # lag 1 + latency 1
    stressed = initialized.backtest(bars, target, taker_fee_bps=24.0)
    assert stressed.metrics["fees"] == pytest.approx(2 * got.metrics["fees"], rel=1e-12)


def test_invalid_resource_config_is_refused_by_the_engine() -> None:
    with pytest.raises(ValueError, match="entry_lag_bars"):
        BacktestEngine(entry_lag_bars=0).engine_config()
    with pytest.raises(ValueError, match="fill_price"):
        BacktestEngine(fill_price="mid").engine_config()


def test_resource_is_usable_inside_an_asset() -> None:
    @dg.asset
    def demo_backtest(engine: BacktestEngine) -> float:
        bars = make_bars([100.0, 110.0, 121.0])
        return engine.backtest(bars, np.array([1.0, 1.0, 1.0])).metrics["pnl_gross"]

    result = dg.materialize([demo_backtest], resources={"engine": BacktestEngine(slippage_base_bps=0.0)})
    assert result.success
    assert result.output_for_node("demo_backtest") == pytest.approx(1e6 / 110.0 * 11.0, rel=1e-12)
