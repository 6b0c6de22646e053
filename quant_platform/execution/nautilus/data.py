"""The event registry as NautilusTrader custom data: one :class:`RegistryEvent` per ``market_events`` row.

An event detected on bar ``t`` (``ts`` = the bar's open time in our tables) is known once that bar has closed,
so its ``ts_event`` / ``ts_init`` are the bar's close (``ts + bar``), the same instant as the NautilusTrader
``Bar`` of ``t`` (bars are stamped at their close). The event carries the values of the conditioning state
columns at its bar, so a state-conditioned rule decides from the event alone.
"""

from __future__ import annotations

from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId


class RegistryEvent(Data):
    """One event of the registry: type, direction (+1 / -1 / 0) and the states at its bar."""

    def __init__(
        self,
        instrument_id: InstrumentId,
        event_type: str,
        direction: int,
        states: dict[str, str],
        ts_event: int,
        ts_init: int,
    ) -> None:
        self.instrument_id = instrument_id
        self.event_type = event_type
        self.direction = int(direction)
        self.states = dict(states)
        self._ts_event = int(ts_event)
        self._ts_init = int(ts_init)

    @property
    def ts_event(self) -> int:
        return self._ts_event

    @property
    def ts_init(self) -> int:
        return self._ts_init

    def __repr__(self) -> str:
        return (
            f"RegistryEvent({self.instrument_id}, {self.event_type}, direction={self.direction}, "
            f"states={self.states}, ts_event={self._ts_event})"
        )
