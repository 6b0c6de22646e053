"""The one Dagster entry point: every layer's definitions merged, with the shared resources.

``dagster dev -m quant_platform.definitions`` / ``dagster asset materialize -m quant_platform.definitions``.
"""

import dagster as dg

from quant_platform.defs import automation, features, market, registry, research, validation
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource, default_store_root


def _shared_resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "io_manager": ImmutableParquetIOManager(root=default_store_root()),
            "market_data": MarketDataResource(),
            "backtest_engine": BacktestEngine(),
        }
    )


defs = dg.Definitions.merge(
    market.defs,
    features.defs,
    research.defs,
    validation.defs,
    registry.defs,
    automation.defs,
    _shared_resources(),
)
