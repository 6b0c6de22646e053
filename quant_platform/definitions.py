"""The one Dagster entry point: every layer's definitions merged, with the shared resources.

``dagster dev -m quant_platform.definitions`` / ``dagster asset materialize -m quant_platform.definitions``.

The bar length of the graph is fixed when the code location loads, because the features layer's partition
mappings (look-back days) depend on it: ``QP_BAR_MINUTES`` (default: the spec's, 5) builds the layer and the
``market_data`` resource for that grid, e.g. ``QP_BAR_MINUTES=60`` for an hourly ``ohlcv_csv`` source.
``QP_SESSIONS`` (default ``continuous``) likewise: ``QP_SESSIONS=observed`` with ``QP_BAR_MINUTES=1440`` for
daily equity CSVs, whose weekends and holidays are closed sessions (no rows) and whose windows count trading
days.

``QP_PROFILE`` names a profile of ``spec/profiles.yaml`` (e.g. ``us_equity_daily``) instead: one value for the
bar length, the sessions, the asset class, the feature windows and the events that apply. With it set,
``QP_BAR_MINUTES`` / ``QP_SESSIONS`` may be left out; set as well, they must agree with the profile.
"""

import os

import dagster as dg

from quant_platform.core.sessions import check_sessions
from quant_platform.defs import (
    automation,
    external,
    external_research,
    features,
    governance,
    market,
    models,
    registry,
    research,
    validation,
)
from quant_platform.defs import blueprints as blueprint_defs
from quant_platform.defs import experiments as experiments_defs
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.resources import MarketDataResource, default_store_root
from quant_platform.features.spec import load_feature_spec
from quant_platform.specs.profiles import load_profiles

BAR_MINUTES_ENV = "QP_BAR_MINUTES"
SESSIONS_ENV = "QP_SESSIONS"
PROFILE_ENV = "QP_PROFILE"


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


def profile_from_env() -> str | None:
    """``$QP_PROFILE`` (None when unset); checked against ``QP_BAR_MINUTES`` / ``QP_SESSIONS`` when those are set."""
    name = os.environ.get(PROFILE_ENV, "").strip() or None
    if name is None:
        return None
    bar_minutes = bar_minutes_from_env() if os.environ.get(BAR_MINUTES_ENV, "").strip() else None
    given = (bar_minutes, os.environ.get(SESSIONS_ENV, "").strip() or None)
    try:
        load_profiles().resolve(name, *given)
    except ValueError as error:
        raise ValueError(f"{PROFILE_ENV}={name}: {error} ({BAR_MINUTES_ENV}, {SESSIONS_ENV})") from None
    return name


def build_definitions(
    bar_minutes: int | None = None, sessions: str | None = None, profile: str | None = None
) -> dg.Definitions:
    """The whole graph for a named ``profile`` of spec/profiles.yaml, or for bars of ``bar_minutes`` minutes
    (default: the spec's bar length) on ``sessions`` (default continuous) and that grid's profile if the spec
    has one. A bar length or sessions contradicting the named profile is an error."""
    chosen = load_profiles().resolve(profile, bar_minutes, sessions)
    if chosen is not None:
        bar_minutes, sessions = chosen.grid
    bar_minutes = bar_minutes or load_feature_spec().bar_minutes
    sessions = sessions or "continuous"
    check_sessions(sessions, bar_minutes)
    layer = (
        features.defs  # the default profile's layer, built once at import
        if chosen is not None and chosen.name == load_profiles().get().name
        else features.build_features_layer(bar_minutes, sessions, chosen.name if chosen else None)
    )
    return dg.Definitions.merge(
        market.defs,
        external.defs,
        external_research.defs,
        layer,
        research.defs,
        validation.defs,
        blueprint_defs.defs,
        governance.defs,
        registry.defs,
        automation.defs,
        experiments_defs.defs,
        models.defs,
        dg.Definitions(
            resources={
                "io_manager": ImmutableParquetIOManager(root=default_store_root()),
                "market_data": MarketDataResource(
                    bar_minutes=bar_minutes, sessions=sessions, profile=chosen.name if chosen else ""
                ),
                "backtest_engine": BacktestEngine(),
            }
        ),
    )


_PROFILE = profile_from_env()
defs = (
    build_definitions(profile=_PROFILE)
    if _PROFILE
    else build_definitions(bar_minutes_from_env(), sessions_from_env())
)
