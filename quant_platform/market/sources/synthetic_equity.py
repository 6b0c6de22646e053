"""A deterministic synthetic daily equity panel: trading sessions, listings, delistings, splits and dividends.

The equity-panel mode of the synthetic market (source kind ``synthetic_equity``). Same config ⇒ the same
frames, in any process. It is the ground truth for the point-in-time universe: every listing, delisting
(with its delisting return), split and cash dividend it plants is returned by :meth:`listings` and
:meth:`corporate_actions`, and the prices it delivers are *raw* (unadjusted), as an exchange prints them.

Model
-----
- Sessions: weekdays from ``start`` to ``end`` minus fixed US-style holidays (New Year's Day, Independence
  Day and Christmas when on a weekday; MLK, Presidents', Memorial and Labor Day Mondays; Thanksgiving
  Thursday). A daily bar is stamped at 00:00 UTC of its session day (as :mod:`ohlcv_csv` stamps daily files).
- Total returns: ``r_i = beta_i m + s_i u_i`` with a market factor ``m`` (``market_drift``, ``market_vol``
  per session) and idiosyncratic noise; a stock that will go bankrupt drifts down by ``distress_drift`` per
  session over its last ``distress_sessions`` sessions (the losers a survivors-only panel hides).
- Listings: ``listing_share`` of the symbols list at a random session of the first half (the others trade
  from the first session). Delistings: ``delisting_share`` list out at a random session at least
  ``min_listed_sessions`` after listing; half are bankruptcies (delisting return -100 %), half takeovers
  (+10 % to +40 %, the premium paid in cash for the share after the last close).
- Dividends: ``dividend_share`` of the symbols pay quarterly (every 63 sessions from a random phase), a cash
  amount of ``yield/4 x`` the previous close (yield 1-4 %). On the ex-date the raw close falls by the cash.
- Splits: at ``splits_per_year`` per symbol, ratio 2:1 (most), 3:1, 3:2 or a 1:2 reverse split; the raw
  price divides by the ratio on the ex-date and the share volume multiplies by it. Never on a listing,
  delisting or dividend day.
- Raw close: ``close_t = (close_{t-1} (1 + r_t) - cash_t) / ratio_t``, so the CRSP-style total return
  ``ratio_t (close_t + cash_t / ratio_t) / close_{t-1}`` is exactly the planted ``1 + r_t``
  (:func:`~quant_platform.market.corporate_actions.apply_actions` recovers it). Open, high and low are
  noisy around the close; :meth:`daily_frame` adds a Yahoo-style backward ``adj_close``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from quant_platform.core.timeutil import parse_day
from quant_platform.market.corporate_actions import ACTION_SCHEMA, CorporateActions
from quant_platform.market.sources.tables import check_table, conform, empty_table
from quant_platform.market.universe import LISTING_SCHEMA, Listings

SPLIT_RATIOS = (2.0, 3.0, 1.5, 0.5)
SPLIT_WEIGHTS = (0.6, 0.15, 0.15, 0.1)
DIVIDEND_EVERY = 63  # sessions per quarter


@dataclass(frozen=True)
class SyntheticEquityConfig:
    """Everything that determines the panel (with the symbols and the seed)."""

    symbols: tuple[str, ...] = tuple(f"EQ{i:03d}" for i in range(20))
    seed: int = 7
    start: str = "2015-01-01"
    end: str = "2016-12-31"
    market_drift: float = 0.0003
    market_vol: float = 0.01
    idio_vol_range: tuple[float, float] = (0.01, 0.025)
    listing_share: float = 0.2
    delisting_share: float = 0.15
    min_listed_sessions: int = 20
    distress_sessions: int = 40
    distress_drift: float = -0.01
    dividend_share: float = 0.5
    splits_per_year: float = 0.3

    def __post_init__(self) -> None:
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must be a non-empty list of distinct names")
        if parse_day(self.end) < parse_day(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        for name in ("listing_share", "delisting_share", "dividend_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (0 = Monday) of a month; n = -1 is the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def holidays(year: int) -> set[date]:
    """The panel's market holidays of ``year`` (weekend dates are closed anyway)."""
    return {
        date(year, 1, 1),
        _nth_weekday(year, 1, 0, 3),
        _nth_weekday(year, 2, 0, 3),
        _nth_weekday(year, 5, 0, -1),
        date(year, 7, 4),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 11, 3, 4),
        date(year, 12, 25),
    }


def sessions(start: str | date, end: str | date) -> list[date]:
    """Trading sessions from ``start`` to ``end`` (inclusive): weekdays that are not holidays."""
    first, last = parse_day(start), parse_day(end)
    closed = {h for y in range(first.year, last.year + 1) for h in holidays(y)}
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if d.weekday() < 5 and d not in closed]


def _seed(config: SyntheticEquityConfig) -> np.random.Generator:
    # The symbols and span are part of the seed, so two panels never share draws by accident.
    digest = hashlib.sha256("|".join([*config.symbols, config.start, config.end]).encode()).digest()
    return np.random.default_rng([config.seed, int.from_bytes(digest[:8], "little")])


class SyntheticEquityMarket:
    """:class:`~quant_platform.market.sources.base.MarketDataSource` for a synthetic daily stock panel."""

    def __init__(self, config: SyntheticEquityConfig | None = None):
        self.config = config or SyntheticEquityConfig()
        self._generated: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None = None
        self._by_day: dict[date, pl.DataFrame] | None = None

    @property
    def name(self) -> str:
        return "synthetic_equity"

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.config.symbols

    # ---- ground truth ----------------------------------------------------------------------------------
    def daily_frame(self) -> pl.DataFrame:
        """Every bar: ``symbol, ts, open, high, low, close, volume`` (raw), ``total_return`` (the planted one,
        null on a listing day) and ``adj_close`` (backward adjusted, Yahoo convention), sorted by symbol, ts."""
        return self._generate()[0]

    def listings(self) -> pl.DataFrame:
        """The planted listings (:class:`~quant_platform.market.universe.Listings`)."""
        return self._generate()[1]

    def corporate_actions(self) -> pl.DataFrame:
        """The planted splits and dividends (:class:`~quant_platform.market.corporate_actions.CorporateActions`)."""
        return self._generate()[2]

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        """``perp_bars``: the session's daily bars (none on a closed day); every other raw table is empty."""
        check_table(table)
        if table != "perp_bars":
            return empty_table(table)
        if self._by_day is None:
            bars = (
                self.daily_frame()
                .with_columns(
                    pl.lit(None, dtype=pl.Float64).alias(c)
                    for c in ("quote_volume", "taker_buy_volume", "taker_buy_quote_volume")
                )
                .with_columns(pl.lit(None, dtype=pl.Int64).alias("trades"))
            )
            bars = conform("perp_bars", bars.sort("ts", "symbol")).with_columns(
                pl.col("ts").dt.date().alias("_d")
            )
            self._by_day = {k[0]: v.drop("_d") for k, v in bars.partition_by("_d", as_dict=True).items()}
        part = self._by_day.get(parse_day(day))
        return empty_table(table) if part is None else part.clone()

    # ---- generation ------------------------------------------------------------------------------------
    def _generate(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        if self._generated is None:
            self._generated = self._simulate()
        return self._generated

    def _simulate(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        cfg = self.config
        rng = _seed(cfg)
        days = sessions(cfg.start, cfg.end)
        n_days, n_sym = len(days), len(cfg.symbols)
        if n_days < 2:
            raise ValueError(f"the panel {cfg.start}..{cfg.end} has fewer than two sessions")
        # listings and delistings (session indices, inclusive)
        listed = np.where(
            rng.random(n_sym) < cfg.listing_share, rng.integers(1, max(n_days // 2, 2), n_sym), 0
        )
        room = n_days - 1 - (listed + cfg.min_listed_sessions)
        delists = (rng.random(n_sym) < cfg.delisting_share) & (room > 0)
        last = np.where(
            delists,
            listed + cfg.min_listed_sessions + (rng.random(n_sym) * np.maximum(room, 1)).astype(np.int64),
            n_days - 1,
        )
        bankrupt = delists & (rng.random(n_sym) < 0.5)
        delisting_return = np.where(bankrupt, -1.0, rng.uniform(0.10, 0.40, n_sym))
        # returns
        beta = rng.uniform(0.6, 1.4, n_sym)
        idio = rng.uniform(*cfg.idio_vol_range, n_sym)
        market = cfg.market_drift + cfg.market_vol * rng.standard_normal(n_days)
        ret = beta[None, :] * market[:, None] + idio[None, :] * rng.standard_normal((n_days, n_sym))
        t = np.arange(n_days)[:, None]
        distress = bankrupt[None, :] & (t > last[None, :] - cfg.distress_sessions) & (t <= last[None, :])
        ret = np.maximum(ret + np.where(distress, cfg.distress_drift, 0.0), -0.9)
        alive = (t >= listed[None, :]) & (t <= last[None, :])
        # dividends and splits (never on a listing or delisting day, never both on one day)
        payer = rng.random(n_sym) < cfg.dividend_share
        phase = rng.integers(0, DIVIDEND_EVERY, n_sym)
        dividend_yield = rng.uniform(0.01, 0.04, n_sym)
        pays = payer[None, :] & ((t - phase[None, :]) % DIVIDEND_EVERY == 0)
        inner = alive & (t > listed[None, :]) & (t < last[None, :])
        pays &= inner
        splits = inner & ~pays & (rng.random((n_days, n_sym)) < cfg.splits_per_year / 252.0)
        ratio_pick = rng.choice(len(SPLIT_RATIOS), size=(n_days, n_sym), p=SPLIT_WEIGHTS)
        ratio = np.where(splits, np.asarray(SPLIT_RATIOS)[ratio_pick], 1.0)
        # raw prices
        close = np.full((n_days, n_sym), np.nan)
        cash = np.zeros((n_days, n_sym))
        price = rng.uniform(10.0, 200.0, n_sym)
        for k in range(n_days):
            start_here = listed == k
            trading = alive[k] & ~start_here
            grown = price * (1.0 + ret[k])
            cash[k] = np.where(pays[k] & trading, price * dividend_yield / 4.0, 0.0)
            price = np.where(trading, (grown - cash[k]) / ratio[k], price)
            close[k] = np.where(alive[k], price, np.nan)
        noise = idio[None, :] * rng.standard_normal((n_days, n_sym))
        prev_close = np.vstack([close[:1], close[:-1]]) / ratio
        open_ = np.where(t == listed[None, :], close * np.exp(noise), prev_close * np.exp(0.3 * noise))
        wick = idio[None, :] * np.abs(rng.standard_normal((2, n_days, n_sym)))
        high = np.maximum(open_, close) * np.exp(0.5 * wick[0])
        low = np.minimum(open_, close) * np.exp(-0.5 * wick[1])
        shares = np.cumprod(ratio, axis=0)
        volume = np.round(1e6 * shares * np.exp(0.5 * rng.standard_normal((n_days, n_sym))))
        # Yahoo's backward adjustment: the product over later events of 1/ratio (split) and 1 - cash/prev close
        step = np.where(splits, 1.0 / ratio, 1.0) * np.where(
            cash > 0, 1.0 - cash / np.where(cash > 0, prev_close * ratio, 1.0), 1.0
        )
        later = np.vstack([np.cumprod(step[::-1], axis=0)[::-1][1:], np.ones((1, n_sym))])
        epoch_ms = np.array(days, dtype="datetime64[D]").astype("datetime64[ms]").astype(np.int64)
        sym_idx, day_idx = np.nonzero(alive.T)
        frame = pl.DataFrame(
            {
                "symbol": pl.Series(cfg.symbols, dtype=pl.String).gather(sym_idx),
                "ts": pl.Series(epoch_ms[day_idx]).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
                "open": open_[day_idx, sym_idx],
                "high": high[day_idx, sym_idx],
                "low": low[day_idx, sym_idx],
                "close": close[day_idx, sym_idx],
                "volume": volume[day_idx, sym_idx],
                "total_return": np.where(day_idx == listed[sym_idx], np.nan, ret[day_idx, sym_idx]),
                "adj_close": close[day_idx, sym_idx] * later[day_idx, sym_idx],
            }
        ).with_columns(pl.col("total_return").fill_nan(None))
        listings = pl.DataFrame(
            {
                "symbol": list(cfg.symbols),
                "listed": [days[i] for i in listed],
                "delisted": [days[i] if d else None for i, d in zip(last, delists, strict=True)],
                "delisting_return": [
                    float(r) if d else None for r, d in zip(delisting_return, delists, strict=True)
                ],
                "reason": [
                    ("bankruptcy" if b else "takeover") if d else None
                    for b, d in zip(bankrupt, delists, strict=True)
                ],
            },
            schema=LISTING_SCHEMA,
        )
        ev_day, ev_sym = np.nonzero(splits | (cash > 0))
        actions = pl.DataFrame(
            {
                "symbol": pl.Series(cfg.symbols, dtype=pl.String).gather(ev_sym),
                "ex_date": [days[i] for i in ev_day],
                "action": np.where(splits[ev_day, ev_sym], "split", "dividend"),
                "ratio": np.where(splits[ev_day, ev_sym], ratio[ev_day, ev_sym], np.nan),
                "cash": np.where(splits[ev_day, ev_sym], np.nan, cash[ev_day, ev_sym]),
                "source": ["synthetic"] * len(ev_day),
            },
            schema=ACTION_SCHEMA,
            nan_to_null=True,
        ).sort("symbol", "ex_date")
        return frame, Listings.validate(listings.sort("symbol")), CorporateActions.validate(actions)
