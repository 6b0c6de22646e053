"""Run one blueprint in NautilusTrader's ``BacktestEngine`` on our bars and event registry.

What the venue sees, per bar of the symbol (``bars_5m`` layout, ``ts`` = bar open, UTC ms):
- a NautilusTrader ``Bar`` (``<instrument>-<m>-MINUTE-LAST-EXTERNAL``) stamped at the bar's close, processed
  by the matching engine (open → high → low → close) and marking positions;
- the bar's *opening print*: a ``TradeTick`` at the bar's open time and open price. The research engine
  fills a decision of bar ``t`` at the open of bar ``t + lag``; NautilusTrader fills a market order against
  the book at the moment it is sent, and after a ``Bar`` the book stands at that bar's close. The opening
  print is what puts the next open on the book, and the strategy sends its orders on it. Its size is
  unlimited (``PRINT_SIZE``), the research fill model's assumption too (its size cost is the impact slippage
  term): a finite size would make NautilusTrader fill the remainder one tick worse.
- the event registry as custom data (``RegistryEvent``), stamped at its bar's close.
Gap rows (and bars without a valid positive open/close) produce neither a bar nor a print: nothing can fill
there, as in the research engine, and a due order waits for the next print.

Same-instant ordering: a bar's ``Bar``, its events and the next bar's opening print share one timestamp
(close of ``t`` = open of ``t + 1``). ``BacktestEngine.add_data`` sorts its stream by ``ts_init`` with
Python's stable sort, so they are added in that order (bars, events, prints) and keep it; the strategy counts
any event that still arrived after its fill print (``late_events``) and the parity check requires none.

The instrument is a linear ``CryptoPerpetual`` settled in USDT with the blueprint's taker fee (and the same
maker fee), a margin account holding the blueprint's capital (leverage 10: margin is not what is compared),
netting OMS. Price precision: the tick is the power of ten nearest below 1e-5 of the median close (0.1 for
BTC near 40,000, 0.01 for ETH near 2,500, like the exchange's); bars are rounded to it *before* either
engine sees them, so both replay the very same prices. Size precision 1e-9 (a real lot size would round
the research engine's continuous units; this isolates execution from lot rounding). Funding is not settled
on either side of a parity run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import Bar, BarType, CustomData, DataType, TradeTick
from nautilus_trader.model.enums import AccountType, AggressorSide, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import ClientId, InstrumentId, Symbol, TradeId, TraderId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Currency, Money, Price, Quantity

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.execution.nautilus.data import RegistryEvent
from quant_platform.execution.nautilus.load import create_strategy

SIZE_PRECISION = 9
PRINT_SIZE = 1_000_000_000.0  # an opening print of unlimited size (module docstring)
_NS_PER_MS = 1_000_000
FILL_COLUMNS = {
    "ts": TS_DTYPE,
    "side": pl.String,
    "qty": pl.Float64,
    "price": pl.Float64,
    "fee": pl.Float64,
}


def price_precision_for(close: np.ndarray) -> int:
    """Decimals of a tick near 1e-5 of the median close (module docstring)."""
    valid = close[np.isfinite(close) & (close > 0)]
    if valid.size == 0:
        raise ValueError("no valid close price to choose a tick size from")
    return max(0, -math.floor(math.log10(float(np.median(valid)) * 1e-5)))


def parity_bars(bars: pl.DataFrame, price_precision: int) -> pl.DataFrame:
    """The bars both engines replay: OHLC rounded to the instrument's tick, sorted by time."""
    prices = ["open", "high", "low", "close"]
    return bars.sort("ts").with_columns([pl.col(c).round(price_precision) for c in prices])


def make_instrument(
    symbol: str, venue: str, price_precision: int, taker_fee_bps: float, maker_fee_bps: float | None = None
) -> CryptoPerpetual:
    """A linear USDT perpetual ``<symbol>-PERP.<venue>`` with the given tick and fees (bps of notional)."""
    quote = "USDT"
    if not symbol.endswith(quote):
        raise ValueError(f"{symbol}: only USDT-margined perpetuals are modelled for blueprints")
    maker = taker_fee_bps if maker_fee_bps is None else maker_fee_bps
    increment = Quantity(10.0**-SIZE_PRECISION, SIZE_PRECISION)
    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol(f"{symbol}-PERP"), Venue(venue)),
        raw_symbol=Symbol(symbol),
        base_currency=Currency.from_str(symbol[: -len(quote)], strict=False),  # an unknown code: a new crypto
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=price_precision,
        size_precision=SIZE_PRECISION,
        price_increment=Price(10.0**-price_precision, price_precision),
        size_increment=increment,
        lot_size=increment,
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=Decimal(repr(maker * 1e-4)),
        taker_fee=Decimal(repr(taker_fee_bps * 1e-4)),
        ts_event=0,
        ts_init=0,
    )


def _tradable(bars: pl.DataFrame) -> pl.DataFrame:
    gap = pl.col("gap").fill_null(True) if "gap" in bars.columns else pl.lit(False)
    prices_ok = pl.all_horizontal(
        [pl.col(c).is_not_null() & (pl.col(c) > 0) for c in ("open", "high", "low", "close")]
    )
    return bars.filter(~gap & prices_ok)


def nautilus_bars(
    bars: pl.DataFrame, bar_type: BarType, instrument: CryptoPerpetual, bar_ns: int
) -> list[Bar]:
    p, s = instrument.price_precision, instrument.size_precision
    out = []
    for ts, o, h, low, c, v in (
        _tradable(bars)
        .select(pl.col("ts").dt.epoch("ms"), "open", "high", "low", "close", pl.col("volume").fill_null(0.0))
        .iter_rows()
    ):
        close_ns = ts * _NS_PER_MS + bar_ns
        out.append(Bar(bar_type, Price(o, p), Price(h, p), Price(low, p), Price(c, p), Quantity(max(v, 0.0), s),
                       close_ns, close_ns))  # fmt: skip
    return out


def opening_prints(bars: pl.DataFrame, instrument: CryptoPerpetual) -> list[TradeTick]:
    p, s = instrument.price_precision, instrument.size_precision
    size = Quantity(PRINT_SIZE, s)
    out = []
    for i, (ts, o) in enumerate(_tradable(bars).select(pl.col("ts").dt.epoch("ms"), "open").iter_rows()):
        ns = ts * _NS_PER_MS
        out.append(
            TradeTick(
                instrument.id, Price(o, p), size, AggressorSide.NO_AGGRESSOR, TradeId(f"open-{i}"), ns, ns
            )
        )
    return out


def registry_events(
    events: pl.DataFrame, states: pl.DataFrame | None, symbol: str, instrument_id: InstrumentId,
    state_columns: list[str], bar_ns: int,
) -> list[CustomData]:  # fmt: skip
    """The symbol's events as custom data, each with the state values at its bar, in time order."""
    frame = events.filter(pl.col("symbol") == symbol).select(
        "ts", "event_type", pl.col("direction").fill_null(0)
    )
    columns = [c for c in state_columns if states is not None and c in states.columns]
    if columns:
        frame = frame.join(
            states.filter(pl.col("symbol") == symbol).select(
                "ts", *[pl.col(c).cast(pl.String) for c in columns]
            ),
            on="ts",
            how="left",
        )
    data_type = DataType(RegistryEvent)
    out = []
    for row in frame.sort("ts", "event_type").iter_rows(named=True):
        close_ns = int(row["ts"].timestamp() * 1000) * _NS_PER_MS + bar_ns
        states_at = {c: row[c] for c in columns if row[c] is not None}
        event = RegistryEvent(
            instrument_id, row["event_type"], int(row["direction"]), states_at, close_ns, close_ns
        )
        out.append(CustomData(data_type, event))
    return out


@dataclass(frozen=True)
class NautilusRun:
    """What NautilusTrader did with one blueprint: its fills, its PnL (account balance change, quote
    currency, net of commissions) and the strategy's counters."""

    fills: pl.DataFrame
    pnl: float
    commissions: float
    open_position: float
    late_events: int
    entries: int


def run_blueprint(
    line: dict[str, Any],
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None,
    *,
    price_precision: int,
    taker_fee_bps: float,
    slippage_ticks: bool = False,
) -> NautilusRun:
    """Backtest one blueprint line (loaded via ``ImportableStrategyConfig`` / ``StrategyFactory``) on the
    symbol's ``bars`` (already rounded to ``price_precision``) and ``events``. ``slippage_ticks``: the venue's
    fill model slips every market fill by one tick (``FillModel(prob_slippage=1)``), else none."""
    strategy = create_strategy(line)
    config = strategy.rule
    symbol = line["lineage"]["symbol"]
    venue = config.instrument_id.venue.value
    instrument = make_instrument(symbol, venue, price_precision, taker_fee_bps)
    if instrument.id != config.instrument_id:
        raise ValueError(f"blueprint instrument {config.instrument_id} is not {instrument.id}")
    bar_ns = strategy.bar_ns
    engine = BacktestEngine(
        BacktestEngineConfig(trader_id=TraderId("PARITY-001"), logging=LoggingConfig(bypass_logging=True),
                             run_analysis=False)
    )  # fmt: skip
    try:
        engine.add_venue(
            venue=Venue(venue),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            starting_balances=[Money(config.capital, USDT)],
            base_currency=USDT,
            default_leverage=Decimal(10),
            fill_model=FillModel(prob_slippage=1.0 if slippage_ticks else 0.0, random_seed=0),
        )
        engine.add_instrument(instrument)
        sym_bars = bars.filter(pl.col("symbol") == symbol)
        if sym_bars.height == 0:
            raise ValueError(f"no bars for {symbol}")
        engine.add_data(nautilus_bars(sym_bars, config.bar_type, instrument, bar_ns))
        signals = registry_events(events, states, symbol, instrument.id, [config.state_column], bar_ns)
        if signals:
            engine.add_data(signals, client_id=ClientId(config.signal_client_id.value))
        engine.add_data(opening_prints(sym_bars, instrument))
        engine.add_strategy(strategy)
        engine.run()
        account = engine.cache.account_for_venue(Venue(venue))
        pnl = float(account.balance_total(USDT).as_decimal()) - config.capital
        rows = []
        commissions = 0.0
        for order in engine.cache.orders():
            for event in order.events:
                if isinstance(event, OrderFilled):
                    fee = float(event.commission.as_decimal())
                    commissions += fee
                    rows.append({
                        "ts": event.ts_event // _NS_PER_MS,
                        "side": "buy" if event.order_side == OrderSide.BUY else "sell",
                        "qty": float(event.last_qty) * (1 if event.order_side == OrderSide.BUY else -1),
                        "price": float(event.last_px),
                        "fee": fee,
                    })  # fmt: skip
        fills = (
            pl.DataFrame(rows, schema={**FILL_COLUMNS, "ts": pl.Int64})
            if rows
            else pl.DataFrame(schema={**FILL_COLUMNS, "ts": pl.Int64})
        )
        fills = fills.with_columns(pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC")).sort("ts")
        open_position = float(engine.portfolio.net_position(instrument.id) or 0)
        return NautilusRun(
            fills=fills, pnl=pnl, commissions=commissions, open_position=open_position,
            late_events=strategy.late_events, entries=strategy.entries,
        )  # fmt: skip
    finally:
        engine.dispose()
