"""The frozen NautilusTrader configuration of :class:`~quant_platform.execution.nautilus.strategy.EventRuleStrategy`.

A blueprint's ``config`` object decodes into this class (``ImportableStrategyConfig.config_path``). It is
NautilusTrader's own ``StrategyConfig`` (a frozen ``msgspec`` struct) with ``forbid_unknown_fields``, so a
blueprint carrying a field this strategy does not know is refused at load time rather than silently ignored.
"""

from __future__ import annotations

from nautilus_trader.config import NonNegativeInt, PositiveFloat, PositiveInt, StrategyConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import ClientId, InstrumentId

SIGN_RULES = ("from_direction", "fixed")
UNCONDITIONAL = "all"
SIZING_MODES = ("fixed_capital",)


class EventRuleStrategyConfig(StrategyConfig, frozen=True, forbid_unknown_fields=True):
    """The rule of one Stage-B survivor, as the strategy trades it.

    - ``event_type`` / ``state_column`` / ``state_value``: which events of the event registry fire the rule
      (``state_column == "all"``: unconditional).
    - ``sign_rule``: ``from_direction`` (trade sign = event direction x ``direction_multiplier``; events without
      a direction are skipped) or ``fixed`` (trade sign = ``fixed_sign``).
    - ``horizon_bars``: the position is held for this many bars (an exit request ``horizon_bars`` after the
      entry's signal bar); events arriving while a trade is open are ignored (non-overlapping, as discovery).
    - ``entry_lag_bars`` + ``latency_bars``: a decision taken at the close of bar ``t`` fills at the opening
      print of bar ``t + entry_lag_bars + latency_bars`` (or the first bar with a print after it).
    - ``target_weight`` x ``capital``: the notional of a position (``sizing_mode = "fixed_capital"``: units =
      weight x capital / fill price, the research engine's default sizing).
    - ``signal_client_id``: the data client publishing the event registry as custom data.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    event_type: str
    sign_rule: str
    direction_multiplier: int = 0
    fixed_sign: int = 0
    state_column: str = UNCONDITIONAL
    state_value: str = UNCONDITIONAL
    horizon_bars: PositiveInt = 1
    entry_lag_bars: PositiveInt = 1
    latency_bars: NonNegativeInt = 0
    target_weight: PositiveFloat = 1.0
    capital: PositiveFloat = 1_000_000.0
    sizing_mode: str = "fixed_capital"
    signal_client_id: ClientId = ClientId("EVENT_REGISTRY")

    def __post_init__(self) -> None:
        if self.sign_rule not in SIGN_RULES:
            raise ValueError(f"sign_rule must be one of {SIGN_RULES}, got {self.sign_rule!r}")
        if self.sign_rule == "from_direction" and self.direction_multiplier not in (1, -1):
            raise ValueError(f"direction_multiplier must be +1 or -1, got {self.direction_multiplier}")
        if self.sign_rule == "fixed" and self.fixed_sign not in (1, -1):
            raise ValueError(f"fixed_sign must be +1 or -1, got {self.fixed_sign}")
        if (self.state_column == UNCONDITIONAL) != (self.state_value == UNCONDITIONAL):
            raise ValueError("state_column and state_value are both 'all' (unconditional) or neither")
        if self.sizing_mode not in SIZING_MODES:
            raise ValueError(f"sizing_mode must be one of {SIZING_MODES}, got {self.sizing_mode!r}")
        if str(self.bar_type).rsplit("-", 4)[0] != str(self.instrument_id):
            raise ValueError(f"bar_type {self.bar_type} is not a bar of {self.instrument_id}")
