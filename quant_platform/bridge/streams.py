"""Per-step return streams of the bridge's rule strategies, replayed through the backtest engine: the
:class:`~quant_platform.validation.schemas.CandidateStreams` that Stage A and Stage B judge, under the base
configuration and under every stress scenario.

It lives in ``bridge`` (not ``validation``) because it is the bridge's own rule replay — the same
``rule_entries`` → ``rule_targets`` → ``run_backtest`` path as :func:`evaluate_bridge` — while
``validation`` stays a pure statistics library that never imports the engine.

Per candidate and step (every bar of the candidate's symbol, flat bars included, so a day without a trade is a
zero-return day of a live strategy, not a missing one):
- ``ret_after_cost``: the engine's ``pnl_net`` of the step over ``initial_capital`` (the rule trades a weight
  of ±1, so this is the step's after-cost return on the traded notional).
- ``signal``: the weight the engine holds after the step's fills (0 when flat) — the position that earns the
  next step's return.
- ``forward_return``: the asset's next-step return from the engine's own marks,
  ``mark[t+1] / mark[t] - 1`` (null at the last bar or where a mark is missing). Stage A's IC is then
  "does the held position rank with the next bar's return".

Stress (``spec/validation.yaml`` ``stress_scenarios``): cost multiplier and extra latency go through
:func:`scenario_config` into the engine configuration; correlation spike and volatility shock transform the
close-price panel of the RunSet's symbols (``apply_scenario_to_prices``) before the replay. Each bar's open,
high and low move with its close (the bar's shape relative to its close is kept), gap rows stay gaps: the
panel is filled (forward, then backward for leading gaps) only inside the transform (a gap contributes no
return to the common factor), and the filled values never reach the engine. Trades are the same in every scenario: entries whose exit fill
cannot complete inside the tape under the largest extra latency are left out everywhere, by the bridge's own
helper (:func:`~quant_platform.bridge.rules.complete_rule_entries`; the bridge table counts them). Funding
prints, when given, settle in every replay (the price stress does not change them).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from quant_platform.bridge.evaluate import (
    CANDIDATE_KEYS,
    Scenario,
    _engine_bars,
    funding_prints_by_symbol,
    scenario_config,
)
from quant_platform.bridge.rules import complete_rule_entries, rule_targets
from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.engine import EngineConfig, run_backtest
from quant_platform.validation.schemas import CandidateStreams
from quant_platform.validation.stress import StressScenario, apply_scenario_to_prices, standard_scenarios

STREAM_COLUMNS = list(CandidateStreams.to_schema().columns)


def bridge_candidates(bridge: pl.DataFrame, *, tradable_only: bool = True) -> pl.DataFrame:
    """One row per candidate of the long ``bridge_evaluation`` table (its rule keys and verdict), sorted by
    id; only the tradable ones (the bridge survivors) unless ``tradable_only`` is False."""
    missing = [c for c in [*CANDIDATE_KEYS, "tradable"] if c not in bridge.columns]
    if missing:
        raise ValueError(f"bridge_evaluation lacks columns {missing}")
    per_candidate = bridge.group_by("candidate_id", maintain_order=True).agg(
        *[pl.col(c).first() for c in CANDIDATE_KEYS if c != "candidate_id"],
        pl.col("tradable").first(),
        pl.col("tradable").n_unique().alias("_verdicts"),
    )
    if per_candidate.height and per_candidate["_verdicts"].max() > 1:
        raise ValueError("bridge_evaluation gives one candidate two different tradability verdicts")
    chosen = per_candidate.filter(pl.col("tradable")) if tradable_only else per_candidate
    return chosen.select(*CANDIDATE_KEYS, "tradable").sort("candidate_id")


def empty_streams() -> pl.DataFrame:
    schema = CandidateStreams.to_schema()
    return pl.DataFrame(schema={name: col.dtype.type for name, col in schema.columns.items()})


def _stream(
    candidate_id: str,
    sym_bars: pl.DataFrame,
    targets: pl.DataFrame,
    config: EngineConfig,
    funding: pl.DataFrame | None,
) -> pl.DataFrame:
    steps = run_backtest(sym_bars, targets, config, funding).steps
    mark = pl.col("mark_price")
    return steps.select(
        pl.lit(candidate_id).alias("candidate_id"),
        "ts",
        (pl.col("pnl_net") / config.initial_capital).alias("ret_after_cost"),
        pl.col("target_weight").alias("signal"),
        (mark.shift(-1) / mark - 1.0).alias("forward_return"),
    ).with_columns(pl.col("forward_return").fill_nan(None))


def _replay_all(
    candidates: pl.DataFrame, bars: pl.DataFrame, events: pl.DataFrame, states: pl.DataFrame | None,
    spec: DiscoverySpec, entry_config: EngineConfig, configs: dict[str, EngineConfig], max_extra_latency: int,
    funding: pl.DataFrame | None,
) -> dict[str, pl.DataFrame]:  # fmt: skip
    """``{name: streams}`` for every engine configuration in ``configs`` (the same entries in each)."""
    by_symbol = {s: f.sort("ts") for (s,), f in bars.partition_by("symbol", as_dict=True).items()}
    funding_by_symbol = funding_prints_by_symbol(funding)
    calendar = spec.calendar(bars["ts"])  # the RunSet's session calendar: rules count bars by position in it
    out: dict[str, list[pl.DataFrame]] = {name: [] for name in configs}
    for cand in candidates.select(CANDIDATE_KEYS).iter_rows(named=True):  # a handful of survivors
        sym_bars = by_symbol.get(cand["symbol"])
        if sym_bars is None:
            raise ValueError(f"no bars for candidate symbol {cand['symbol']}")
        entries, _ = complete_rule_entries(
            cand, sym_bars, events, states, spec, entry_config, max_extra_latency, calendar
        )
        targets = rule_targets(entries, cand["symbol"], int(cand["horizon_bars"]), calendar)
        if targets.height == 0:  # a rule without a trade is flat on every step
            targets = sym_bars.select("symbol", "ts", pl.lit(0.0).alias("target_weight")).head(1)
        for name, config in configs.items():
            sym_funding = funding_by_symbol.get(cand["symbol"])
            out[name].append(_stream(cand["candidate_id"], sym_bars, targets, config, sym_funding))
    return {
        name: CandidateStreams.validate(pl.concat(frames).select(STREAM_COLUMNS))
        if frames
        else empty_streams()
        for name, frames in out.items()
    }


def rule_streams(
    candidates: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    base_config: EngineConfig,
    spec: DiscoverySpec | None = None,
    scenarios: Iterable[StressScenario] | None = None,
    funding: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The base-configuration :class:`CandidateStreams` of ``candidates`` (rows with the bridge's rule keys,
    e.g. from :func:`bridge_candidates`). ``scenarios`` (default: the standard set) only fixes which entries
    count, so the base and stressed streams trade the same entries. ``funding``: the funding prints
    (symbol, ts, funding_rate) settled in every replay (``None``: none)."""
    spec = spec or load_discovery_spec()
    plan = tuple(scenarios) if scenarios is not None else standard_scenarios()
    max_latency = max((s.extra_latency_bars for s in plan), default=0)
    return _replay_all(
        candidates, _engine_bars(bars), events, states, spec, base_config, {"base": base_config}, max_latency,
        funding,
    )["base"]  # fmt: skip


def stress_bars(bars: pl.DataFrame, scenario: StressScenario) -> pl.DataFrame:
    """Engine bars with the scenario's price transform (correlation spike, vol shock) applied to the close
    panel of all symbols; open/high/low move with the close, gap rows stay null gaps (module docstring)."""
    frame = _engine_bars(bars)
    if scenario.correlation_spike == 0.0 and scenario.vol_shock == 1.0:
        return frame
    wide = frame.pivot(on="symbol", index="ts", values="close", sort_columns=True).sort("ts")
    symbols = [c for c in wide.columns if c != "ts"]
    filled = wide.select(pl.col(symbols).fill_null(strategy="forward").fill_null(strategy="backward"))
    if filled.null_count().sum_horizontal().item():
        raise ValueError(f"cannot stress prices: a symbol has no price at all ({symbols})")
    stressed = apply_scenario_to_prices(filled.to_numpy().astype(np.float64), scenario)
    factors = (
        pl.DataFrame(stressed / filled.to_numpy(), schema=symbols)
        .with_columns(wide["ts"])
        .unpivot(index="ts", on=symbols, variable_name="symbol", value_name="_factor")
    )
    prices = ["open", "high", "low", "close"]
    return (
        frame.join(factors, on=["ts", "symbol"], how="left")
        .with_columns([(pl.col(c) * pl.col("_factor")).alias(c) for c in prices])
        .select(frame.columns)
    )


def stressed_rule_streams(
    candidates: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    base_config: EngineConfig,
    spec: DiscoverySpec | None = None,
    scenarios: Iterable[StressScenario] | None = None,
    funding: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """``{scenario name: CandidateStreams}`` of ``candidates`` under every stress scenario (default: the
    standard set of ``spec/validation.yaml``), each replayed through the engine (module docstring), settling
    ``funding`` (symbol, ts, funding_rate; ``None``: none) in every replay."""
    spec = spec or load_discovery_spec()
    plan = tuple(scenarios) if scenarios is not None else standard_scenarios()
    max_latency = max((s.extra_latency_bars for s in plan), default=0)
    out: dict[str, pl.DataFrame] = {}
    engine_only = {
        s.name: scenario_config(base_config, Scenario(s.name, s.cost_multiplier, s.extra_latency_bars))
        for s in plan
    }
    for scenario in plan:
        out[scenario.name] = _replay_all(
            candidates, stress_bars(bars, scenario), events, states, spec, base_config,
            {scenario.name: engine_only[scenario.name]}, max_latency, funding,
        )[scenario.name]  # fmt: skip
    return out
