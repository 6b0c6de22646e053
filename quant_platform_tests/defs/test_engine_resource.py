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


def test_order_outcome_metadata_reports_the_silent_outcomes_of_a_run_and_a_sweep() -> None:
    from quant_platform.defs.engine import order_outcome_metadata
    from quant_platform.engine import run_sweep

    bars = make_bars([100.0] * 8)
    target = np.array(
        [0.5, 1.5, 1.5, 3.0, 3.0, 0.8, 0.8, 0.0]
    )  # 1.5 clipped, 3.0 rejected, last exit unfilled
    conf = EngineConfig(max_symbol_weight=1.0, hard_max_abs_weight=2.0)
    meta = order_outcome_metadata(run_backtest(bars, target, conf))
    assert (meta["engine_n_orders_rejected"].value, meta["engine_n_orders_clipped"].value) == (1, 1)
    assert meta["engine_n_orders_unfilled_at_end"].value == 1
    assert meta["engine_order_outcomes"].value["n_orders_submitted"] == 5
    sweep = run_sweep(
        np.full(8, 100.0),
        np.c_[target, target],
        conf.replace(fill_price="next_close", slippage_vol_coef=0.0, slippage_impact_bps=0.0),
    )
    assert order_outcome_metadata(sweep)["engine_order_outcomes"].value["n_orders_clipped"] == 2
    assert BacktestEngine(sizing="current_equity").engine_config().sizing == "current_equity"
