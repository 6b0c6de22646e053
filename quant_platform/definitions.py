"""The one Dagster entry point: every layer's definitions merged, with the shared resources.

``dagster dev -m quant_platform.definitions`` / ``dagster asset materialize -m quant_platform.definitions``.

The bar length of the graph is fixed when the code location loads, because the features layer's partition
mappings (look-back days) depend on it: ``QP_BAR_MINUTES`` (default: the spec's, 5) builds the layer and the
``market_data`` resource for that grid, e.g. ``QP_BAR_MINUTES=60`` for an hourly ``ohlcv_csv`` source.
``QP_SESSIONS`` (default ``continuous``) likewise: ``QP_SESSIONS=observed`` with ``QP_BAR_MINUTES=1440`` for
daily equity CSVs, whose weekends and holidays are closed sessions (no rows) and whose windows count trading
days.
"""

import os

import dagster as dg

from quant_platform.core.sessions import check_sessions
from quant_platform.defs import automation, features, market, models, registry, research, validation
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource, default_store_root
from quant_platform.features.spec import load_feature_spec

BAR_MINUTES_ENV = "QP_BAR_MINUTES"
SESSIONS_ENV = "QP_SESSIONS"


def bar_minutes_from_env() -> int:
    raw = os.environ.get(BAR_MINUTES_ENV, "").strip()
    if not raw:
        return load_feature_spec().bar_minutes
    if not raw.isdigit() or not 0 < int(raw) <= 1440 or 1440 % int(raw):
        raise ValueError(f"{BAR_MINUTES_ENV}={raw!r}: expected a whole number of minutes dividing a day")
    return int(raw)


def sessions_from_env() -> str:
    """``$QP_SESSIONS`` (default ``continuous``); checked against the bar length by the layer it builds."""
    return os.environ.get(SESSIONS_ENV, "").strip() or "continuous"


def build_definitions(bar_minutes: int | None = None, sessions: str = "continuous") -> dg.Definitions:
    """The whole graph for bars of ``bar_minutes`` minutes (default: the spec's bar length) on ``sessions``."""
    bar_minutes = bar_minutes or load_feature_spec().bar_minutes
    check_sessions(sessions, bar_minutes)
    layer = (
        features.defs
        if (bar_minutes, sessions) == (load_feature_spec().bar_minutes, "continuous")
        else features.build_features_layer(bar_minutes, sessions)
    )
    return dg.Definitions.merge(
        market.defs,
        layer,
        research.defs,
        validation.defs,
        registry.defs,
        automation.defs,
        models.defs,
        dg.Definitions(
            resources={
                "io_manager": ImmutableParquetIOManager(root=default_store_root()),
                "market_data": MarketDataResource(bar_minutes=bar_minutes, sessions=sessions),
                "backtest_engine": BacktestEngine(),
            }
        ),
    )


defs = build_definitions(bar_minutes_from_env(), sessions_from_env())
