"""``EventRuleStrategyConfig`` is NautilusTrader's frozen ``StrategyConfig`` that refuses unknown fields and
malformed rules (checked through NautilusTrader's own decoding and factory)."""

from __future__ import annotations

import msgspec
import pytest

pytest.importorskip("nautilus_trader")

from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.trading.config import StrategyFactory

from quant_platform.blueprints import CONFIG_PATH, STRATEGY_PATH
from quant_platform.execution.nautilus.config import EventRuleStrategyConfig

BASE = {
    "instrument_id": "BTCUSDT-PERP.BINANCE",
    "bar_type": "BTCUSDT-PERP.BINANCE-5-MINUTE-LAST-EXTERNAL",
    "event_type": "VOL_SHOCK",
    "sign_rule": "from_direction",
    "direction_multiplier": 1,
    "horizon_bars": 12,
}


def _create(config: dict):
    return StrategyFactory.create(
        ImportableStrategyConfig(strategy_path=STRATEGY_PATH, config_path=CONFIG_PATH, config=config)
    )


def test_a_valid_config_builds_and_is_frozen():
    strategy = _create(BASE)
    assert strategy.rule.horizon_bars == 12 and str(strategy.rule.instrument_id) == BASE["instrument_id"]
    with pytest.raises(AttributeError):
        strategy.rule.horizon_bars = 3  # type: ignore[misc]


def test_unknown_fields_are_refused():
    with pytest.raises(msgspec.ValidationError, match="unknown field `stop_loss_bps`"):
        _create({**BASE, "stop_loss_bps": 50.0})
    with pytest.raises(TypeError):
        EventRuleStrategyConfig(**{**BASE, "stop_loss_bps": 50.0})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sign_rule": "sometimes"}, "sign_rule"),
        ({"direction_multiplier": 0}, "direction_multiplier"),
        ({"sign_rule": "fixed", "fixed_sign": 2}, "fixed_sign"),
        ({"state_column": "vol_regime"}, "unconditional"),
        ({"sizing_mode": "current_equity"}, "sizing_mode"),
        ({"bar_type": "ETHUSDT-PERP.BINANCE-5-MINUTE-LAST-EXTERNAL"}, "not a bar of"),
        ({"horizon_bars": 0}, "Expected `int` >= 1"),
        ({"target_weight": -1.0}, "Expected `float` > 0"),
    ],
)
def test_malformed_rules_are_refused(change, message):
    with pytest.raises((ValueError, msgspec.ValidationError), match=message):
        _create({**BASE, **change})
