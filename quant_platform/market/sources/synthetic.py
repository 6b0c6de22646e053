"""A deterministic, seeded synthetic crypto market: perp and spot 1m klines, funding, open interest, liquidations.

The default data source of the platform. Same config + same day ⇒ byte-identical frames, in any process and
whatever other days were generated before. It injects documented defects (so cleaning is exercised) and can
plant known trigger → forward-return effects (so research code can be tested against ground truth).

Model
-----
Log prices of N symbols follow ``r_i = s_i * (sqrt(rho_i) * m + sqrt(1 - rho_i) * u_i) + jumps + planted moves``:
a market factor ``m`` and idiosyncratic parts ``u_i`` (correlated returns), where ``s_i`` is the symbol's daily
volatility (annual vol / sqrt(365)) and ``rho_i`` its share of variance explained by the market.

Two levels of time make every day cheap and independent to generate:

1. **Day-level state recursion** (a loop over days from ``origin_date``, a few NumPy draws per day, cached):
   state(k) = (log price anchor at 00:00, GARCH variance multiplier ``h``, calm/volatile regime, basis, log
   open interest). The draws of day k (a generator seeded by ``(seed, k)``) fix the day's total diffusion
   return (``sqrt(v_k) * z``, ``v_k = h_k × regime multiplier``), its jumps (count, size, minute), its planted
   events, and the basis / OI innovations; state(k+1) follows from state(k) and those draws. ``h`` is a daily
   GARCH(1,1) on the market shock (``h' = (1 - a - b) + a h z² + b h``, mean 1), the regime a two-state Markov
   chain whose volatile state multiplies variance and jump intensity.
2. **Intraday path** for day k (generators seeded by ``(seed, k, stream)``): per-minute variance is
   ``seasonality(minute) × exp(2 × log-vol)`` with the log-vol an AR(1) (stochastic volatility: clustering
   within the day; idiosyncratic log-vols share ``logvol_market_share`` of the market's), scaled so the
   day's variance is exactly ``v_k``. Gaussian minute shocks are *bridged* to the day's drawn total
   (``e_t - w_t (sum(e) - total)``, ``w_t`` the minute's variance share); because the total is itself drawn
   N(0, v_k) independently, the bridged path has exactly the law of an unconditioned walk given the vol path:
   the bridge adds no predictable drift. Jumps and planted moves (sizes fixed at day level) are then added,
   so the day ends exactly at the next day's anchor: day d's first open equals day d-1's last close.

Generating day d costs one cheap recursion step per day since the last cached state (well under a
millisecond each: a cold start two years after the origin adds about half a second), then O(N × 1440)
vectorised work for the day itself, whatever d is.

Other tables and columns
------------------------
- OHLC: open/close are the path at minute boundaries; high/low extend max/min(open, close) by half-normal
  excursions of the minute's volatility. Volume ∝ (minute vol / typical vol)^elasticity × (1 + coupling ×
  |z|) × log-normal noise (volume tied to volatility and to the move; seasonal through the vol profile);
  quote volume = volume × (O+H+L+C)/4; trades = volume / typical trade size; the taker-buy share is
  ``0.5 + taker_buy_sensitivity × tanh(z)`` plus noise (buyers lift offers on up moves).
- Basis ``b`` (a fraction): an Ornstein–Uhlenbeck process (mean ``basis_mean_bps``, stationary sd
  ``basis_sd_bps``, half-life ``basis_half_life_minutes``); its day-end value is a day-level state and the
  intraday OU path is conditioned on it exactly. Spot = perp / (1 + b); spot volume = perp volume ×
  ``spot_volume_ratio`` × noise.
- Funding, printed at 00:00, 08:00 and 16:00 UTC: ``funding_base + funding_basis_coef × (mean basis over
  the previous 8h − basis mean) + noise``; the 00:00 print uses the previous day's 16:00–24:00 basis (the
  previous day's basis path is regenerated, it is cheap). ``mark_price`` is the perp price at the print.
- Open interest every 5 minutes: a log random walk (daily vol ``oi_daily_vol``) bridged between day
  anchors, which drops by ``oi_liquidation_drop × |jump| / jump_size_sigmas`` at every jump (a liquidation
  wave); the drops are known at day level, so OI is continuous across days too.
- Thin spells (ground truth in :meth:`SyntheticMarket.thin_spells`): ``Poisson(thin_spells_per_day)``
  spells per symbol a day, starting at a uniform minute and lasting ``max(15, Exp(thin_spell_mean_minutes))``
  minutes (cut at the day's end), in which volume (hence quote volume, trades, taker volume and spot volume)
  is multiplied by a factor drawn log-uniformly in ``thin_volume_range``: near-empty bars that fail the
  volume filter of cleaning, and days whose volume is far from constant. Their own random stream: with
  ``thin_spells_per_day=0`` every other value of the market is unchanged.
- Liquidations: every minute whose move exceeds ``liquidation_threshold_sigmas`` local sigmas prints
  ``1 + Poisson(|z| - threshold)`` forced orders: SELL (longs liquidated) on down moves at the bar's low side,
  BUY (shorts liquidated) on up moves at the high side; qty grows with the move.

Injected defects (ground truth in :meth:`SyntheticMarket.injected_defects`)
-----------------------------------------------------------------------
Perp and spot bars (independently): runs of missing minutes (``gap_rate`` of minutes on average, runs of
mean length ``gap_mean_run``); and invalid rows at ``invalid_rate`` per row, of kinds missing_price,
nonpositive_price, high_below_low, ohlc_inconsistent, negative_volume (a row modified in place; its minute
therefore has no valid bar), duplicate_ts (a perturbed copy placed after the original) and ts_outside_day
(a copy stamped one day earlier or later). Funding, open interest and liquidations get defects at
``aux_defect_rate`` per row: missing/invalid values, duplicates, rows stamped outside the day. The kind
names are the cleaning reasons of :mod:`quant_platform.market.quarantine`. Defects never change the
underlying world (a modified row is replaced, a copy is added).

Planted effects (ground truth in :meth:`SyntheticMarket.planted_events`)
---------------------------------------------------------------------
Each :class:`PlantedEffect` fires ``Poisson(rate_per_day)`` times a day for its symbol. The trigger is
observable at the close of the 5m *event bar* ``ts`` and is followed by a drift of ``size_bps`` (in the
event's ``direction``: +1 up, -1 down) spread evenly over the next ``horizon_bars`` 5m bars, so the expected
log return from the event bar's close to ``horizon_bars`` bars later is ``direction × size_bps``:

- ``vol_shock``: a ``trigger_sigmas`` move (in the day's average 1m sigma) inside one 1m bar, with volume ×
  ``volume_burst``; trigger sign random; drift in the shock's sign (continuation) or against it (reversal).
- ``funding_extreme``: the 08:00 or 16:00 funding print is set to ``± funding_extreme``; the event bar is
  the one closing at the print; continuation = drift in the sign of the funding rate.
- ``oi_spike``: open interest jumps by ``oi_spike_fraction`` at a 5-minute snapshot while price moves 2
  average sigmas in the trigger's sign within the event bar; continuation = drift in that sign.

Events are placed so the drift ends inside the day. With no planted effects the world is null: nothing in
it predicts a drift after a trigger-like pattern.

Parameters and defaults (:class:`SyntheticConfig`)
-------------------------------------------------
- ``seed`` (7): the only source of randomness. ``symbols`` (BTC, ETH, SOL, BNB USDT perps): known names
  get built-in profiles (start price, annual vol 55–95%, market variance share 50–75%, volume, OI, in
  early-2024 magnitudes); other names get a stable profile derived from the name. ``origin_date``
  (2024-01-01): day 0 of the recursion, matching the platform's first daily partition. ``start_prices``:
  per-symbol overrides.
- Daily vol: ``garch_alpha`` 0.08 / ``garch_beta`` 0.88 (persistence 0.96: vol memory of weeks, typical
  daily crypto fits); ``regime_to_volatile`` 0.04 / ``regime_to_calm`` 0.20 (a volatile spell every ~25
  days lasting ~5); ``volatile_vol_multiplier`` 2.0 (variance).
- Intraday vol: ``intraday_logvol_persistence`` 0.99 per minute (half-life ~70 min: clustering at the
  1–10 minute lags research looks at); ``intraday_logvol_sd`` 0.5 (1m kurtosis ≈ 3e^{4·0.25} ≈ 8 before
  jumps, in line with liquid perps); ``logvol_market_share`` 0.7 (vol co-moves across coins);
  ``seasonality_amplitude`` 0.35 and ``us_open_bump`` 0.6 (busier US hours, a spike at 14:30 UTC, small
  bumps at funding times).
- Jumps: ``market_jumps_per_day`` 0.5 and ``idio_jumps_per_day`` 0.5 (× ``volatile_jump_multiplier`` 3
  when volatile), ``jump_size_sigmas`` 10 (a jump is ~10 mean 1m sigmas: a liquidation cascade).
- Volume: ``volume_vol_elasticity`` 1.0 (volume ∝ vol), ``volume_move_coupling`` 0.3, ``volume_noise_sd``
  0.35, ``taker_buy_sensitivity`` 0.25 (taker-buy share 25–75% with the move), ``spot_volume_ratio`` 0.4.
- Basis/funding: ``basis_mean_bps`` 3, ``basis_sd_bps`` 6, ``basis_half_life_minutes`` 240 (perps trade at
  a small, slowly varying premium); ``funding_base`` 1e-4 (Binance's 0.01%/8h), ``funding_basis_coef`` 0.5,
  ``funding_noise`` 2e-5.
- OI/liquidations: ``oi_daily_vol`` 0.04, ``oi_liquidation_drop`` 0.03, ``liquidation_threshold_sigmas`` 4.
- Defects: ``gap_rate`` 0.002, ``gap_mean_run`` 3, ``invalid_rate`` 0.0005, ``aux_defect_rate`` 0.01 —
  small enough that cleaned data is mostly complete, large enough that every day exercises cleaning.
- ``planted_effects`` (none): a tuple of :class:`PlantedEffect`; empty means a null world.
- Thin spells: ``thin_spells_per_day`` 0.5 per symbol, ``thin_spell_mean_minutes`` 120,
  ``thin_volume_range`` (0.01, 0.15): about one near-empty stretch every other day per coin, thin enough that
  its 5m bars fail the volume filter against a normal day's median (5%) and pass it against their own.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl
from scipy.signal import lfilter

from quant_platform.core.timeutil import MS_PER_DAY, MS_PER_MINUTE, TS_DTYPE, parse_day
from quant_platform.market import quarantine as q
from quant_platform.market.sources.base import RAW_TABLES

MINUTES = 1440
OI_STEP = 5  # minutes between open-interest snapshots (Binance metrics)
FUNDING_MINUTES = (0, 480, 960)
TRIGGERS = ("vol_shock", "funding_extreme", "oi_spike")
BAR_DEFECT_KINDS = (
    q.MISSING_PRICE,
    q.NONPOSITIVE_PRICE,
    q.HIGH_BELOW_LOW,
    q.OHLC_INCONSISTENT,
    q.NEGATIVE_VOLUME,
    q.DUPLICATE_TS,
    q.TS_OUTSIDE_DAY,
)
MISSING_BAR = "missing_bar"  # kind used in injected_defects for a minute removed by a gap

# Stream ids: each kind of randomness of a day has its own generator, so one never shifts another.
_DAY, _PATH, _BASIS, _VOLUME, _FUNDING, _OI, _LIQ = 1, 2, 3, 4, 5, 6, 7
_THIN = 8  # thin spells: a stream of their own, so turning them off leaves every other draw as it was
_DEFECT_STREAMS = {"perp_bars": 11, "spot_bars": 12, "funding": 13, "open_interest": 14, "liquidations": 15}

# Known symbols: (start price, annual vol, market variance share, mean 1m base volume, start open interest).
# Round numbers of the right order for early 2024; unknown symbols get a profile derived from their name.
_PROFILES: dict[str, tuple[float, float, float, float, float]] = {
    "BTCUSDT": (42_000.0, 0.55, 0.75, 150.0, 80_000.0),
    "ETHUSDT": (2_300.0, 0.65, 0.70, 1_500.0, 900_000.0),
    "SOLUSDT": (100.0, 0.95, 0.55, 25_000.0, 9_000_000.0),
    "BNBUSDT": (310.0, 0.60, 0.50, 3_000.0, 600_000.0),
}


@dataclass(frozen=True)
class PlantedEffect:
    """A known trigger → forward-drift effect planted into one symbol.

    ``trigger``: "vol_shock", "funding_extreme" or "oi_spike". ``horizon_bars``: 5m bars the drift spans.
    ``size_bps``: total drift (log return, basis points) over the horizon. ``rate_per_day``: mean events a day.
    ``direction``: "continuation" (drift in the trigger's sign) or "reversal" (against it).
    ``trigger_sigmas`` / ``volume_burst``: size of a vol_shock move (in the day's mean 1m sigma) and its
    volume multiplier. ``funding_extreme``: |funding rate| of a funding_extreme print (0.3% per 8h, ~30× the
    usual 0.01%). ``oi_spike_fraction``: relative open-interest jump of an oi_spike.
    """

    trigger: str
    symbol: str
    horizon_bars: int
    size_bps: float
    rate_per_day: float
    direction: str = "continuation"
    trigger_sigmas: float = 8.0
    volume_burst: float = 6.0
    funding_extreme: float = 0.003
    oi_spike_fraction: float = 0.08

    def __post_init__(self) -> None:
        if self.trigger not in TRIGGERS:
            raise ValueError(f"unknown planted trigger {self.trigger!r}; expected one of {TRIGGERS}")
        if self.direction not in ("continuation", "reversal"):
            raise ValueError(f"direction must be 'continuation' or 'reversal', got {self.direction!r}")
        if self.horizon_bars < 1 or self.rate_per_day < 0:
            raise ValueError("horizon_bars must be >= 1 and rate_per_day >= 0")
        # The drift must fit inside the day after the latest possible trigger.
        limit = 480 // 5 - 1 if self.trigger == "funding_extreme" else MINUTES // 5 - 2
        if self.horizon_bars > limit:
            raise ValueError(f"horizon_bars={self.horizon_bars} too long for {self.trigger} (max {limit})")


@dataclass(frozen=True)
class SyntheticConfig:
    """Every parameter of the synthetic market (see the module docstring for the model).

    Defaults aim at the stylised facts of liquid crypto perps in 2024 at 1m resolution, while keeping
    defects rare enough that cleaning statistics are readable.
    """

    seed: int = 7
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
    origin_date: str = "2024-01-01"  # day 0 of the state recursion; earlier days raise ValueError
    start_prices: tuple[tuple[str, float], ...] = ()  # (symbol, price) overrides of the built-in profiles
    # Daily volatility dynamics.
    garch_alpha: float = 0.08  # daily GARCH(1,1) reaction; alpha+beta=0.96 gives weeks-long vol memory
    garch_beta: float = 0.88
    regime_to_volatile: float = 0.04  # daily calm → volatile probability (a volatile spell every ~25 days)
    regime_to_calm: float = 0.20  # volatile spells last ~5 days
    volatile_vol_multiplier: float = 2.0  # variance multiplier in the volatile regime
    # Intraday volatility.
    intraday_logvol_persistence: float = 0.99  # AR(1) per minute: vol half-life ~70 minutes
    intraday_logvol_sd: float = 0.5  # stationary sd of log 1m vol: kurtosis of the mixture ≈ 3e^{4·0.25}
    logvol_market_share: float = 0.7  # share of an idiosyncratic log-vol path that is the market's
    seasonality_amplitude: float = 0.35  # daily cycle of vol, peak around 15:00 UTC (US hours)
    us_open_bump: float = 0.6  # extra vol around 14:30 UTC
    # Jumps.
    market_jumps_per_day: float = 0.5  # market-wide jumps a calm day (×3 in the volatile regime)
    idio_jumps_per_day: float = 0.5  # per symbol
    volatile_jump_multiplier: float = 3.0
    jump_size_sigmas: float = 10.0  # typical |jump| in the day's mean 1m sigma
    # Volume.
    volume_vol_elasticity: float = 1.0
    volume_move_coupling: float = 0.3
    volume_noise_sd: float = 0.35
    taker_buy_sensitivity: float = 0.25
    spot_volume_ratio: float = 0.4  # spot trades ~40% of perp volume
    # Basis and funding.
    basis_mean_bps: float = 3.0
    basis_sd_bps: float = 6.0
    basis_half_life_minutes: float = 240.0  # a few hours: mean-reverting, but persistent at 1m
    funding_base: float = 1e-4  # the 0.01% per 8h Binance baseline
    funding_basis_coef: float = 0.5
    funding_noise: float = 2e-5
    # Open interest and liquidations.
    oi_daily_vol: float = 0.04
    oi_liquidation_drop: float = 0.03  # fraction of OI wiped by a typical jump
    liquidation_threshold_sigmas: float = 4.0
    # Defects.
    gap_rate: float = 0.002  # fraction of minutes missing (per table, per symbol)
    gap_mean_run: float = 3.0  # mean length of a run of missing minutes
    invalid_rate: float = 0.0005  # invalid bar rows per row
    aux_defect_rate: float = 0.01  # defects per row of funding, open interest, liquidations
    planted_effects: tuple[PlantedEffect, ...] = field(default_factory=tuple)
    # Thin spells: hours of near-empty trading (ground truth in SyntheticMarket.thin_spells).
    thin_spells_per_day: float = 0.5  # per symbol: Poisson count of spells a day
    thin_spell_mean_minutes: float = 120.0  # exponential length (at least 15 minutes, cut at the day's end)
    thin_volume_range: tuple[float, float] = (0.01, 0.15)  # volume multiplier, log-uniform in this range

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must be a non-empty tuple of distinct names")
        parse_day(self.origin_date)
        for name, value in (("gap_rate", self.gap_rate), ("invalid_rate", self.invalid_rate)):
            if not 0.0 <= value < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {value}")
        if not 0 <= self.aux_defect_rate < 0.5:
            raise ValueError(f"aux_defect_rate must be in [0, 0.5), got {self.aux_defect_rate}")
        if self.gap_mean_run < 1:
            raise ValueError("gap_mean_run must be >= 1")
        low, high = self.thin_volume_range
        if self.thin_spells_per_day < 0 or self.thin_spell_mean_minutes <= 0 or not 0 < low <= high <= 1:
            raise ValueError(
                "thin spells need thin_spells_per_day >= 0, thin_spell_mean_minutes > 0 and "
                "0 < thin_volume_range[0] <= thin_volume_range[1] <= 1"
            )
        if self.garch_alpha < 0 or self.garch_beta < 0 or self.garch_alpha + self.garch_beta >= 1:
            raise ValueError("GARCH needs alpha, beta >= 0 and alpha + beta < 1")
        unknown = {p.symbol for p in self.planted_effects} - set(self.symbols)
        if unknown:
            raise ValueError(f"planted effects name symbols outside the universe: {sorted(unknown)}")
        overrides = {s for s, _ in self.start_prices}
        if overrides - set(self.symbols) or any(p <= 0 for _, p in self.start_prices):
            raise ValueError("start_prices must name universe symbols with positive prices")


@dataclass(frozen=True)
class _DayState:
    log_price: np.ndarray  # (N,) log perp price at 00:00
    h: float  # GARCH variance multiplier
    regime: int  # 0 calm, 1 volatile
    basis: np.ndarray  # (N,) basis fraction at 00:00
    log_oi: np.ndarray  # (N,) log open interest at 00:00


@dataclass(frozen=True)
class _DayPlan:
    """Everything about day k that the next day's state depends on (drawn from the day generator)."""

    variance: float  # v_k: the day's variance multiplier (GARCH × regime)
    z_market: float
    z_idio: np.ndarray  # (N,)
    shock_symbol: np.ndarray  # jumps and planted trigger moves: symbol index, minute, log move
    shock_minute: np.ndarray
    shock_move: np.ndarray
    shock_oi_drop: np.ndarray  # log OI change at the shock (<= 0 for liquidation waves, > 0 for oi_spike)
    shock_burst: np.ndarray  # volume multiplier at the shock minute
    drift_symbol: np.ndarray  # planted drifts: symbol index, first minute, minutes, total log move
    drift_start: np.ndarray
    drift_minutes: np.ndarray
    drift_move: np.ndarray
    funding_override: dict[tuple[int, int], float]  # (symbol index, print minute) → funding rate
    events: list[dict]  # planted-event ground truth rows
    next_state: _DayState


def _profile(symbol: str) -> tuple[float, float, float, float, float]:
    if symbol in _PROFILES:
        return _PROFILES[symbol]
    # A stable per-name profile (crc32 is process-independent, unlike hash()).
    u = np.random.default_rng(zlib.crc32(symbol.encode())).random(3)
    price = float(10 ** (-1 + 4 * u[0]))
    return (price, 0.7 + 0.6 * u[1], 0.4 + 0.3 * u[2], 2e5 / price, 5e6 / price)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


class SyntheticMarket:
    """The seeded synthetic market as a :class:`~quant_platform.market.sources.base.MarketDataSource`."""

    def __init__(self, config: SyntheticConfig | None = None) -> None:
        self.config = config or SyntheticConfig()
        cfg = self.config
        self._symbols = tuple(cfg.symbols)
        n = len(self._symbols)
        profiles = [_profile(s) for s in self._symbols]
        overrides = dict(cfg.start_prices)
        start = np.array([overrides.get(s, p[0]) for s, p in zip(self._symbols, profiles, strict=True)])
        self._daily_vol = np.array([p[1] for p in profiles]) / math.sqrt(365.0)
        self._rho = np.array([p[2] for p in profiles])
        self._base_volume = np.array([p[3] for p in profiles])
        self._trade_size = self._base_volume / 40.0  # ~40 trades a typical minute
        self._origin = parse_day(cfg.origin_date)
        self._basis_mean = cfg.basis_mean_bps * 1e-4
        self._basis_phi = math.exp(-math.log(2.0) / cfg.basis_half_life_minutes)
        self._basis_sd = cfg.basis_sd_bps * 1e-4
        self._season = self._seasonality()
        self._states: list[_DayState] = [
            _DayState(
                log_price=np.log(start),
                h=1.0,
                regime=0,
                basis=np.full(n, self._basis_mean),
                log_oi=np.log(np.array([p[4] for p in profiles])),
            )
        ]
        self._cache: OrderedDict[int, dict[str, pl.DataFrame]] = OrderedDict()

    # -- MarketDataSource ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "synthetic"

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        """Raw rows of ``table`` for UTC ``day`` (with the injected defects)."""
        if table not in RAW_TABLES:
            raise ValueError(f"unknown table {table!r}; expected one of {RAW_TABLES}")
        return self._day(day)[table]

    def injected_defects(self, day: str) -> pl.DataFrame:
        """Ground truth of the defects in ``day``'s raw tables: table, symbol, ts, kind.

        ``kind`` is a cleaning reason (:mod:`quant_platform.market.quarantine`) for a defective row present
        in the raw table, or ``missing_bar`` for a perp/spot minute removed by a gap.
        """
        return self._day(day)["defects"]

    def planted_events(self, day: str) -> pl.DataFrame:
        """Planted trigger events of ``day``: symbol, ts (5m event bar open), trigger_ts, trigger,
        horizon_bars, size_bps, direction (+1/-1: sign of the planted drift), mode, trigger_sign."""
        k = self._day_index(day)
        plan = self._plan(k, self._state(k))
        schema = {
            "symbol": pl.String,
            "ts": TS_DTYPE,
            "trigger_ts": TS_DTYPE,
            "trigger": pl.String,
            "horizon_bars": pl.Int64,
            "size_bps": pl.Float64,
            "direction": pl.Int8,
            "mode": pl.String,
            "trigger_sign": pl.Int8,
        }
        if not plan.events:
            return pl.DataFrame(schema=schema)
        day_ms = self._day_ms(k)
        rows = [
            {
                **e,
                "ts": day_ms + e["ts"] * MS_PER_MINUTE,
                "trigger_ts": day_ms + e["trigger_ts"] * MS_PER_MINUTE,
            }
            for e in plan.events
        ]
        frame = pl.DataFrame(rows).with_columns(pl.col("ts", "trigger_ts").cast(TS_DTYPE))
        return frame.select([pl.col(c).cast(t) for c, t in schema.items()]).sort("symbol", "ts")

    def thin_spells(self, day: str) -> pl.DataFrame:
        """Thin spells of ``day``: symbol, start (first minute), end (exclusive), volume_factor (the multiplier
        applied to the perp volume of every minute in ``[start, end)``; spot volume follows perp volume)."""
        k = self._day_index(day)
        symbol, start, end, factor = self._thin_spell_draws(k)
        day_ms = self._day_ms(k)
        frame = pl.DataFrame(
            {
                "symbol": [self._symbols[i] for i in symbol],
                "start": day_ms + start * MS_PER_MINUTE,
                "end": day_ms + end * MS_PER_MINUTE,
                "volume_factor": factor,
            },
            schema={"symbol": pl.String, "start": pl.Int64, "end": pl.Int64, "volume_factor": pl.Float64},
        )
        return frame.with_columns(pl.col("start", "end").cast(TS_DTYPE)).sort("symbol", "start")

    def _thin_spell_draws(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(symbol index, start minute, end minute, volume factor) of day ``k``'s thin spells: hours in which
        a coin barely trades (an exchange's quiet night, a halted market maker), the condition under which the
        volume filter of cleaning flags bars and a volume median that read later bars would change flags."""
        cfg = self.config
        rng = _rng(cfg.seed, k, _THIN)
        n = len(self._symbols)
        counts = rng.poisson(cfg.thin_spells_per_day, n)
        symbol = np.repeat(np.arange(n), counts)
        start = rng.integers(0, MINUTES - 15, symbol.size)
        length = np.maximum(15, np.rint(rng.exponential(cfg.thin_spell_mean_minutes, symbol.size)))
        end = np.minimum(start + length.astype(np.int64), MINUTES)
        low, high = cfg.thin_volume_range
        factor = np.exp(rng.uniform(math.log(low), math.log(high), symbol.size))
        return symbol, start, end, factor

    def _thin_multiplier(self, k: int) -> np.ndarray:
        """(N, 1440) volume multiplier of day ``k``: the spell's factor inside a spell (the smallest where
        spells overlap), 1 elsewhere."""
        multiplier = np.ones((len(self._symbols), MINUTES))
        for i, start, end, factor in zip(*self._thin_spell_draws(k), strict=True):
            multiplier[i, start:end] = np.minimum(multiplier[i, start:end], factor)
        return multiplier

    # -- day-level state recursion -------------------------------------------------------------------
    def _day_index(self, day: str | date) -> int:
        k = (parse_day(day) - self._origin).days
        if k < 0:
            raise ValueError(f"day {day} is before the synthetic market's origin_date {self._origin}")
        return k

    def _day_ms(self, k: int) -> int:
        return (self._origin.toordinal() - date(1970, 1, 1).toordinal() + k) * MS_PER_DAY

    def _state(self, k: int) -> _DayState:
        while len(self._states) <= k:  # a cheap per-day loop; states are cached
            j = len(self._states) - 1
            self._states.append(self._plan(j, self._states[j]).next_state)
        return self._states[k]

    def _plan(self, k: int, state: _DayState) -> _DayPlan:
        cfg = self.config
        n = len(self._symbols)
        rng = _rng(cfg.seed, k, _DAY)
        variance = state.h * (cfg.volatile_vol_multiplier if state.regime else 1.0)
        z_market = float(rng.standard_normal())
        z_idio = rng.standard_normal(n)
        minute_sd = self._daily_vol * math.sqrt(variance / MINUTES)  # the day's mean 1m sigma per symbol
        jump_mult = cfg.volatile_jump_multiplier if state.regime else 1.0

        # Jumps: market-wide (every symbol, same sign) and idiosyncratic; each is a liquidation wave.
        n_market = int(rng.poisson(cfg.market_jumps_per_day * jump_mult))
        m_size = (
            rng.choice([-1.0, 1.0], n_market)
            * cfg.jump_size_sigmas
            * np.exp(0.3 * rng.standard_normal(n_market))
        )
        m_minute = rng.integers(0, MINUTES, n_market)
        n_idio = rng.poisson(cfg.idio_jumps_per_day * jump_mult, n)
        i_symbol = np.repeat(np.arange(n), n_idio)
        i_size = (
            rng.choice([-1.0, 1.0], i_symbol.size)
            * cfg.jump_size_sigmas
            * np.exp(0.3 * rng.standard_normal(i_symbol.size))
        )
        i_minute = rng.integers(0, MINUTES, i_symbol.size)
        jump_symbol = np.concatenate([np.tile(np.arange(n), n_market), i_symbol])
        jump_sigmas = np.concatenate([np.repeat(m_size, n), i_size])
        jump_minute = np.concatenate([np.repeat(m_minute, n), i_minute])
        jump_move = jump_sigmas * minute_sd[jump_symbol]
        jump_oi = np.log1p(
            -np.minimum(0.5, cfg.oi_liquidation_drop * np.abs(jump_sigmas) / cfg.jump_size_sigmas)
        )

        basis_step = self._basis_phi**MINUTES
        z_basis = rng.standard_normal(n)
        z_oi = rng.standard_normal(n)
        u_regime = float(rng.random())

        # Planted events (drawn last, so a null world shares every other draw with its planted twin).
        sym_index = {s: i for i, s in enumerate(self._symbols)}
        p_symbol, p_minute, p_move, p_oi, p_burst = [], [], [], [], []
        d_symbol, d_start, d_minutes, d_move = [], [], [], []
        funding_override: dict[tuple[int, int], float] = {}
        events: list[dict] = []
        for effect in cfg.planted_effects:
            i = sym_index[effect.symbol]
            count = int(rng.poisson(effect.rate_per_day))
            span = 5 * effect.horizon_bars
            for _ in range(count):
                trigger_sign = 1 if rng.random() < 0.5 else -1
                drift_sign = trigger_sign if effect.direction == "continuation" else -trigger_sign
                if effect.trigger == "vol_shock":
                    minute = int(rng.integers(0, MINUTES - span - 5))
                    event_bar = minute - minute % 5
                    p_symbol.append(i)
                    p_minute.append(minute)
                    p_move.append(trigger_sign * effect.trigger_sigmas * minute_sd[i])
                    p_oi.append(0.0)
                    p_burst.append(effect.volume_burst)
                    trigger_minute = minute
                elif effect.trigger == "funding_extreme":
                    prints = [p for p in FUNDING_MINUTES[1:] if p + span <= MINUTES]
                    print_minute = prints[int(rng.integers(0, len(prints)))]
                    if (i, print_minute) in funding_override:
                        continue  # one extreme per print; a second draw at the same print is dropped
                    funding_override[(i, print_minute)] = trigger_sign * effect.funding_extreme
                    event_bar = print_minute - 5
                    trigger_minute = print_minute
                else:  # oi_spike: OI jumps at the snapshot closing the event bar, price moves inside it
                    snapshot = 5 * int(rng.integers(1, (MINUTES - span) // 5 + 1))
                    event_bar = snapshot - 5
                    p_symbol.append(i)
                    p_minute.append(snapshot - 1)
                    p_move.append(trigger_sign * 2.0 * minute_sd[i])
                    p_oi.append(math.log1p(effect.oi_spike_fraction))
                    p_burst.append(2.0)
                    trigger_minute = snapshot
                d_symbol.append(i)
                d_start.append(event_bar + 5)
                d_minutes.append(span)
                d_move.append(drift_sign * effect.size_bps * 1e-4)
                events.append(
                    {
                        "symbol": effect.symbol,
                        "ts": event_bar,
                        "trigger_ts": trigger_minute,
                        "trigger": effect.trigger,
                        "horizon_bars": effect.horizon_bars,
                        "size_bps": float(effect.size_bps),
                        "direction": drift_sign,
                        "mode": effect.direction,
                        "trigger_sign": trigger_sign,
                    }
                )

        shock_symbol = np.concatenate([jump_symbol, np.array(p_symbol, dtype=np.int64)]).astype(np.int64)
        shock_minute = np.concatenate([jump_minute, np.array(p_minute, dtype=np.int64)]).astype(np.int64)
        shock_move = np.concatenate([jump_move, np.array(p_move, dtype=float)])
        shock_oi = np.concatenate([jump_oi, np.array(p_oi, dtype=float)])
        shock_burst = np.concatenate([np.ones(jump_move.size), np.array(p_burst, dtype=float)])
        drift_symbol = np.array(d_symbol, dtype=np.int64)
        drift_move = np.array(d_move, dtype=float)

        # The next day's state: the exact endpoint of today's path.
        diffusion = (
            self._daily_vol
            * math.sqrt(variance)
            * (np.sqrt(self._rho) * z_market + np.sqrt(1.0 - self._rho) * z_idio)
        )
        log_price = (
            state.log_price
            + diffusion
            + np.bincount(shock_symbol, shock_move, n)
            + np.bincount(drift_symbol, drift_move, n)
        )
        basis_sd_day = self._basis_sd * math.sqrt(1.0 - basis_step**2)
        basis = self._basis_mean + basis_step * (state.basis - self._basis_mean) + basis_sd_day * z_basis
        log_oi = state.log_oi + cfg.oi_daily_vol * z_oi + np.bincount(shock_symbol, shock_oi, n)
        h = (
            (1.0 - cfg.garch_alpha - cfg.garch_beta)
            + cfg.garch_alpha * state.h * z_market**2
            + cfg.garch_beta * state.h
        )
        if state.regime:
            regime = 0 if u_regime < cfg.regime_to_calm else 1
        else:
            regime = 1 if u_regime < cfg.regime_to_volatile else 0
        return _DayPlan(
            variance=variance,
            z_market=z_market,
            z_idio=z_idio,
            shock_symbol=shock_symbol,
            shock_minute=shock_minute,
            shock_move=shock_move,
            shock_oi_drop=shock_oi,
            shock_burst=shock_burst,
            drift_symbol=drift_symbol,
            drift_start=np.array(d_start, dtype=np.int64),
            drift_minutes=np.array(d_minutes, dtype=np.int64),
            drift_move=drift_move,
            funding_override=funding_override,
            events=events,
            next_state=_DayState(log_price=log_price, h=float(h), regime=regime, basis=basis, log_oi=log_oi),
        )

    # -- intraday generation -------------------------------------------------------------------------
    def _seasonality(self) -> np.ndarray:
        cfg = self.config
        minute = np.arange(MINUTES, dtype=float)
        hours = minute / 60.0
        season = 1.0 + cfg.seasonality_amplitude * np.cos(2 * np.pi * (hours - 15.0) / 24.0)
        season += cfg.us_open_bump * np.exp(-(((minute - 870.0) / 25.0) ** 2))
        for p in (*FUNDING_MINUTES, MINUTES):  # activity around funding prints
            season += 0.3 * np.exp(-(((minute - p) / 6.0) ** 2))
        return season

    def _logvol(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """Stationary AR(1) log-vol paths, (rows, MINUTES)."""
        cfg = self.config
        phi, sd = cfg.intraday_logvol_persistence, cfg.intraday_logvol_sd
        eps = rng.standard_normal((rows, MINUTES)) * sd * math.sqrt(1.0 - phi**2)
        start = rng.standard_normal((rows, 1)) * sd
        path, _ = lfilter([1.0], [1.0, -phi], eps, axis=1, zi=phi * start)
        return path

    def _basis_path(self, k: int) -> np.ndarray:
        """Basis at the 1441 minute boundaries of day k, conditioned exactly on both day anchors."""
        start, end = self._state(k).basis, self._state(k + 1).basis
        n = start.size
        phi, mu = self._basis_phi, self._basis_mean
        rng = _rng(self.config.seed, k, _BASIS)
        eps = rng.standard_normal((n, MINUTES)) * self._basis_sd * math.sqrt(1.0 - phi**2)
        dev, _ = lfilter([1.0], [1.0, -phi], eps, axis=1, zi=(phi * (start - mu))[:, None])
        path = np.concatenate([(start - mu)[:, None], dev], axis=1) + mu
        t = np.arange(MINUTES + 1, dtype=float)
        weight = phi ** (MINUTES - t) * (1.0 - phi ** (2 * t)) / (1.0 - phi ** (2 * MINUTES))
        path += weight[None, :] * (end - path[:, -1])[:, None]
        path[:, -1] = end
        return path

    def _day(self, day: str) -> dict[str, pl.DataFrame]:
        k = self._day_index(day)
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        frames = self._generate(k)
        self._cache[k] = frames
        while len(self._cache) > 3:
            self._cache.popitem(last=False)
        return frames

    def _generate(self, k: int) -> dict[str, pl.DataFrame]:
        cfg = self.config
        n = len(self._symbols)
        state, plan = self._state(k), self._plan(k, self._state(k))
        end_state = self._state(k + 1)
        rng = _rng(cfg.seed, k, _PATH)

        # Per-minute variance shares (rows: market factor, then each idiosyncratic part), sum 1 per row.
        logvol = self._logvol(rng, n + 1)
        vol_share = cfg.logvol_market_share  # idiosyncratic vol co-moves with market vol
        logvol[1:] = math.sqrt(vol_share) * logvol[0] + math.sqrt(1.0 - vol_share) * logvol[1:]
        weight = self._season[None, :] * np.exp(2.0 * logvol)  # variance = seasonal profile × (e^logvol)²
        weight /= weight.sum(axis=1, keepdims=True)
        shocks = rng.standard_normal((n + 1, MINUTES)) * np.sqrt(weight)
        totals = np.concatenate([[plan.z_market], plan.z_idio])
        bridged = shocks - weight * (shocks.sum(axis=1) - totals)[:, None]  # each row now sums to its total

        scale = self._daily_vol * math.sqrt(plan.variance)
        loading_m, loading_i = np.sqrt(self._rho), np.sqrt(1.0 - self._rho)
        returns = scale[:, None] * (
            loading_m[:, None] * bridged[0][None, :] + loading_i[:, None] * bridged[1:]
        )
        local_sd = scale[:, None] * np.sqrt(
            loading_m[:, None] ** 2 * weight[0][None, :] + loading_i[:, None] ** 2 * weight[1:]
        )
        np.add.at(returns, (plan.shock_symbol, plan.shock_minute), plan.shock_move)
        for i, start, minutes, move in zip(
            plan.drift_symbol, plan.drift_start, plan.drift_minutes, plan.drift_move, strict=True
        ):  # one slice per planted event (a handful a day), not per bar
            returns[i, start : start + minutes] += move / minutes
        log_path = state.log_price[:, None] + np.concatenate(
            [np.zeros((n, 1)), np.cumsum(returns, axis=1)], axis=1
        )
        log_path[:, -1] = end_state.log_price  # exact anchor (removes float round-off)

        z = returns / local_sd
        burst = np.ones((n, MINUTES))
        np.multiply.at(burst, (plan.shock_symbol, plan.shock_minute), plan.shock_burst)

        vrng = _rng(cfg.seed, k, _VOLUME)
        open_ = np.exp(log_path[:, :-1])
        close = np.exp(log_path[:, 1:])
        excursion = np.abs(vrng.standard_normal((2, n, MINUTES))) * 0.6 * local_sd
        high = np.maximum(open_, close) * np.exp(excursion[0])
        low = np.minimum(open_, close) * np.exp(-excursion[1])
        typical_sd = (self._daily_vol / math.sqrt(MINUTES))[:, None]
        volume = (
            self._base_volume[:, None]
            * (local_sd / typical_sd) ** cfg.volume_vol_elasticity
            * (1.0 + cfg.volume_move_coupling * np.abs(z))
            * np.exp(cfg.volume_noise_sd * vrng.standard_normal((n, MINUTES)) - 0.5 * cfg.volume_noise_sd**2)
            * burst
        )
        volume *= self._thin_multiplier(k)
        share = np.clip(
            0.5 + cfg.taker_buy_sensitivity * np.tanh(z) + 0.05 * vrng.standard_normal((n, MINUTES)),
            0.02,
            0.98,
        )
        trade_noise = np.exp(0.2 * vrng.standard_normal((n, MINUTES)))
        perp = self._bars_arrays(k, open_, high, low, close, volume, share, trade_noise)

        basis = self._basis_path(k)
        spot_open, spot_close = open_ / (1.0 + basis[:, :-1]), close / (1.0 + basis[:, 1:])
        mid = 1.0 + 0.5 * (basis[:, :-1] + basis[:, 1:])
        spot_high = np.maximum(high / mid, np.maximum(spot_open, spot_close))
        spot_low = np.minimum(low / mid, np.minimum(spot_open, spot_close))
        spot_volume = (
            volume * cfg.spot_volume_ratio * np.exp(0.3 * vrng.standard_normal((n, MINUTES)) - 0.045)
        )
        spot_share = np.clip(share + 0.03 * vrng.standard_normal((n, MINUTES)), 0.02, 0.98)
        spot = self._bars_arrays(
            k, spot_open, spot_high, spot_low, spot_close, spot_volume, spot_share, trade_noise
        )

        funding = self._funding(k, plan, basis, log_path)
        open_interest = self._open_interest(k, plan, log_path)
        liquidations = self._liquidations(k, z, low, high, close)

        defects: list[pl.DataFrame] = []
        perp_frame = self._inject_bar_defects(k, "perp_bars", perp, defects)
        spot_frame = self._inject_bar_defects(k, "spot_bars", spot, defects)
        funding = self._inject_aux_defects(k, "funding", funding, "funding_rate", defects)
        open_interest = self._inject_aux_defects(k, "open_interest", open_interest, "open_interest", defects)
        liquidations = self._inject_aux_defects(k, "liquidations", liquidations, "qty", defects)
        defect_frame = pl.concat(defects).sort("table", "symbol", "ts", "kind")
        return {
            "perp_bars": perp_frame,
            "spot_bars": spot_frame,
            "funding": funding,
            "open_interest": open_interest,
            "liquidations": liquidations,
            "defects": defect_frame,
        }

    def _bars_arrays(
        self,
        k: int,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        share: np.ndarray,
        trade_noise: np.ndarray,
    ) -> dict[str, np.ndarray]:
        n = open_.shape[0]
        quote = volume * (open_ + high + low + close) / 4.0
        trades = np.maximum(1, np.rint(volume / self._trade_size[:, None] * trade_noise)).astype(np.int64)
        ts = self._day_ms(k) + np.arange(MINUTES, dtype=np.int64) * MS_PER_MINUTE
        return {
            "symbol": np.repeat(np.arange(n), MINUTES),
            "ts": np.tile(ts, n),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
            "quote_volume": quote.ravel(),
            "trades": trades.ravel(),
            "taker_buy_volume": (share * volume).ravel(),
            "taker_buy_quote_volume": (share * quote).ravel(),
        }

    def _funding(
        self, k: int, plan: _DayPlan, basis: np.ndarray, log_path: np.ndarray
    ) -> dict[str, np.ndarray]:
        cfg = self.config
        n = len(self._symbols)
        previous = self._basis_path(k - 1)[:, 960:MINUTES].mean(axis=1) if k > 0 else self._state(0).basis
        window_mean = np.stack(
            [previous, basis[:, 0:480].mean(axis=1), basis[:, 480:960].mean(axis=1)], axis=1
        )
        noise = _rng(cfg.seed, k, _FUNDING).standard_normal((n, 3)) * cfg.funding_noise
        rate = cfg.funding_base + cfg.funding_basis_coef * (window_mean - self._basis_mean) + noise
        for (i, minute), value in plan.funding_override.items():
            rate[i, FUNDING_MINUTES.index(minute)] = value
        minutes = np.array(FUNDING_MINUTES)
        return {
            "symbol": np.repeat(np.arange(n), 3),
            "ts": np.tile(self._day_ms(k) + minutes * MS_PER_MINUTE, n),
            "funding_rate": rate.ravel(),
            "mark_price": np.exp(log_path[:, minutes]).ravel(),
        }

    def _open_interest(self, k: int, plan: _DayPlan, log_path: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        n = len(self._symbols)
        steps = MINUTES // OI_STEP
        start, end = self._state(k).log_oi, self._state(k + 1).log_oi
        rng = _rng(cfg.seed, k, _OI)
        walk = np.concatenate(
            [
                np.zeros((n, 1)),
                np.cumsum(rng.standard_normal((n, steps)) * cfg.oi_daily_vol / math.sqrt(steps), axis=1),
            ],
            axis=1,
        )
        # Step changes at shocks: a shock in minute m moves every snapshot stamped after m.
        jumps = np.zeros((n, steps + 1))
        np.add.at(jumps, (plan.shock_symbol, plan.shock_minute // OI_STEP + 1), plan.shock_oi_drop)
        jumps = np.cumsum(jumps, axis=1)
        diffusion_target = end - start - jumps[:, -1]
        frac = np.arange(steps + 1) / steps
        path = start[:, None] + walk - frac[None, :] * (walk[:, -1] - diffusion_target)[:, None] + jumps
        snap = np.arange(steps) * OI_STEP
        oi = np.exp(path[:, :steps])
        return {
            "symbol": np.repeat(np.arange(n), steps),
            "ts": np.tile(self._day_ms(k) + snap * MS_PER_MINUTE, n),
            "open_interest": oi.ravel(),
            "open_interest_value": (oi * np.exp(log_path[:, snap])).ravel(),
        }

    def _liquidations(
        self, k: int, z: np.ndarray, low: np.ndarray, high: np.ndarray, close: np.ndarray
    ) -> dict[str, np.ndarray]:
        cfg = self.config
        rng = _rng(cfg.seed, k, _LIQ)
        thr = cfg.liquidation_threshold_sigmas
        sym, minute = np.nonzero(np.abs(z) > thr)
        zz = z[sym, minute]
        counts = 1 + rng.poisson(np.abs(zz) - thr)
        sym, minute, zz = np.repeat(sym, counts), np.repeat(minute, counts), np.repeat(zz, counts)
        down = zz < 0
        # Longs are liquidated near the lows of a down move, shorts near the highs of an up move.
        blend = rng.random(zz.size) * 0.5
        price = np.where(
            down,
            low[sym, minute] + blend * (close[sym, minute] - low[sym, minute]),
            high[sym, minute] - blend * (high[sym, minute] - close[sym, minute]),
        )
        qty = (
            self._base_volume[sym]
            * 0.05
            * (np.abs(zz) / thr) ** 2
            * np.exp(0.8 * rng.standard_normal(zz.size))
        )
        ts = (
            self._day_ms(k)
            + minute.astype(np.int64) * MS_PER_MINUTE
            + rng.integers(0, MS_PER_MINUTE, zz.size)
        )
        order = np.lexsort((ts, sym))
        return {
            "symbol": sym[order].astype(np.int64),
            "ts": ts[order],
            "side": np.where(down, "SELL", "BUY")[order],
            "price": price[order],
            "qty": qty[order],
            "notional": (price * qty)[order],
        }

    # -- defects ---------------------------------------------------------------------------------------
    def _to_frame(
        self, cols: dict[str, np.ndarray], nulls: dict[str, np.ndarray] | None = None
    ) -> pl.DataFrame:
        data: dict[str, pl.Series] = {}
        names = np.array(self._symbols, dtype=object)
        for name, values in cols.items():
            if name == "symbol":
                data[name] = pl.Series(name, names[values].tolist() if values.size else [], dtype=pl.String)
            elif name == "ts":
                data[name] = pl.Series(name, values.astype(np.int64)).cast(TS_DTYPE)
            elif name == "side":
                data[name] = pl.Series(name, values.tolist(), dtype=pl.String)
            elif name == "trades":
                data[name] = pl.Series(name, values.astype(np.int64))
            else:
                data[name] = pl.Series(name, values.astype(np.float64))
            if nulls and name in nulls and nulls[name].any():
                data[name] = data[name].scatter(np.nonzero(nulls[name])[0], None)
        return pl.DataFrame(data)

    def _inject_bar_defects(
        self, k: int, table: str, cols: dict[str, np.ndarray], defects: list[pl.DataFrame]
    ) -> pl.DataFrame:
        cfg = self.config
        rng = _rng(cfg.seed, k, _DEFECT_STREAMS[table])
        n = len(self._symbols)
        total = n * MINUTES
        # Gaps: runs of missing minutes, built from a start/stop difference array (no per-bar loop).
        n_runs = rng.poisson(cfg.gap_rate * MINUTES / cfg.gap_mean_run, n)
        run_symbol = np.repeat(np.arange(n), n_runs)
        run_start = rng.integers(0, MINUTES, run_symbol.size)
        run_length = rng.geometric(1.0 / cfg.gap_mean_run, run_symbol.size)
        marks = np.zeros((n, MINUTES + 1), dtype=np.int64)
        np.add.at(marks, (run_symbol, run_start), 1)
        np.add.at(marks, (run_symbol, np.minimum(run_start + run_length, MINUTES)), -1)
        missing = (np.cumsum(marks, axis=1)[:, :MINUTES] > 0).ravel()

        present = np.nonzero(~missing)[0]
        n_bad = int(rng.binomial(present.size, cfg.invalid_rate))
        bad = np.sort(rng.choice(present, n_bad, replace=False))
        kinds = np.array(BAR_DEFECT_KINDS)[rng.integers(0, len(BAR_DEFECT_KINDS), n_bad)]
        cols = {name: values.copy() for name, values in cols.items()}
        price_cols = ("open", "high", "low", "close")
        null_price = np.zeros(total, dtype=bool)
        which = rng.integers(0, 4, n_bad)
        for kind in BAR_DEFECT_KINDS:  # one vectorized edit per defect kind
            rows = bad[kinds == kind]
            col_pick = which[kinds == kind]
            if kind == q.MISSING_PRICE:
                null_price[rows] = True
                cols["close"][rows] = np.nan
            elif kind == q.NONPOSITIVE_PRICE:
                for j, name in enumerate(price_cols):
                    cols[name][rows[col_pick == j]] *= -1.0 if j % 2 else 0.0
            elif kind == q.HIGH_BELOW_LOW:
                cols["high"][rows], cols["low"][rows] = cols["low"][rows].copy(), cols["high"][rows].copy()
            elif kind == q.OHLC_INCONSISTENT:
                cols["close"][rows] = cols["high"][rows] * 1.002
            elif kind == q.NEGATIVE_VOLUME:
                cols["volume"][rows] *= -1.0
        copies_dup = bad[kinds == q.DUPLICATE_TS]
        copies_out = bad[kinds == q.TS_OUTSIDE_DAY]
        keep = ~missing
        keep[copies_dup] = True
        keep[copies_out] = True
        index = np.concatenate([np.nonzero(keep)[0], copies_dup, copies_out])
        out = {name: values[index] for name, values in cols.items()}
        n_keep = int(keep.sum())
        dup_slice = slice(n_keep, n_keep + copies_dup.size)
        out_slice = slice(n_keep + copies_dup.size, index.size)
        out["volume"][dup_slice] *= 1.5  # a perturbed re-delivery: identifiable, and the first copy wins
        shift = np.where(rng.random(copies_out.size) < 0.5, -MS_PER_DAY, MS_PER_DAY)
        out["ts"][out_slice] += shift
        order = np.lexsort((out["ts"], out["symbol"]))  # stable: an original precedes its duplicate
        out = {name: values[order] for name, values in out.items()}
        frame = self._to_frame(out, {"close": null_price[index][order]})

        gap_rows = np.nonzero(missing)[0]
        kinds_all = np.concatenate(
            [np.full(gap_rows.size, MISSING_BAR), kinds[~np.isin(kinds, [q.TS_OUTSIDE_DAY])]]
        )
        rows_all = np.concatenate([gap_rows, bad[kinds != q.TS_OUTSIDE_DAY]])
        ts_all = cols["ts"][rows_all]
        truth = {
            "symbol": np.concatenate([cols["symbol"][rows_all], cols["symbol"][copies_out]]),
            "ts": np.concatenate([ts_all, cols["ts"][copies_out] + shift]),
            "kind": np.concatenate([kinds_all, np.full(copies_out.size, q.TS_OUTSIDE_DAY)]),
        }
        defects.append(self._truth_frame(table, truth))
        return frame

    def _truth_frame(self, table: str, truth: dict[str, np.ndarray]) -> pl.DataFrame:
        names = np.array(self._symbols, dtype=object)
        return pl.DataFrame(
            {
                "table": pl.Series([table] * truth["kind"].size, dtype=pl.String),
                "symbol": pl.Series(names[truth["symbol"].astype(np.int64)].tolist(), dtype=pl.String),
                "ts": pl.Series(truth["ts"].astype(np.int64)).cast(TS_DTYPE),
                "kind": pl.Series(truth["kind"].tolist(), dtype=pl.String),
            }
        )

    def _inject_aux_defects(
        self, k: int, table: str, cols: dict[str, np.ndarray], value_col: str, defects: list[pl.DataFrame]
    ) -> pl.DataFrame:
        """Funding / OI / liquidations: a missing or invalid main value, a duplicate, a row outside the day."""
        rng = _rng(self.config.seed, k, _DEFECT_STREAMS[table])
        size = cols["ts"].size
        bad = np.nonzero(rng.random(size) < self.config.aux_defect_rate)[0]
        kind_options = {
            "funding": (q.MISSING_VALUE, q.NONPOSITIVE_PRICE, q.DUPLICATE_TS, q.TS_OUTSIDE_DAY),
            "open_interest": (q.MISSING_VALUE, q.NEGATIVE_VALUE, q.DUPLICATE_TS, q.TS_OUTSIDE_DAY),
            "liquidations": (q.MISSING_VALUE, q.NONPOSITIVE_VALUE, q.DUPLICATE_ROW, q.TS_OUTSIDE_DAY),
        }[table]
        kinds = np.array(kind_options)[rng.integers(0, len(kind_options), bad.size)]
        cols = {name: values.copy() for name, values in cols.items()}
        null_value = np.zeros(size, dtype=bool)
        for kind in kind_options:
            rows = bad[kinds == kind]
            if kind == q.MISSING_VALUE:
                null_value[rows] = True
            elif kind == q.NONPOSITIVE_PRICE:
                cols["mark_price"][rows] = 0.0
            elif kind == q.NEGATIVE_VALUE:
                cols[value_col][rows] *= -1.0
            elif kind == q.NONPOSITIVE_VALUE:
                cols[value_col][rows] = 0.0
                cols["notional"][rows] = 0.0
        copies = bad[np.isin(kinds, [q.DUPLICATE_TS, q.DUPLICATE_ROW, q.TS_OUTSIDE_DAY])]
        copy_kinds = kinds[np.isin(kinds, [q.DUPLICATE_TS, q.DUPLICATE_ROW, q.TS_OUTSIDE_DAY])]
        index = np.concatenate([np.arange(size), copies])
        out = {name: values[index] for name, values in cols.items()}
        out_nulls = np.concatenate([null_value, np.zeros(copies.size, dtype=bool)])
        tail = slice(size, index.size)
        shift = np.where(
            copy_kinds == q.TS_OUTSIDE_DAY, np.where(rng.random(copies.size) < 0.5, -1, 1) * MS_PER_DAY, 0
        )
        out["ts"][tail] += shift
        if table == "funding":  # a re-delivered print with a revised value: same (symbol, ts), different row
            out[value_col][tail] = np.where(
                copy_kinds == q.DUPLICATE_TS, out[value_col][tail] * 1.1, out[value_col][tail]
            )
        elif table == "open_interest":
            out[value_col][tail] = np.where(
                copy_kinds == q.DUPLICATE_TS, out[value_col][tail] * 1.01, out[value_col][tail]
            )
        order = np.lexsort((out["ts"], out["symbol"]))
        out = {name: values[order] for name, values in out.items()}
        frame = self._to_frame(out, {value_col: out_nulls[order]})
        truth = {
            "symbol": np.concatenate([cols["symbol"][bad[~np.isin(bad, copies)]], cols["symbol"][copies]]),
            "ts": np.concatenate([cols["ts"][bad[~np.isin(bad, copies)]], cols["ts"][copies] + shift]),
            "kind": np.concatenate([kinds[~np.isin(bad, copies)], copy_kinds]),
        }
        defects.append(self._truth_frame(table, truth))
        return frame
