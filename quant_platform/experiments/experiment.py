"""Experiments: a RunSet plus a strategy spec, executed through the engine into append-only facts.

The resolver points, the engine replays, SQL interprets:

1. ``create_experiment`` binds a RunSet (name or id) and a strategy spec under
   ``experiment_id = sha256(canonical_json({"runset_id", "strategy_hash"}))`` (a definition file created once;
   the same pair again is a no-op). The strategy is checked first: its event type must be in the event
   registry, its template and state column in the spec, its symbols in the RunSet.
2. ``execute_experiment`` resolves the RunSet through the registry (a frozen RunSet's pin, else its latest
   resolution: an exploratory RunSet follows newer versions), reads exactly the resolved versions of
   ``bars_5m`` and ``market_events`` (``features_v1`` for a state filter, ``raw_funding`` when the dataset has
   it) for the strategy's symbols, builds the rule's targets with the bridge's own rule helpers and replays
   them through :func:`~quant_platform.engine.run_backtest`, the only place outcomes are computed.
3. The run is recorded with :meth:`Registry.register_run`:
   ``run_id = sha256(dataset_ids + strategy_hash + engine_version + seed)`` where the strategy hash given is
   ``run_strategy_hash = sha256({"strategy_hash", "resolution_hash"})`` — the strategy bound to the exact
   input versions — because a dataset id alone names a growing dataset: two RunSets (or two resolutions of an
   exploratory one) over the same dataset read different bars, and one id must name one result. Its trades
   (the engine's round trips), daily PnL and metrics are written as deterministic Parquet facts keyed by
   ``run_id`` (:mod:`quant_platform.registry.experiment_facts`); re-executing an unchanged experiment writes
   nothing (every file exists with the same bytes) and a replay that differs is an integrity error.

Mode: an experiment on a frozen RunSet is ``reproducible`` (its facts are byte-identical on every
re-execution, also from scratch); on an unfrozen one ``exploratory`` (a new resolution gives a new run).

Bad input is refused with a message naming what was looked for: an unknown strategy field, an event type not
in the registry, a model policy (the model layer has not landed), a RunSet that resolves to no bars or no
events of the strategy's type for its symbols, a rule that never trades.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from quant_platform.bridge.evaluate import _engine_bars, default_engine_config
from quant_platform.bridge.rules import rule_entries, rule_targets
from quant_platform.core.hashing import canonical_hash
from quant_platform.discovery.config import UNCONDITIONAL, DiscoverySpec, load_discovery_spec
from quant_platform.engine import ENGINE_VERSION, BacktestResult, EngineConfig, run_backtest
from quant_platform.events.registry import load_event_registry
from quant_platform.experiments.strategy import RulePolicy, StrategySpec, parse_strategy
from quant_platform.registry import NotFoundError, Registry, Resolution
from quant_platform.registry import experiment_facts as facts
from quant_platform.registry.names import is_content_id
from quant_platform.storage import ParquetStore

BARS, EVENTS, STATES, FUNDING = "bars_5m", "market_events", "features_v1", "raw_funding"
EXPLORATORY, REPRODUCIBLE = "exploratory", "reproducible"


class ModelPolicyUnavailableError(NotImplementedError):
    """A model policy names a model the platform cannot load yet."""


class EmptyExperimentError(ValueError):
    """An experiment whose inputs give nothing to trade: never a green empty run."""


def experiment_id(runset_id: str, strategy_hash: str) -> str:
    return canonical_hash({"runset_id": runset_id, "strategy_hash": strategy_hash})


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    runset_id: str
    runset_name: str
    strategy: StrategySpec

    @property
    def strategy_hash(self) -> str:
        return self.strategy.strategy_hash

    def definition(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "runset_id": self.runset_id,
            "runset_name": self.runset_name,
            "strategy_hash": self.strategy_hash,
            "strategy": self.strategy.canonical(),
        }


@dataclass(frozen=True)
class Execution:
    """What one execution produced (the facts are on disk; the frames are here for reports and pictures)."""

    experiment: Experiment
    run_id: str
    mode: str
    resolution_hash: str
    written: dict[str, bool]
    run: dict[str, Any]
    metrics: dict[str, Any]
    trades: pl.DataFrame
    daily_pnl: pl.DataFrame
    equity: pl.DataFrame = field(repr=False)

    @property
    def wrote_anything(self) -> bool:
        return any(self.written.values())


# ---- strategy checks ----------------------------------------------------------------------------------
def check_strategy(strategy: StrategySpec, spec: DiscoverySpec | None = None) -> None:
    """Refuse a rule policy naming an event type, template or state column the spec does not define."""
    policy = strategy.policy
    if not isinstance(policy, RulePolicy):
        return
    spec = spec or load_discovery_spec()
    known_events = load_event_registry().names
    if policy.event_type not in known_events:
        close = difflib.get_close_matches(policy.event_type, known_events, n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(
            f"strategy {strategy.name!r}: event type {policy.event_type!r} is not in the event registry "
            f"(spec/events/canonical_event_registry.yaml){hint}"
        )
    spec.template(policy.template)  # raises naming the known templates
    state = policy.state_filter
    if state is not None and state.column not in spec.conditioning_columns:
        raise ValueError(
            f"strategy {strategy.name!r}: state column {state.column!r} is not a conditioning column "
            f"(known: {list(spec.conditioning_columns)})"
        )


def engine_config(strategy: StrategySpec, spec: DiscoverySpec | None = None) -> EngineConfig:
    """The spec's realistic engine configuration with the strategy's timing, sizing and cost overrides."""
    spec = spec or load_discovery_spec()
    policy = strategy.policy
    lag = policy.entry_lag_bars if isinstance(policy, RulePolicy) else spec.entry_lag_bars
    return default_engine_config(
        spec,
        entry_lag_bars=lag,
        sizing=strategy.sizing.mode,
        initial_capital=strategy.sizing.initial_capital,
        seed=strategy.seed,
        **strategy.costs.overrides(),
    )


# ---- create / get / list ------------------------------------------------------------------------------
def create_experiment(registry: Registry, runset: str, strategy: StrategySpec) -> Experiment:
    """Bind ``runset`` (name or id) and ``strategy``; idempotent for the same pair."""
    check_strategy(strategy)
    info = registry.runset(runset)
    dataset = registry.dataset(info.spec.dataset_id)
    runset_symbols = info.spec.effective_symbols(dataset)
    outside = sorted(set(strategy.symbols) - set(runset_symbols))
    if outside:
        raise ValueError(
            f"strategy {strategy.name!r} trades {outside}, which RunSet {info.name!r} does not select "
            f"(its symbols: {list(runset_symbols)})"
        )
    patterns = info.spec.strategies
    if patterns and not any(fnmatch.fnmatchcase(strategy.name, p) for p in patterns):
        raise ValueError(
            f"RunSet {info.name!r} selects strategies {list(patterns)}; {strategy.name!r} matches none of them"
        )
    experiment = Experiment(
        experiment_id(info.runset_id, strategy.strategy_hash), info.runset_id, info.name, strategy
    )
    facts.write_definition(registry.fs, experiment.experiment_id, experiment.definition())
    return experiment


def get_experiment(registry: Registry, ref: str) -> Experiment:
    """An experiment by its id (or an unambiguous prefix of at least 8 hex digits)."""
    if not is_content_id(ref):
        matches = [e for e in _definition_ids(registry) if len(ref) >= 8 and e.startswith(ref)]
        if len(matches) != 1:
            found = "no" if not matches else f"{len(matches)}"
            raise NotFoundError(f"{found} experiment matches {ref!r} (give the id or 8+ leading hex digits)")
        ref = matches[0]
    definition = facts.read_definition(registry.fs, ref)
    if definition is None:
        raise NotFoundError(f"unknown experiment {ref!r}")
    strategy = parse_strategy(definition["strategy"], f"experiment {ref[:12]}…")
    return Experiment(ref, definition["runset_id"], definition["runset_name"], strategy)


def _definition_ids(registry: Registry) -> list[str]:
    return [p.rsplit("/", 1)[-1].removesuffix(".json") for p in facts.definition_files(registry.fs)]


def list_experiments(registry: Registry) -> list[dict[str, Any]]:
    """Every experiment with its mode (from its RunSet now) and its executions so far."""
    runs = facts.read_facts(registry.fs, "experiment_runs")
    out = []
    for experiment_id_ in sorted(_definition_ids(registry)):
        experiment = get_experiment(registry, experiment_id_)
        mine = runs.filter(pl.col("experiment_id") == experiment_id_)
        # runs carry no clock (their bytes are deterministic): the current run is the one that read the
        # RunSet's current resolution (its pin, else its latest), if it was executed on it
        current = registry.current_resolution(experiment.runset_id)
        on_current = mine.filter(pl.col("resolution_hash") == (current.resolution_hash if current else ""))
        out.append(
            {
                "experiment_id": experiment_id_,
                "runset": experiment.runset_name,
                "strategy": experiment.strategy.name,
                "policy": experiment.strategy.policy.kind,
                "mode": experiment_mode(registry, experiment),
                "runs": mine.height,
                "trades": int(mine["n_trades"].sum()) if mine.height else 0,
                "current_run_id": on_current["run_id"][0] if on_current.height else None,
            }
        )
    return out


def experiment_mode(registry: Registry, experiment: Experiment) -> str:
    return REPRODUCIBLE if registry.runset(experiment.runset_id).frozen else EXPLORATORY


def experiment_runs(registry: Registry, experiment: Experiment) -> pl.DataFrame:
    return facts.read_facts(
        registry.fs, "experiment_runs", pl.col("experiment_id") == experiment.experiment_id
    ).drop("fact_file")


# ---- execution ----------------------------------------------------------------------------------------
def _read(store: ParquetStore, resolution: Resolution, asset: str, symbols: list[str], columns=None):
    scan = store.scan_paths(resolution.paths(asset))
    if columns is not None:
        scan = scan.select(columns)
    return scan.filter(pl.col("symbol").is_in(symbols)).collect()


def strategy_symbols(experiment: Experiment, resolution: Resolution) -> list[str]:
    return sorted(experiment.strategy.symbols or resolution.symbols)


def rule_portfolio_targets(
    policy: RulePolicy, weight: float, symbols: list[str], events: pl.DataFrame,
    states: pl.DataFrame | None, spec: DiscoverySpec,
) -> pl.DataFrame:  # fmt: skip
    """The rule's engine targets for every symbol (the bridge's rule, signed weight ``± weight``)."""
    state = policy.state_filter
    frames = []
    for symbol in symbols:
        candidate = {
            "symbol": symbol,
            "event_type": policy.event_type,
            "template": policy.template,
            "horizon_bars": policy.horizon_bars,
            "state_column": state.column if state else UNCONDITIONAL,
            "state_value": state.value if state else UNCONDITIONAL,
        }
        entries = rule_entries(candidate, events, states, spec)
        frames.append(rule_targets(entries, symbol, policy.horizon_bars, spec.bar_minutes))
    targets = pl.concat(frames) if frames else pl.DataFrame()
    return targets.with_columns(pl.col("target_weight") * weight).sort("symbol", "ts")


def daily_pnl(result: BacktestResult, run_id: str) -> pl.DataFrame:
    """Per UTC day: the engine's PnL split summed, equity at the day's last bar, peak gross exposure."""
    return (
        result.equity.sort("ts")
        .group_by(pl.col("ts").dt.date().alias("day"), maintain_order=True)
        .agg(
            pl.col("pnl_gross", "fees", "slippage_cost", "funding_pnl", "pnl_net").sum(),
            pl.col("equity").last().alias("equity_close"),
            pl.col("gross_exposure").max().alias("gross_exposure_max"),
        )
        .with_columns(pl.lit(run_id).alias("run_id"))
    )


def metrics_frame(metrics: dict[str, Any], run_id: str) -> pl.DataFrame:
    """The engine's metrics long: numbers (and booleans) in ``value``, strings in ``text``, ``None`` null."""
    rows = []
    for name in sorted(metrics):
        value = metrics[name]
        if isinstance(value, bool | int | float) or value is None:
            rows.append((run_id, name, None if value is None else float(value), None))
        elif isinstance(value, str):
            rows.append((run_id, name, None, value))
        else:  # nested values (per-reason counts) flattened one level
            for key in sorted(value):
                inner = value[key]
                rows.append((run_id, f"{name}.{key}", None if inner is None else float(inner), None))
    return pl.DataFrame(rows, schema=["run_id", "metric", "value", "text"], orient="row")


def execute_experiment(registry: Registry, ref: str, *, dagster_run_id: str | None = None) -> Execution:
    """Execute an experiment (module docstring); re-executing an unchanged one writes nothing."""
    experiment = get_experiment(registry, ref)
    strategy = experiment.strategy
    policy = strategy.policy
    if not isinstance(policy, RulePolicy):
        raise ModelPolicyUnavailableError(
            f"strategy {strategy.name!r} has a model policy ({policy.name} {policy.version}): model policies "
            "are not available yet (the model layer has not landed); use a rule policy"
        )
    spec = load_discovery_spec()
    check_strategy(strategy, spec)
    info = registry.runset(experiment.runset_id)
    resolution = registry.resolve(experiment.runset_id)
    symbols = strategy_symbols(experiment, resolution)
    store = ParquetStore(registry.store.root)
    bars = _read(store, resolution, BARS, symbols)
    if bars.height == 0:
        raise EmptyExperimentError(
            f"RunSet {info.name!r} (resolution {resolution.resolution_hash[:12]}…) has no {BARS} rows for "
            f"{symbols} in {resolution.range_start}..{resolution.range_end}"
        )
    absent = sorted(set(symbols) - set(bars["symbol"].unique().to_list()))
    if absent:
        raise EmptyExperimentError(f"RunSet {info.name!r} has no {BARS} rows for {absent}")
    events = _read(store, resolution, EVENTS, symbols).filter(pl.col("event_type") == policy.event_type)
    if events.height == 0:
        raise EmptyExperimentError(
            f"RunSet {info.name!r}: no {policy.event_type} events on {symbols} in "
            f"{resolution.range_start}..{resolution.range_end}; nothing for strategy {strategy.name!r} to trade"
        )
    states = None
    if policy.state_filter is not None:
        states = _read(store, resolution, STATES, symbols, ["symbol", "ts", policy.state_filter.column])
    targets = rule_portfolio_targets(policy, strategy.sizing.weight_per_symbol, symbols, events, states, spec)
    if targets.height == 0:
        raise EmptyExperimentError(
            f"strategy {strategy.name!r} on RunSet {info.name!r}: {events.height} {policy.event_type} events, "
            "but none passes the rule (template sign, state filter): the rule never trades"
        )
    config = engine_config(strategy, spec)
    funding = None
    if FUNDING in set(resolution.artifacts["asset"].to_list()) and config.settle_funding:
        funding = _read(store, resolution, FUNDING, symbols, ["symbol", "ts", "funding_rate"]).filter(
            pl.col("funding_rate").is_not_null() & pl.col("funding_rate").is_not_nan()
        )
    result = run_backtest(_engine_bars(bars), targets, config, funding)

    run_strategy_hash = canonical_hash(
        {"strategy_hash": strategy.strategy_hash, "resolution_hash": resolution.resolution_hash}
    )
    run_config = {
        "experiment_id": experiment.experiment_id,
        "strategy_hash": strategy.strategy_hash,
        "resolution_hash": resolution.resolution_hash,
        "engine_config_id": config.content_id(),
    }
    run_id = registry.register_run(
        dataset_ids=[info.spec.dataset_id],
        strategy_hash=run_strategy_hash,
        engine_version=ENGINE_VERSION,
        seed=strategy.seed,
        runset=info.runset_id,
        dagster_run_id=dagster_run_id,
        config=run_config,
    )
    trades = result.round_trips.sort("entry_ts", "symbol").with_columns(
        pl.lit(run_id).alias("run_id"), pl.int_range(pl.len(), dtype=pl.Int64).alias("trade_no")
    )
    daily = daily_pnl(result, run_id)
    metrics = metrics_frame(result.metrics, run_id)
    run = {
        "run_id": run_id,
        "experiment_id": experiment.experiment_id,
        "runset_id": info.runset_id,
        "runset_name": info.name,
        "resolution_hash": resolution.resolution_hash,
        "dataset_id": info.spec.dataset_id,
        "strategy_name": strategy.name,
        "strategy_hash": strategy.strategy_hash,
        "run_strategy_hash": run_strategy_hash,
        "engine_version": ENGINE_VERSION,
        "engine_config_id": config.content_id(),
        "seed": strategy.seed,
        "symbols": symbols,
        "range_start": resolution.range_start,
        "range_end": resolution.range_end,
        "n_trades": trades.height,
        "final_equity": float(result.equity["equity"][-1]),
        "result_hash": result.content_hash(),
    }
    written = {}
    for table, frame in (("trades", trades), ("daily_pnl", daily), ("run_metrics", metrics)):
        written[table] = facts.write_fact(registry.fs, table, run_id, frame)
    # the runs fact last: its presence means the run's other facts are complete
    written["experiment_runs"] = facts.write_fact(registry.fs, "experiment_runs", run_id, pl.DataFrame([run]))
    return Execution(
        experiment=experiment,
        run_id=run_id,
        mode=REPRODUCIBLE if resolution.frozen else EXPLORATORY,
        resolution_hash=resolution.resolution_hash,
        written=written,
        run=run,
        metrics=result.metrics,
        trades=facts.conform("trades", trades),
        daily_pnl=facts.conform("daily_pnl", daily),
        equity=result.equity.select("ts", "equity"),
    )
