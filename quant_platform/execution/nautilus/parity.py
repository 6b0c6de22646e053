"""Research-to-execution parity: a blueprint in our engine and in NautilusTrader, fill by fill.

For each blueprint line, on the same bars (the symbol's bars rounded to the instrument's tick, see
:mod:`.backtest`) and the same signals:

- our engine replays the rule exactly as the research chain did — ``bridge.rules.rule_entries`` →
  ``rule_targets`` → ``engine.run_backtest`` — under the blueprint's own engine configuration (``costs``);
- NautilusTrader loads the line through ``ImportableStrategyConfig`` / ``StrategyFactory`` and runs
  ``EventRuleStrategy`` on the event registry in its ``BacktestEngine``.

Both get the events up to the same cut-off: the research replays count only trades whose exit fills inside
the data (``bridge.rules.complete_rule_entries``), i.e. events at least ``horizon + entry lag + latency`` bars
before the last bar, so both runs end flat. Funding is settled on neither side.

Modes:
- ``slippage=False``: slippage off in our engine (every slippage coefficient 0) and in NautilusTrader
  (``FillModel(prob_slippage=0)``). Every fill must agree in time, side, quantity (to the instrument's size
  increment, 1e-9) and price, and the final PnL to ``PNL_RTOL`` (1e-9) relative.
- ``slippage=True``: our engine with the blueprint's slippage model (bps from the reference bar's range and
  the order's participation), NautilusTrader with its one-tick L1 slippage (``prob_slippage=1``). Times,
  sides and quantities must still agree; the PnL difference must equal, to 1e-9 of the traded notional, the
  difference the two fill models explain: per fill ``-(q + |q| f) (p_ours - p_nautilus)`` (``q`` signed
  units, ``f`` the taker fee rate, ``p`` each engine's execution price), and it is bounded by
  ``sum |q| (1 + f) (slip_bps 1e-4 p + tick)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from quant_platform.bridge.evaluate import CANDIDATE_KEYS, _engine_bars
from quant_platform.bridge.rules import rule_entries, rule_targets
from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.engine import EngineConfig, run_backtest
from quant_platform.execution.nautilus.backtest import (
    SIZE_PRECISION,
    NautilusRun,
    parity_bars,
    price_precision_for,
    run_blueprint,
)

PNL_RTOL = 1e-9
PRICE_RTOL = 1e-12
QTY_ATOL = 10.0**-SIZE_PRECISION
EXPLAINED_RTOL = 1e-9  # of the traded notional
_SLIPPAGE_FIELDS = ("slippage_base_bps", "slippage_vol_coef", "slippage_impact_bps", "slippage_noise_bps")


@dataclass(frozen=True)
class BlueprintParity:
    """One blueprint's parity: the side-by-side fills and both PnLs, with the verdict and its reasons."""

    blueprint_id: str
    candidate_id: str
    symbol: str
    slippage: bool
    fills: pl.DataFrame  # side by side, one row per fill index
    n_fills_engine: int
    n_fills_nautilus: int
    pnl_engine: float
    pnl_nautilus: float
    explained_pnl_diff: float
    traded_notional: float
    slippage_bound: float
    late_events: int
    open_position_nautilus: float
    engine_config_id_matches: bool
    failures: tuple[str, ...] = field(default=())

    @property
    def pnl_rel_diff(self) -> float:
        scale = max(abs(self.pnl_engine), abs(self.pnl_nautilus))
        return 0.0 if scale == 0.0 else abs(self.pnl_engine - self.pnl_nautilus) / scale

    @property
    def unexplained_pnl_diff(self) -> float:
        return (self.pnl_engine - self.pnl_nautilus) - self.explained_pnl_diff

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        return {
            "blueprint_id": self.blueprint_id[:12],
            "candidate_id": self.candidate_id[:12],
            "symbol": self.symbol,
            "mode": "slippage" if self.slippage else "zero_slippage",
            "fills_engine": self.n_fills_engine,
            "fills_nautilus": self.n_fills_nautilus,
            "pnl_engine": self.pnl_engine,
            "pnl_nautilus": self.pnl_nautilus,
            "pnl_rel_diff": self.pnl_rel_diff,
            "explained_diff": self.explained_pnl_diff,
            "unexplained_diff": self.unexplained_pnl_diff,
            "config_id_ok": self.engine_config_id_matches,
            "passed": self.passed,
            "failures": "; ".join(self.failures),
        }


def engine_config_of(line: dict[str, Any], *, slippage: bool) -> EngineConfig:
    """The blueprint's engine configuration (its ``costs``), slippage switched off unless ``slippage``."""
    fields = set(EngineConfig.__dataclass_fields__)
    config = EngineConfig(**{k: v for k, v in line["costs"].items() if k in fields})
    if config.fill_price != "next_open" or config.liquidity != "taker":
        raise ValueError(
            f"blueprint {line['blueprint_id'][:12]}: parity needs next-open taker fills, the strategy's "
            f"execution (got fill_price={config.fill_price!r}, liquidity={config.liquidity!r})"
        )
    return config if slippage else config.replace(**dict.fromkeys(_SLIPPAGE_FIELDS, 0.0))


def _candidate(line: dict[str, Any]) -> dict[str, Any]:
    lineage = line["lineage"]
    return {k: lineage[k] for k in CANDIDATE_KEYS}


def signal_cutoff_events(
    events: pl.DataFrame, sym_bars: pl.DataFrame, line: dict[str, Any], bar_minutes: int
):
    """The symbol's events whose trade can complete inside the data (module docstring)."""
    config = line["config"]
    room = int(config["horizon_bars"]) + int(config["entry_lag_bars"]) + int(config["latency_bars"])
    last_ts = sym_bars["ts"].max()
    return events.filter(
        pl.col("symbol") == line["lineage"]["symbol"],
        pl.col("ts") + pl.duration(minutes=bar_minutes * room) <= last_ts,
    )


def _engine_fills(result: Any) -> pl.DataFrame:
    fills = getattr(result, "fills", None)  # the per-fill table (named ``trades`` before round trips existed)
    frame = fills if isinstance(fills, pl.DataFrame) else result.trades
    return frame.select("ts", "side", "qty", "fill_price", "exec_price", "fee").sort("ts")


def _side_by_side(ours: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    a = ours.with_row_index("fill").select(
        "fill", pl.col("ts").alias("ts_engine"), pl.col("side").alias("side_engine"),
        pl.col("qty").alias("qty_engine"), pl.col("exec_price").alias("price_engine"),
        pl.col("fill_price").alias("print_price"), pl.col("fee").alias("fee_engine"),
    )  # fmt: skip
    b = theirs.with_row_index("fill").select(
        "fill", pl.col("ts").alias("ts_nautilus"), pl.col("side").alias("side_nautilus"),
        pl.col("qty").alias("qty_nautilus"), pl.col("price").alias("price_nautilus"),
        pl.col("fee").alias("fee_nautilus"),
    )  # fmt: skip
    return a.join(b, on="fill", how="full", coalesce=True).sort("fill")


def _failures(table: pl.DataFrame, parity: dict[str, Any], slippage: bool) -> list[str]:
    out = []
    if parity["n_fills_engine"] != parity["n_fills_nautilus"]:
        out.append(f"fill count {parity['n_fills_engine']} vs {parity['n_fills_nautilus']}")
    both = table.drop_nulls(["ts_engine", "ts_nautilus"])
    if (both["ts_engine"] != both["ts_nautilus"]).any():
        out.append("fill times differ")
    if (both["side_engine"] != both["side_nautilus"]).any():
        out.append("fill sides differ")
    if ((both["qty_engine"] - both["qty_nautilus"]).abs() > QTY_ATOL).any():
        out.append("fill quantities differ beyond the size increment")
    if not slippage:
        price_diff = (both["price_engine"] - both["price_nautilus"]).abs()
        if (price_diff > PRICE_RTOL * both["price_engine"].abs()).any():
            out.append("fill prices differ")
        scale = max(abs(parity["pnl_engine"]), abs(parity["pnl_nautilus"]))
        if abs(parity["pnl_engine"] - parity["pnl_nautilus"]) > PNL_RTOL * scale:
            out.append(f"PnL {parity['pnl_engine']:.6f} vs {parity['pnl_nautilus']:.6f}")
    else:
        unexplained = parity["pnl_engine"] - parity["pnl_nautilus"] - parity["explained"]
        if abs(unexplained) > EXPLAINED_RTOL * max(parity["notional"], 1.0):
            out.append(f"PnL difference not explained by the fill models ({unexplained:.6g})")
        if abs(parity["pnl_engine"] - parity["pnl_nautilus"]) > parity["bound"] * (1 + 1e-9) + 1e-9:
            out.append("PnL difference above the fill models' bound")
    if parity["late_events"]:
        out.append(f"{parity['late_events']} events reached NautilusTrader after their fill print")
    if abs(parity["open_position"]) > QTY_ATOL:
        out.append(f"NautilusTrader ends with an open position {parity['open_position']}")
    return out


def check_blueprint(
    line: dict[str, Any],
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    slippage: bool = False,
    spec: DiscoverySpec | None = None,
) -> BlueprintParity:
    """Parity of one blueprint line on ``bars`` / ``events`` / ``states`` (module docstring)."""
    spec = spec or load_discovery_spec()
    lineage = line["lineage"]
    if lineage["ontology_hash"] != spec.ontology_hash:
        raise ValueError(
            f"blueprint {line['blueprint_id'][:12]} was compiled under ontology {lineage['ontology_hash'][:12]}, "
            f"the spec is {spec.ontology_hash[:12]}: its rule cannot be replayed from this spec"
        )
    if lineage["bar_minutes"] != spec.bar_minutes:
        raise ValueError(
            f"blueprint bars are {lineage['bar_minutes']} minutes, the spec's {spec.bar_minutes}"
        )
    config = engine_config_of(line, slippage=slippage)
    symbol = lineage["symbol"]
    sym_bars = bars.filter(pl.col("symbol") == symbol)
    if sym_bars.height == 0:
        raise ValueError(f"no bars for blueprint symbol {symbol}")
    precision = price_precision_for(sym_bars["close"].cast(pl.Float64).to_numpy())
    same_bars = parity_bars(_engine_bars(sym_bars), precision)
    signals = signal_cutoff_events(events, same_bars, line, spec.bar_minutes)
    candidate = _candidate(line)
    entries = rule_entries(candidate, signals, states, spec)
    targets = rule_targets(entries, symbol, int(candidate["horizon_bars"]), spec.bar_minutes)
    if targets.height:
        result = run_backtest(same_bars, targets, config)
        ours, pnl_engine = _engine_fills(result), float(result.metrics["pnl_net"])
    else:
        ours = pl.DataFrame(schema={"ts": same_bars.schema["ts"], "side": pl.String, "qty": pl.Float64,
                                    "fill_price": pl.Float64, "exec_price": pl.Float64, "fee": pl.Float64})  # fmt: skip
        pnl_engine = 0.0
    run: NautilusRun = run_blueprint(
        line, same_bars, signals, states, price_precision=precision, taker_fee_bps=config.taker_fee_bps,
        slippage_ticks=slippage,
    )  # fmt: skip
    table = _side_by_side(ours, run.fills)
    fee_rate = config.fee_bps * 1e-4
    tick = 10.0**-precision
    explained = float(
        (-(ours["qty"] + ours["qty"].abs() * fee_rate) * (ours["exec_price"] - table["price_nautilus"].head(ours.height))).sum()
    ) if ours.height == run.fills.height else float("nan")  # fmt: skip
    bound = float(
        (ours["qty"].abs() * (1 + fee_rate) * ((ours["exec_price"] - ours["fill_price"]).abs() + tick)).sum()
    )
    parity = {
        "n_fills_engine": ours.height, "n_fills_nautilus": run.fills.height, "pnl_engine": pnl_engine,
        "pnl_nautilus": run.pnl, "explained": explained, "bound": bound,
        "notional": float((ours["qty"].abs() * ours["exec_price"]).sum()),
        "late_events": run.late_events, "open_position": run.open_position,
    }  # fmt: skip
    return BlueprintParity(
        blueprint_id=line["blueprint_id"],
        candidate_id=lineage["candidate_id"],
        symbol=symbol,
        slippage=slippage,
        fills=table,
        n_fills_engine=ours.height,
        n_fills_nautilus=run.fills.height,
        pnl_engine=pnl_engine,
        pnl_nautilus=run.pnl,
        explained_pnl_diff=explained,
        traded_notional=parity["notional"],
        slippage_bound=bound,
        late_events=run.late_events,
        open_position_nautilus=run.open_position,
        engine_config_id_matches=engine_config_of(line, slippage=True).content_id()
        == line["costs"]["engine_config_id"],
        failures=tuple(_failures(table, parity, slippage)),
    )


def check_blueprints(
    lines: list[dict[str, Any]],
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    *,
    slippage: bool = False,
    spec: DiscoverySpec | None = None,
) -> list[BlueprintParity]:
    """:func:`check_blueprint` for every line, in file order."""
    spec = spec or load_discovery_spec()
    return [check_blueprint(line, bars, events, states, slippage=slippage, spec=spec) for line in lines]
