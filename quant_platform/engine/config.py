"""The engine's one configuration object: every sizing, cost, risk and observation parameter of a run.

Nothing in the engine reads environment variables or globals; a run is fully determined by its inputs,
this frozen config (including ``seed``) and :data:`ENGINE_VERSION`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from quant_platform.core.hashing import canonical_hash

ENGINE_VERSION = "engine-0.1.0"

FillPrice = Literal["next_open", "next_close", "vwap_hlc3", "vwap_ohlc4"]
FILL_PRICES: tuple[str, ...] = ("next_open", "next_close", "vwap_hlc3", "vwap_ohlc4")
Liquidity = Literal["taker", "maker"]
Sizing = Literal["fixed_capital", "current_equity"]
SIZINGS: tuple[str, ...] = ("fixed_capital", "current_equity")
# the smallest non-zero fee or base slippage accepted, in bps; anything below reads as a fraction
MIN_NONZERO_BPS = 0.1
BPS_RATE_FIELDS = ("taker_fee_bps", "maker_fee_bps", "slippage_base_bps")


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Frozen run configuration. Units are in the names (``_bps``, ``_weight`` = fraction of capital).

    Sizing: a target weight ``w`` means a notional of ``w * initial_capital`` (fixed capital base, no
    compounding), so every symbol/column is priced independently and the replay stays closed-form.

    Execution: a target known at the close of bar ``t`` fills at bar ``t + entry_lag_bars + latency_bars``
    (or the first fillable bar after it) at ``fill_price``; ``entry_lag_bars >= 1`` always.

    Slippage (bps, paid adversely on each fill, see :mod:`quant_platform.engine.costs`)::

        slip_bps = min(max_slippage_bps, max(0,
            slippage_base_bps
            + slippage_vol_coef * range_bps                         # range_bps = 1e4 * (high - low) / close
            + slippage_impact_bps * sqrt(min(|qty| / volume, max_participation))
            + slippage_noise_bps * z))                              # z ~ N(0, 1) from the run's seeded generator

    ``high``, ``low``, ``close`` and ``volume`` are those of the last fillable bar *before* the fill bar (known
    when the order is sent), for every fill model.

    Risk: requests with ``|w| > hard_max_abs_weight`` or ``w < 0`` when ``allow_short`` is False are
    rejected (counted, the previous accepted target stays); accepted targets are then scaled down to
    ``max_symbol_weight`` per symbol and ``max_gross_weight`` across a portfolio's symbols. These caps bound
    *target weights at order time* only: held positions are not rebalanced as prices move, so marked
    exposure can drift above them (two 0.5 positions, one rising 4× → gross 2.5). The portfolio metric
    ``gross_cap_breach_steps`` counts the steps whose marked gross exposure exceeds ``max_gross_weight``.

    Fees: ``taker_fee_bps`` and ``maker_fee_bps`` are costs, both >= 0; maker rebates are refused.

    Basis points, not fractions: ``taker_fee_bps``, ``maker_fee_bps`` and ``slippage_base_bps`` are either 0
    or at least :data:`MIN_NONZERO_BPS` (0.1 bp = 0.001 %). A value in between is refused as a fraction typed
    where basis points are expected (``taker_fee_bps=0.002`` means 0.2 % = 20 bps, not 0.002 bp); no
    exchange quotes a fee that small, and a cost silently 10,000x too low would make any strategy look good.

    Sizing (``sizing``): ``"fixed_capital"`` (the default) sizes every order off ``initial_capital`` as above;
    ``"current_equity"`` compounds: a fill at bar ``e`` sizes ``w`` off the run's equity at the close of bar
    ``e - 1`` (the last equity known when the order goes out; the portfolio's equity across its symbols),
    ``units = w * equity[e - 1] / fill_price``. Weights, caps and the reported returns keep their meaning of a
    fraction of ``initial_capital`` for the metrics (see :mod:`quant_platform.engine.metrics`).
    """

    initial_capital: float = 1_000_000.0
    fill_price: FillPrice = "next_open"
    entry_lag_bars: int = 1
    latency_bars: int = 0
    liquidity: Liquidity = "taker"
    taker_fee_bps: float = 5.0
    maker_fee_bps: float = 2.0
    slippage_base_bps: float = 1.0
    slippage_vol_coef: float = 0.05
    slippage_impact_bps: float = 20.0
    slippage_noise_bps: float = 0.0
    max_participation: float = 1.0
    max_slippage_bps: float = 500.0
    max_symbol_weight: float = 1.0
    max_gross_weight: float = 1.0
    hard_max_abs_weight: float = 5.0
    allow_short: bool = True
    settle_funding: bool = True
    min_observation_days: int = 30
    min_completed_runs: int = 1
    daily_vol_floor: float = 1e-4
    seed: int = 0
    sizing: Sizing = "fixed_capital"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"EngineConfig.{f.name} must be finite, got {value!r}")
        if isinstance(self.entry_lag_bars, bool) or not isinstance(self.entry_lag_bars, int):
            raise ValueError(f"EngineConfig.entry_lag_bars must be an int, got {self.entry_lag_bars!r}")
        if self.entry_lag_bars < 1:
            raise ValueError(
                f"EngineConfig.entry_lag_bars must be >= 1 (never fill on the signal's own bar), got {self.entry_lag_bars}"
            )
        if not isinstance(self.latency_bars, int) or self.latency_bars < 0:
            raise ValueError(f"EngineConfig.latency_bars must be an int >= 0, got {self.latency_bars!r}")
        if self.fill_price not in FILL_PRICES:
            raise ValueError(f"EngineConfig.fill_price must be one of {FILL_PRICES}, got {self.fill_price!r}")
        if self.liquidity not in ("taker", "maker"):
            raise ValueError(f"EngineConfig.liquidity must be 'taker' or 'maker', got {self.liquidity!r}")
        if self.initial_capital <= 0:
            raise ValueError(f"EngineConfig.initial_capital must be > 0, got {self.initial_capital}")
        nonnegative = (
            "taker_fee_bps",
            "maker_fee_bps",  # a rebate (< 0) is not modelled: fees are a cost (EngineSteps.fees >= 0)
            "slippage_base_bps",
            "slippage_vol_coef",
            "slippage_impact_bps",
            "slippage_noise_bps",
            "max_slippage_bps",
            "daily_vol_floor",
        )
        for name in nonnegative:
            if getattr(self, name) < 0:
                hint = " (maker rebates are not modelled)" if name == "maker_fee_bps" else ""
                raise ValueError(f"EngineConfig.{name} must be >= 0{hint}, got {getattr(self, name)}")
        for name in BPS_RATE_FIELDS:
            value = getattr(self, name)
            if 0 < value < MIN_NONZERO_BPS:
                raise ValueError(
                    f"EngineConfig.{name}={value!r} is below {MIN_NONZERO_BPS} bp: it looks like a fraction typed "
                    f"where basis points are expected ({value!r} as a fraction is {value * 1e4:g} bps: pass "
                    f"{name}={value * 1e4:g}); use 0 for no cost"
                )
        if self.sizing not in SIZINGS:
            raise ValueError(f"EngineConfig.sizing must be one of {SIZINGS}, got {self.sizing!r}")
        positive = ("max_participation", "max_symbol_weight", "max_gross_weight", "hard_max_abs_weight")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"EngineConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.min_observation_days < 0 or self.min_completed_runs < 0:
            raise ValueError("EngineConfig.min_observation_days and min_completed_runs must be >= 0")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"EngineConfig.seed must be an int >= 0, got {self.seed!r}")

    @property
    def fee_bps(self) -> float:
        """The fee rate that applies to every fill of this run (all fills share one liquidity role)."""
        return self.taker_fee_bps if self.liquidity == "taker" else self.maker_fee_bps

    @property
    def execution_delay_bars(self) -> int:
        """Bars between the signal bar and the earliest fill bar."""
        return self.entry_lag_bars + self.latency_bars

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def content_id(self) -> str:
        """sha256 of the canonical JSON of this config together with :data:`ENGINE_VERSION`."""
        config = self.to_dict()
        if config["sizing"] == "fixed_capital":
            # the sizing mode came after the first ids were issued: a default config keeps its id
            del config["sizing"]
        return canonical_hash({"engine_version": ENGINE_VERSION, "config": config})

    def replace(self, **changes: Any) -> EngineConfig:
        """A copy with ``changes`` applied (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown EngineConfig fields: {sorted(unknown)}")
        return EngineConfig(**{**self.to_dict(), **changes})
