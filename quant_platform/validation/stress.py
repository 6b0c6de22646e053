"""Stress scenarios as data, plus the input transforms that do not need the backtest engine.

A :class:`StressScenario` names a cost multiplier, extra execution latency in bars, a correlation spike and a
volatility shock. Cost and latency are applied by the backtest engine (the caller re-runs a candidate with
``cost_multiplier`` and ``extra_latency_bars``); correlation spike and volatility shock transform the input
returns/prices panel here, before the engine sees it. The standard set lives in ``spec/validation.yaml``.

Panels are wide NumPy arrays ``(n_obs, n_assets)`` with time on axis 0; prices must be positive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from quant_platform.specs import load_yaml


@dataclass(frozen=True)
class StressScenario:
    """``correlation_spike`` in [0, 1]: weight of the common factor (0 = none, 1 = all assets move as one);
    ``vol_shock`` > 0: multiplier of every asset's return deviations from its mean (1 = none)."""

    name: str
    cost_multiplier: float = 1.0
    extra_latency_bars: int = 0
    correlation_spike: float = 0.0
    vol_shock: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a stress scenario needs a name")
        if not self.cost_multiplier >= 1.0:
            raise ValueError(f"{self.name}: cost_multiplier must be >= 1, got {self.cost_multiplier}")
        if isinstance(self.extra_latency_bars, bool) or not isinstance(self.extra_latency_bars, int):
            raise ValueError(f"{self.name}: extra_latency_bars must be an int")
        if self.extra_latency_bars < 0:
            raise ValueError(f"{self.name}: extra_latency_bars must be >= 0")
        if not 0.0 <= self.correlation_spike <= 1.0:
            raise ValueError(
                f"{self.name}: correlation_spike must be in [0, 1], got {self.correlation_spike}"
            )
        if not self.vol_shock > 0.0:
            raise ValueError(f"{self.name}: vol_shock must be > 0, got {self.vol_shock}")

    def engine_parameters(self) -> dict[str, Any]:
        """What the backtest engine applies: ``{"cost_multiplier": …, "extra_latency_bars": …}``."""
        return {"cost_multiplier": self.cost_multiplier, "extra_latency_bars": self.extra_latency_bars}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def standard_scenarios(spec: dict[str, Any] | None = None) -> tuple[StressScenario, ...]:
    """The standard scenario set from ``spec/validation.yaml`` (``stress_scenarios``)."""
    spec = spec if spec is not None else load_yaml("validation.yaml")
    entries = spec.get("stress_scenarios")
    if not entries:
        raise ValueError("validation spec has no stress_scenarios")
    scenarios = tuple(StressScenario(**entry) for entry in entries)
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate stress scenario names: {names}")
    return scenarios


def _panel(returns: np.ndarray) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 3:
        raise ValueError(f"expected a (n_obs >= 3, n_assets) panel, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("panel contains NaN/inf; the stress transforms need complete rows")
    return r


def apply_correlation_spike(returns: np.ndarray, spike: float) -> np.ndarray:
    """Blend each asset's standardized returns with the panel's standardized common factor (the equal-weight
    mean of standardized returns): ``z' ∝ sqrt(1 - s)·z + sqrt(s)·f``, then restore every asset's own mean
    and standard deviation. Pairwise correlations rise toward 1 as ``s`` → 1; means and vols are unchanged."""
    if not 0.0 <= spike <= 1.0:
        raise ValueError(f"spike must be in [0, 1], got {spike}")
    r = _panel(returns)
    mean, std = r.mean(axis=0), r.std(axis=0)
    if np.any(std == 0):
        raise ValueError("an asset has constant returns; it cannot be correlated")
    z = (r - mean) / std
    factor = z.mean(axis=1, keepdims=True)
    factor_std = factor.std()
    if factor_std == 0:
        return r.copy()
    blended = np.sqrt(1.0 - spike) * z + np.sqrt(spike) * factor / factor_std
    blended = (blended - blended.mean(axis=0)) / blended.std(axis=0)
    return mean + std * blended


def apply_vol_shock(returns: np.ndarray, multiplier: float) -> np.ndarray:
    """Scale every asset's deviations from its mean return by ``multiplier`` (means kept)."""
    if not multiplier > 0:
        raise ValueError(f"multiplier must be > 0, got {multiplier}")
    r = _panel(returns)
    mean = r.mean(axis=0)
    return mean + multiplier * (r - mean)


def apply_scenario_to_returns(returns: np.ndarray, scenario: StressScenario) -> np.ndarray:
    """Correlation spike, then volatility shock (the engine applies cost and latency)."""
    out = (
        apply_correlation_spike(returns, scenario.correlation_spike)
        if scenario.correlation_spike
        else returns
    )
    return apply_vol_shock(out, scenario.vol_shock) if scenario.vol_shock != 1.0 else _panel(out).copy()


def apply_scenario_to_prices(prices: np.ndarray, scenario: StressScenario) -> np.ndarray:
    """Stress a positive price panel through its log returns; the first row (the anchor) is kept."""
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 2 or not np.isfinite(p).all() or np.any(p <= 0):
        raise ValueError("prices must be a finite, positive (n_obs, n_assets) panel")
    log_returns = np.diff(np.log(p), axis=0)
    stressed = apply_scenario_to_returns(log_returns, scenario)
    return p[0] * np.exp(np.vstack([np.zeros((1, p.shape[1])), np.cumsum(stressed, axis=0)]))
