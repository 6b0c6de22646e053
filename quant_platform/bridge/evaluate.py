"""``bridge_evaluation``: replay each gate-passing candidate's rule through the backtest engine under
realistic and stressed costs, and give a tradability verdict with reasons.

Scenarios (spec/gates.yaml ``bridge_v1``): ``cost_x{m}`` for every cost multiplier ``m`` (fees and every
slippage coefficient times ``m``) and ``latency_plus_{k}`` (realistic costs, ``k`` extra bars of latency).
The realistic engine configuration (x1) is the engine's cost model priced from spec: taker fee = discovery's
fee per side, base slippage = discovery's slippage per side, plus the volatility- and size-dependent
slippage of ``bridge_v1.realistic_slippage``. Discovery assumed a flat cost; x1 charges what a fill of the
bridge's notional would pay on that bar, so a candidate whose edge only covers the flat cost is caught here.
An engine resource may pass its own ``base_config``.

Per scenario: number of round trips, after-cost expectancy per trade in bps of the traded notional
(``1e4 * pnl_net / (capital * |weight|) / round_trips``), the engine's annualized daily Sharpe, turnover
and the engine's status. Verdict ``tradable`` when the x1 scenario has at least ``min_trades`` trades, an
expectancy of at least ``min_after_cost_expectancy_bps`` and a daily Sharpe of at least ``min_daily_sharpe``
(a NaN Sharpe, e.g. too few observation days, fails), and every scenario named in
``stressed_must_stay_positive`` keeps a positive expectancy. Every failed requirement is a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_platform.bridge.rules import complete_rule_entries, rule_targets
from quant_platform.bridge.schemas import BridgeEvaluation
from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.engine import EngineConfig, run_backtest

ENGINE_BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume", "gap")
CANDIDATE_KEYS = [
    "candidate_id",
    "family",
    "event_type",
    "symbol",
    "horizon_bars",
    "template",
    "state_column",
    "state_value",
]
_COST_FIELDS = (
    "taker_fee_bps",
    "maker_fee_bps",
    "slippage_base_bps",
    "slippage_vol_coef",
    "slippage_impact_bps",
    "slippage_noise_bps",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    cost_multiplier: float
    extra_latency_bars: int


def scenarios(spec: DiscoverySpec) -> list[Scenario]:
    """The bridge scenarios of the spec, realistic first."""
    out = [Scenario(f"cost_x{m:g}", m, 0) for m in spec.bridge.cost_multipliers]
    if spec.bridge.extra_latency_bars:
        out.append(
            Scenario(f"latency_plus_{spec.bridge.extra_latency_bars}", 1.0, spec.bridge.extra_latency_bars)
        )
    if out[0].cost_multiplier != 1.0 or out[0].extra_latency_bars:
        raise ValueError("bridge_v1.cost_multipliers must start with 1.0 (the realistic scenario)")
    return out


def default_engine_config(spec: DiscoverySpec, **overrides: object) -> EngineConfig:
    """The realistic (x1) engine configuration from spec (see module docstring)."""
    base = EngineConfig(
        entry_lag_bars=spec.entry_lag_bars,
        fill_price="next_open",
        taker_fee_bps=spec.cost.fee_bps_per_side,
        slippage_base_bps=spec.cost.slippage_bps_per_side,
        slippage_vol_coef=spec.bridge.slippage_vol_coef,
        slippage_impact_bps=spec.bridge.slippage_impact_bps,
    )
    return base.replace(**overrides) if overrides else base


def scenario_config(base: EngineConfig, scenario: Scenario) -> EngineConfig:
    scaled = {f: getattr(base, f) * scenario.cost_multiplier for f in _COST_FIELDS}
    return base.replace(latency_bars=base.latency_bars + scenario.extra_latency_bars, **scaled)


def _engine_bars(bars: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ("symbol", "ts", "open", "close") if c not in bars.columns]
    if missing:
        raise ValueError(f"bars is missing columns {missing}")
    frame = bars
    if "high" not in frame.columns:  # a tape without ranges (e.g. a test world): the range spans open/close
        frame = frame.with_columns(
            high=pl.max_horizontal("open", "close"), low=pl.min_horizontal("open", "close")
        )
    if "volume" not in frame.columns:
        frame = frame.with_columns(volume=pl.lit(None, dtype=pl.Float64))
    if "gap" not in frame.columns:
        frame = frame.with_columns(gap=pl.col("close").is_null())
    return frame.select(ENGINE_BAR_COLUMNS)


def funding_prints_by_symbol(funding: pl.DataFrame | None) -> dict[str, pl.DataFrame]:
    """``{symbol: (symbol, ts, funding_rate)}`` of the funding prints (empty without funding)."""
    if funding is None:
        return {}
    missing = [c for c in ("symbol", "ts", "funding_rate") if c not in funding.columns]
    if missing:
        raise ValueError(f"funding is missing columns {missing}")
    frame = funding.select("symbol", "ts", "funding_rate")
    return {s: f for (s,), f in frame.partition_by("symbol", as_dict=True).items()}


def _replay(
    bars: pl.DataFrame,
    targets: pl.DataFrame,
    config: EngineConfig,
    n_entries: int,
    funding: pl.DataFrame | None = None,
) -> dict:
    """Engine metrics of one scenario. ``n_trades`` counts rule trades (entries), not engine episodes: two
    back-to-back trades of the same sign are one uninterrupted position for the engine."""
    if targets.height == 0:
        return {
            "n_trades": 0,
            "expectancy_bps": float("nan"),
            "sharpe_daily": float("nan"),
            "turnover": 0.0,
            "status": "no_trades",
        }
    result = run_backtest(bars, targets, config, funding)
    m = result.metrics
    expectancy = 1e4 * m["pnl_net"] / config.initial_capital / n_entries
    return {
        "n_trades": n_entries,
        "expectancy_bps": float(expectancy),
        # the engine gives no Sharpe (None) when it has too few observation days: NaN, which fails the gate
        "sharpe_daily": float("nan") if m["sharpe_daily"] is None else float(m["sharpe_daily"]),
        "turnover": float(m["turnover"]),
        "status": str(m["status"]),
    }


def _verdict(row: dict, spec: DiscoverySpec, realistic: str) -> tuple[bool, str]:
    g = spec.bridge
    reasons = []
    n, exp, sharpe = (
        row[f"{realistic}_n_trades"],
        row[f"{realistic}_expectancy_bps"],
        row[f"{realistic}_sharpe_daily"],
    )
    if n < g.min_trades:
        reasons.append(f"{realistic}: {n} trades < {g.min_trades}")
    if not (exp >= g.min_after_cost_expectancy_bps):
        reasons.append(f"{realistic}: expectancy {exp:.2f} bps < {g.min_after_cost_expectancy_bps}")
    if not (sharpe >= g.min_daily_sharpe):
        status = row[f"{realistic}_status"]
        reasons.append(f"{realistic}: daily Sharpe {sharpe:.2f} < {g.min_daily_sharpe} (status {status})")
    for name in g.stressed_must_stay_positive:
        key = f"{name}_expectancy_bps"
        if key not in row:
            raise ValueError(f"bridge_v1.stressed_must_stay_positive names unknown scenario {name!r}")
        if not (row[key] > 0):
            reasons.append(f"{name}: expectancy {row[key]:.2f} bps <= 0")
    return (not reasons, "; ".join(reasons) if reasons else "tradable under realistic and stressed costs")


def evaluate_bridge(
    candidates: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    spec: DiscoverySpec | None = None,
    base_config: EngineConfig | None = None,
    only_passing: bool = True,
    funding: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The ``bridge_evaluation`` table: one row per (gate-passing) candidate and scenario with the engine's
    metrics; the candidate's ``tradable`` verdict and ``verdict_reasons`` repeat on its scenario rows, and
    ``n_entries_incomplete`` counts its rule entries left out because their exit cannot fill inside the data.

    ``funding``: the perp funding prints (symbol, ts, funding_rate; the ``raw_funding`` table) settled in
    every replay; ``None`` replays without funding (the caller says so in its metadata)."""
    spec = spec or load_discovery_spec()
    base = base_config or default_engine_config(spec)
    plan = scenarios(spec)
    chosen = candidates.filter(pl.col("passes_gates")) if only_passing else candidates
    engine_bars = _engine_bars(bars)
    by_symbol = {s: f for (s,), f in engine_bars.partition_by("symbol", as_dict=True).items()}
    max_extra_latency = max(sc.extra_latency_bars for sc in plan)
    funding_by_symbol = funding_prints_by_symbol(funding)
    calendar = spec.calendar(bars["ts"])  # the RunSet's session calendar: rules count bars by position in it
    rows = []
    for cand in chosen.select(CANDIDATE_KEYS).iter_rows(named=True):  # a handful of survivors, not a hot path
        sym_bars = by_symbol.get(cand["symbol"])
        if sym_bars is None:
            raise ValueError(f"no bars for candidate symbol {cand['symbol']}")
        # Only trades the data can complete in every scenario (one helper for the bridge and the streams).
        entries, n_incomplete = complete_rule_entries(
            cand, sym_bars, events, states, spec, base, max_extra_latency, calendar
        )
        targets = rule_targets(entries, cand["symbol"], cand["horizon_bars"], calendar)
        sym_funding = funding_by_symbol.get(cand["symbol"]) if funding is not None else None
        wide, per_scenario = {}, []
        for sc in plan:
            metrics = _replay(sym_bars, targets, scenario_config(base, sc), entries.height, sym_funding)
            wide.update({f"{sc.name}_{k}": v for k, v in metrics.items()})
            per_scenario.append(
                {**cand, "scenario": sc.name, "cost_multiplier": sc.cost_multiplier,
                 "extra_latency_bars": sc.extra_latency_bars, "n_entries_incomplete": n_incomplete, **metrics}
            )  # fmt: skip
        tradable, reasons = _verdict(wide, spec, plan[0].name)
        rows.extend({**r, "tradable": tradable, "verdict_reasons": reasons} for r in per_scenario)
    schema = {k: candidates.schema[k] for k in CANDIDATE_KEYS} | {
        "scenario": pl.String,
        "cost_multiplier": pl.Float64,
        "extra_latency_bars": pl.Int32,
        "n_entries_incomplete": pl.Int64,
        "n_trades": pl.Int64,
        "expectancy_bps": pl.Float64,
        "sharpe_daily": pl.Float64,
        "turnover": pl.Float64,
        "status": pl.String,
        "tradable": pl.Boolean,
        "verdict_reasons": pl.String,
    }
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None)).with_columns(
        engine_config_id=pl.lit(base.content_id()), ontology_hash=pl.lit(spec.ontology_hash)
    )
    return BridgeEvaluation.validate(frame)


def tradability(bridge: pl.DataFrame) -> pl.DataFrame:
    """One row per candidate: ``candidate_id``, ``tradable``, ``verdict_reasons`` (from the long table)."""
    return bridge.group_by("candidate_id", maintain_order=True).agg(
        pl.col("tradable").first(), pl.col("verdict_reasons").first()
    )


def scenario_metrics(bridge: pl.DataFrame, scenario: str, metric: str) -> pl.Series:
    """One metric of one scenario, in candidate order (a convenience for reports and tests)."""
    return bridge.filter(pl.col("scenario") == scenario)[metric]
