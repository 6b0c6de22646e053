"""``EventRuleStrategy``: a blueprint's event rule, traded by NautilusTrader.

Where the signal comes from: the event registry itself, as NautilusTrader custom data
(:class:`~quant_platform.execution.nautilus.data.RegistryEvent`, one per ``market_events`` row, stamped at the
close of its bar). The strategy is an incremental evaluator of the rule over that stream, so it needs no
feature code: for each event of its type (and state, when conditioned) it derives the trade sign from the
template, skips events inside an open trade's window (non-overlapping, as discovery counted them), and
requests the target weight ``sign x target_weight`` at the event's bar and ``0`` ``horizon_bars`` later (an
entry at the same bar as an exit replaces it, so back-to-back trades of one sign stay in the market and an
opposite one flips in a single order).

When it trades: a request decided at the close of bar ``t`` fills at the *opening print* of bar
``t + entry_lag_bars + latency_bars`` (the first trade of that bar; a bar without a print, a gap, defers it to
the next one). When several requests are due by one print, the latest wins; a print at which the target weight
does not change sends nothing. The order is a market order for ``target units - current position`` with
``target units = weight x capital / print price`` (fixed-capital sizing), so it fills at the print price in a
backtest whose venue sees that print (see :mod:`quant_platform.execution.nautilus.backtest`).

An event that arrives after the print at which it should have filled is counted in ``late_events`` (never
traded late, never silently dropped): a correctly ordered feed has none.
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.data import DataType, TradeTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.trading.strategy import Strategy

from quant_platform.execution.nautilus.config import UNCONDITIONAL, EventRuleStrategyConfig
from quant_platform.execution.nautilus.data import RegistryEvent

_EXIT, _ENTRY = 0, 1  # at the same signal bar an entry request beats an exit request


class EventRuleStrategy(Strategy):
    """Trades one blueprint's rule (module docstring)."""

    def __init__(self, config: EventRuleStrategyConfig) -> None:
        super().__init__(config)
        self.rule = config
        self.bar_ns = int(config.bar_type.spec.timedelta.total_seconds() * 1_000_000_000)
        self._delay = config.entry_lag_bars + config.latency_bars
        self._last_entry_bar: int | None = None
        self._requests: list[tuple[int, int, float]] = []  # (signal bar, priority, weight)
        self._held_weight = 0.0
        self._last_print_bar = -1
        self.instrument = None
        self.late_events = 0
        self.entries = 0
        self.orders_sent = 0

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.rule.instrument_id)
        if self.instrument is None:
            raise RuntimeError(f"instrument {self.rule.instrument_id} is not in the cache")
        self.subscribe_trade_ticks(self.rule.instrument_id)
        self.subscribe_data(
            DataType(RegistryEvent),
            client_id=self.rule.signal_client_id,
            instrument_id=self.rule.instrument_id,
        )

    def _sign(self, event: RegistryEvent) -> int:
        if self.rule.sign_rule == "fixed":
            return self.rule.fixed_sign
        return int(event.direction) * self.rule.direction_multiplier  # 0 when the event has no direction

    def on_data(self, data) -> None:
        if not isinstance(data, RegistryEvent) or data.instrument_id != self.rule.instrument_id:
            return
        if data.event_type != self.rule.event_type:
            return
        if self.rule.state_column != UNCONDITIONAL and (
            data.states.get(self.rule.state_column) != self.rule.state_value
        ):
            return
        sign = self._sign(data)
        if sign == 0:
            return
        bar = data.ts_event // self.bar_ns - 1  # stamped at its bar's close
        if self._last_entry_bar is not None and bar < self._last_entry_bar + self.rule.horizon_bars:
            return  # inside the open trade's window
        if bar + self._delay <= self._last_print_bar:
            self.late_events += 1
            self.log.error(f"event of bar {bar} arrived after its fill print (bar {self._last_print_bar})")
            return
        self._last_entry_bar = bar
        self.entries += 1
        self._requests.append((bar, _ENTRY, float(sign) * self.rule.target_weight))
        self._requests.append((bar + self.rule.horizon_bars, _EXIT, 0.0))

    def on_trade_tick(self, tick: TradeTick) -> None:
        bar = tick.ts_event // self.bar_ns
        if bar <= self._last_print_bar:
            return  # only the first print of a bar executes
        self._last_print_bar = bar
        due = [r for r in self._requests if r[0] + self._delay <= bar]
        if not due:
            return
        self._requests = [r for r in self._requests if r[0] + self._delay > bar]
        weight = max(due)[2]
        if weight == self._held_weight:
            return
        self._held_weight = weight
        price = float(tick.price)
        target_units = weight * self.rule.capital / price
        position = float(self.portfolio.net_position(self.rule.instrument_id) or Decimal(0))
        delta = target_units - position
        quantity = self.instrument.make_qty(abs(delta))
        if quantity.as_double() == 0.0:
            return
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        self.submit_order(self.order_factory.market(self.rule.instrument_id, side, quantity))
        self.orders_sent += 1
