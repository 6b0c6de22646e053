"""Load blueprint lines the way a NautilusTrader user does: ``ImportableStrategyConfig`` → ``StrategyFactory``."""

from __future__ import annotations

from typing import Any

from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.trading.config import StrategyFactory
from nautilus_trader.trading.strategy import Strategy

from quant_platform.blueprints.compile import IMPORTABLE_KEYS


def importable_config(line: dict[str, Any]) -> ImportableStrategyConfig:
    """NautilusTrader's ``ImportableStrategyConfig`` of a blueprint line (its three importable keys)."""
    return ImportableStrategyConfig(**{key: line[key] for key in IMPORTABLE_KEYS})


def create_strategy(line: dict[str, Any]) -> Strategy:
    """The strategy instance NautilusTrader's own ``StrategyFactory`` builds from a blueprint line."""
    return StrategyFactory.create(importable_config(line))
