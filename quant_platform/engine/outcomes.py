"""Order outcomes of engine runs, summed, so a caller several layers up (a Dagster asset that replays many
rules through library code) can report every order that did not execute as requested.

Each run reports these counts in its own metrics (``BacktestResult.metrics``; one column each in a sweep's
summary):

- ``n_orders_submitted``: target changes requested;
- ``n_orders_rejected``: refused by a hard limit (``rejected_orders`` lists them with the reason);
- ``n_orders_clipped``: accepted, but scaled down by the per-symbol or gross cap (:mod:`engine.risk`);
- ``n_orders_unfilled_at_end``: accepted, but due after the last bar (or waiting over gap bars until the
  end of the data), so never filled;
- ``n_orders_superseded``: accepted, but replaced by a later order of the same symbol that fell due by the
  same fill bar (orders waiting over gaps, or a latency longer than the signal spacing);
- ``n_target_nan`` / ``n_target_nan_after_first``: NaN ("hold") target cells (:mod:`engine.inputs`).

``with record_order_outcomes() as tally:`` sums them over every :func:`run_backtest` / :func:`run_sweep`
call made inside the block on this thread (a ``ContextVar``: concurrent runs elsewhere are not mixed in).
Recording only observes: it never changes a run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

OUTCOME_KEYS = (
    "n_orders_submitted",
    "n_orders_rejected",
    "n_orders_clipped",
    "n_orders_unfilled_at_end",
    "n_orders_superseded",
    "n_target_nan",
    "n_target_nan_after_first",
)


@dataclass
class OutcomeTally:
    """Summed order outcomes of the runs recorded so far (``runs``: engine calls; ``columns``: strategies)."""

    runs: int = 0
    columns: int = 0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOME_KEYS, 0))

    def add(self, counts: Mapping[str, int], columns: int) -> None:
        self.runs += 1
        self.columns += columns
        for key in OUTCOME_KEYS:
            self.totals[key] += int(counts.get(key, 0))

    def as_dict(self) -> dict[str, int]:
        return {"engine_runs": self.runs, "strategy_columns": self.columns, **self.totals}


_ACTIVE: ContextVar[tuple[OutcomeTally, ...]] = ContextVar("engine_outcome_tallies", default=())


@contextmanager
def record_order_outcomes() -> Iterator[OutcomeTally]:
    """Sum the order outcomes of every engine run inside the block (nested blocks each get every run)."""
    tally = OutcomeTally()
    token = _ACTIVE.set((*_ACTIVE.get(), tally))
    try:
        yield tally
    finally:
        _ACTIVE.reset(token)


def report_outcomes(counts: Mapping[str, int], columns: int) -> None:
    """Called by the engine's entry points with a run's summed counts."""
    for tally in _ACTIVE.get():
        tally.add(counts, columns)
