"""Public entry points: :func:`run_backtest` (a bars frame, one portfolio) and :func:`run_sweep`
(NumPy arrays, many independent strategy columns at once)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from quant_platform.core.hashing import sha256_hex
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.engine.arrays import as_columns
from quant_platform.engine.config import ENGINE_VERSION, EngineConfig
from quant_platform.engine.inputs import (
    check_bar_arrays,
    check_bars_frame,
    check_sweep_pandas,
    is_pandas,
    nan_target_counts,
    pandas_targets_on_grid,
)
from quant_platform.engine.metrics import exposure_metrics, path_metrics, trade_metrics
from quant_platform.engine.outcomes import OUTCOME_KEYS, report_outcomes
from quant_platform.engine.replay import MarketArrays, Replay, replay
from quant_platform.engine.round_trips import labels, round_trip_table
from quant_platform.engine.targets import TargetChanges, changes_from_dense

BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BacktestResult:
    """Everything a run produced. Frames follow :mod:`quant_platform.engine.schemas`: ``trades`` lists the
    fills (a flip is one fill), ``round_trips`` regroups them into trades (a flip closes one and opens the next;
    convention in :mod:`quant_platform.engine.round_trips`). ``content_hash`` covers the fill-level tables
    (``round_trips`` is derived from ``trades`` and ``steps``).

    ``metrics`` holds plain Python values (see :mod:`quant_platform.engine.metrics` for units); a statistic
    that is undefined for the run (e.g. ``sharpe_daily`` under ``insufficient_observation``, ``hit_rate``
    without a closed round trip) is ``None``.
    """

    steps: pl.DataFrame
    equity: pl.DataFrame
    trades: pl.DataFrame
    rejected_orders: pl.DataFrame
    round_trips: pl.DataFrame
    metrics: dict[str, Any]
    config: EngineConfig
    engine_version: str = ENGINE_VERSION

    def parquet_bytes(self) -> dict[str, bytes]:
        """Each table as Parquet bytes (deterministic for the same inputs, config and code)."""
        out = {}
        for name in ("steps", "equity", "trades", "rejected_orders"):
            buf = io.BytesIO()
            getattr(self, name).write_parquet(buf, statistics=False)
            out[name] = buf.getvalue()
        return out

    def content_hash(self) -> str:
        """sha256 over the tables' Parquet bytes, in a fixed order."""
        parts = self.parquet_bytes()
        return sha256_hex(b"".join(sha256_hex(parts[k]).encode() for k in sorted(parts)))


@dataclass(frozen=True)
class SweepResult:
    """One summary row per strategy column; ``equity`` ``[T, K]`` only when asked for."""

    summary: pl.DataFrame
    config: EngineConfig
    equity: np.ndarray | None = None
    engine_version: str = ENGINE_VERSION


def _ts_ms(frame: pl.DataFrame, name: str) -> pl.Series:
    dtype = frame.schema["ts"]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone != "UTC":
        raise ValueError(f"{name}.ts must be Datetime with time_zone='UTC', got {dtype}")
    if frame["ts"].null_count():
        raise ValueError(f"{name}.ts has {frame['ts'].null_count()} null timestamps")
    return frame["ts"].cast(TS_DTYPE).dt.epoch("ms")


def _check_unique(frame: pl.DataFrame, name: str) -> None:
    dupes = frame.select(pl.struct("symbol", "ts").is_duplicated().sum()).item()
    if dupes:
        raise ValueError(f"{name} has {dupes} duplicated (symbol, ts) rows")


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` for int64 timestamps, by one sort (or none when already strictly increasing).

    NumPy 2.3+ answers ``np.unique`` of integers through a hash table and then sorts the result; on 2.1M
    one-minute bars that took ~4 s where a sort and a neighbour comparison take tens of milliseconds.
    """
    if values.size < 2 or bool((values[1:] > values[:-1]).all()):
        return values.copy()
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class _Grid:
    """The (symbol × bar) grid of a bars frame: sorted symbols, sorted union of bar timestamps."""

    def __init__(self, bars: pl.DataFrame) -> None:
        missing = [c for c in BAR_COLUMNS if c not in bars.columns]
        if missing:
            raise ValueError(f"bars is missing columns {missing}")
        if bars.height == 0:
            raise ValueError("bars is empty")
        self.symbols = sorted(bars["symbol"].unique().to_list())
        ts = _ts_ms(bars, "bars").to_numpy()
        self.ts_ms = sorted_unique(ts)
        self.sym_index = {s: i for i, s in enumerate(self.symbols)}
        self.rows, self.cols = self.locate(bars["symbol"], ts)
        # (symbol, ts) uniqueness from the grid cells (a sort of int64 keys, none when rows come in order)
        keys = self.rows * len(self.ts_ms) + self.cols
        if keys.size > 1 and not bool((keys[1:] > keys[:-1]).all()):
            ordered = np.sort(keys)
            same = ordered[1:] == ordered[:-1]
            if same.any():
                dupes = int((np.r_[same, False] | np.r_[False, same]).sum())
                raise ValueError(f"bars has {dupes} duplicated (symbol, ts) rows")
            self.in_order = False
        else:
            # rows sorted by (symbol, ts) and covering every cell: each column is its dense array as is
            self.in_order = keys.size == len(self.symbols) * len(self.ts_ms)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.symbols), len(self.ts_ms)

    def locate(self, symbol: pl.Series, ts_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.symbols) == 1 and np.array_equal(ts_ms, self.ts_ms):  # one symbol's own clock, in order
            return np.zeros(ts_ms.shape[0], dtype=np.int64), np.arange(ts_ms.shape[0])
        rows = symbol.replace_strict(self.sym_index, default=-1, return_dtype=pl.Int64).to_numpy()
        cols = np.searchsorted(self.ts_ms, ts_ms)
        return rows, cols

    def dense(self, values: np.ndarray, fill: Any = np.nan, dtype: Any = np.float64) -> np.ndarray:
        if self.in_order:
            return np.array(values, dtype=dtype).reshape(self.shape)  # a writable copy, no scatter
        out = np.full(self.shape, fill, dtype=dtype)
        out[self.rows, self.cols] = values
        return out


def _float(frame: pl.DataFrame, col: str) -> np.ndarray:
    return frame[col].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _market_from_bars(bars: pl.DataFrame, grid: _Grid) -> MarketArrays:
    arrays = {c: grid.dense(_float(bars, c)) for c in ("open", "high", "low", "close", "volume")}
    row_gap = bars["gap"].fill_null(True).to_numpy() if "gap" in bars.columns else np.zeros(bars.height, bool)
    gap = grid.dense(row_gap, fill=True, dtype=bool)  # a (symbol, ts) with no row is a gap
    return MarketArrays(gap=gap, **arrays)


def _targets_from_frame(targets: pl.DataFrame, grid: _Grid) -> np.ndarray:
    missing = [c for c in ("symbol", "ts", "target_weight") if c not in targets.columns]
    if missing:
        raise ValueError(f"targets is missing columns {missing}")
    _check_unique(targets, "targets")
    ts = _ts_ms(targets, "targets").to_numpy()
    rows, cols = grid.locate(targets["symbol"], ts)
    on_grid = (rows >= 0) & (cols < len(grid.ts_ms))
    on_grid[on_grid] = grid.ts_ms[cols[on_grid]] == ts[on_grid]
    if not on_grid.all():
        raise ValueError(
            f"targets has {int((~on_grid).sum())} rows whose (symbol, ts) is not a bar of `bars`"
        )
    dense = np.full(grid.shape, np.nan)
    dense[rows, cols] = _float(targets, "target_weight")
    return dense


def _frame_nan_counts(targets: pl.DataFrame) -> dict[str, int]:
    """Null/NaN weights of a targets frame, and those after the symbol's first weight (see engine.inputs)."""
    weight = pl.col("target_weight").cast(pl.Float64)
    missing = weight.is_null() | weight.is_nan()
    seen_before = (~missing).cast(pl.Int64).cum_sum().over("symbol", order_by="ts") > 0
    row = targets.select(
        missing.sum().alias("n_target_nan"), (missing & seen_before).sum().alias("n_target_nan_after_first")
    ).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


def _funding_from_frame(funding: pl.DataFrame, grid: _Grid) -> tuple[np.ndarray, dict[str, int]]:
    missing = [c for c in ("symbol", "ts", "funding_rate") if c not in funding.columns]
    if missing:
        raise ValueError(f"funding is missing columns {missing}")
    ts = _ts_ms(funding, "funding").to_numpy()
    rate = _float(funding, "funding_rate")
    if np.isnan(rate).any():
        raise ValueError(f"funding has {int(np.isnan(rate).sum())} null/NaN funding_rate values")
    rows, _ = grid.locate(funding["symbol"], ts)
    bar = np.searchsorted(grid.ts_ms, ts, side="right") - 1
    step = int(np.min(np.diff(grid.ts_ms))) if len(grid.ts_ms) > 1 else 1
    inside = (rows >= 0) & (bar >= 0) & (ts < grid.ts_ms[-1] + step)
    dense = np.zeros(grid.shape)
    np.add.at(dense, (rows[inside], bar[inside]), rate[inside])
    counts = {
        "funding_prints_applied": int(inside.sum()),
        "funding_prints_unknown_symbol": int((rows < 0).sum()),
        "funding_prints_outside_window": int(((rows >= 0) & ~inside).sum()),
    }
    return dense, counts


def run_backtest(
    bars: pl.DataFrame,
    targets: pl.DataFrame | np.ndarray,
    config: EngineConfig,
    funding: pl.DataFrame | None = None,
    *,
    completed_runs: int = 1,
) -> BacktestResult:
    """Replay target weights on ``bars`` (Bars5m layout: symbol, ts, open, high, low, close, volume[, gap]).

    ``targets``: a frame (symbol, ts, target_weight) at signal bars — the weight stands until the next row
    for that symbol, a null weight means "no new instruction" — or an array ``[T]`` (one symbol) /
    ``[T, S]`` aligned with the sorted bar timestamps × sorted symbols. A (symbol, ts) missing from
    ``bars`` is a gap bar. ``funding``: (symbol, ts, funding_rate) settlement prints for perps (the
    as-of ``funding_rate`` column of Bars5m is not a settlement schedule and is not used).
    All symbols form one portfolio (the gross cap applies across them).

    A pandas Series/DataFrame of targets is aligned to the bars by its index (timestamps or positions) and
    its columns by symbol name, never by order; prices <= 0, ``high < low`` and negative volume are refused
    (:mod:`quant_platform.engine.inputs`).
    """
    if not isinstance(config, EngineConfig):
        raise ValueError(f"config must be an EngineConfig, got {type(config).__name__}")
    grid = _Grid(bars)
    check_bars_frame(bars)
    market = _market_from_bars(bars, grid)
    n_sym, n_bars = grid.shape
    if isinstance(targets, pl.DataFrame):
        requests = changes_from_dense(_targets_from_frame(targets, grid), bars_axis=1)
        input_counts = _frame_nan_counts(targets)
    else:
        if is_pandas(targets):
            arr = pandas_targets_on_grid(targets, grid.ts_ms, grid.symbols)
        else:
            arr = np.asarray(targets, dtype=np.float64)
            arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape != (n_bars, n_sym):
            raise ValueError(
                f"targets array must be [T] or [T, S] = {(n_bars, n_sym)}, got {np.shape(targets)}"
            )
        requests = changes_from_dense(arr)
        input_counts = nan_target_counts(arr)
    funding_counts: dict[str, int] = {}
    if funding is not None:
        rate, funding_counts = _funding_from_frame(funding, grid)
        market = MarketArrays(**{**market.__dict__, "funding_rate": rate})
    rng = np.random.default_rng(config.seed)
    rep = replay(market, requests, config, portfolio=True, rng=rng)
    return _assemble(rep, grid, config, completed_runs, {**funding_counts, **input_counts})


def _over_symbols(values: np.ndarray) -> np.ndarray:
    """Sum over the symbol axis; one symbol's row as is (the same values, without a reduction's pass)."""
    return values[0] if values.shape[0] == 1 else values.sum(axis=0)


def _assemble(
    rep: Replay, grid: _Grid, config: EngineConfig, completed_runs: int, funding_counts: dict[str, int]
) -> BacktestResult:
    n_sym, n_bars = grid.shape
    fills = rep.fills
    capital = config.initial_capital
    fees = np.zeros((n_sym, n_bars))
    fees[fills.column, fills.bar] = fills.fee
    slip = np.zeros((n_sym, n_bars))
    slip[fills.column, fills.bar] = fills.slippage_cost
    fund = np.zeros((n_sym, n_bars))
    fund[rep.funding.column, rep.funding.bar] = rep.funding.pnl
    position_value = rep.units * rep.mark
    pnl_net = np.diff(rep.equity, axis=1, prepend=capital)
    pnl_gross = pnl_net + fees + slip - fund
    ts = pl.Series("ts", grid.ts_ms).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    mark = np.broadcast_to(rep.mark, (n_sym, n_bars))
    steps = pl.DataFrame(
        {
            "symbol": pl.Series(grid.symbols, dtype=pl.String).gather(
                np.repeat(np.arange(n_sym, dtype=np.uint32), n_bars)
            ),  # polars repeats the strings itself: a 2M-row object array costs seconds
            "ts": pl.concat([ts] * n_sym),
            "target_weight": rep.held_weight().ravel(),
            "position_units": rep.units.ravel(),
            "mark_price": np.where(mark > 0, mark, np.nan).ravel(),
            "position_value": position_value.ravel(),
            "pnl_gross": pnl_gross.ravel(),
            "fees": fees.ravel(),
            "slippage_cost": slip.ravel(),
            "funding_pnl": fund.ravel(),
            "pnl_net": pnl_net.ravel(),
        },
        schema_overrides={"symbol": pl.String},
    ).with_columns(pl.col("mark_price").fill_nan(None))
    port_equity = rep.equity[0] if n_sym == 1 else capital + (rep.equity - capital).sum(axis=0)
    equity = pl.DataFrame(
        {
            "ts": ts,
            "pnl_gross": _over_symbols(pnl_gross),
            "fees": _over_symbols(fees),
            "slippage_cost": _over_symbols(slip),
            "funding_pnl": _over_symbols(fund),
            "pnl_net": np.diff(port_equity, prepend=capital),
            "equity": port_equity,
            "gross_exposure": _over_symbols(np.abs(position_value)),
            "net_exposure": _over_symbols(position_value),
        }
    )
    symbols = np.array(grid.symbols, dtype=object)
    trades = pl.DataFrame(
        {
            "symbol": labels(grid.symbols, fills.column),
            "ts": pl.Series(grid.ts_ms[fills.bar]).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
            "side": labels(["sell", "buy"], (fills.qty > 0).astype(np.uint32)),
            "qty": fills.qty,
            "units_after": fills.units_after,
            "target_weight": fills.target_weight,
            "fill_price": fills.fill_price,
            "exec_price": fills.exec_price,
            "slippage_bps": fills.slippage_bps,
            "notional": np.abs(fills.qty) * fills.exec_price,
            "fee": fills.fee,
            "slippage_cost": fills.slippage_cost,
        },
        schema_overrides={"symbol": pl.String, "side": pl.String},
    ).sort("ts", "symbol", maintain_order=True)
    risk = rep.risk
    rejected = pl.DataFrame(
        {
            "symbol": symbols[risk.rejected_column].astype(str)
            if risk.rejected_column.size
            else np.array([], str),
            "ts": pl.Series(grid.ts_ms[risk.rejected_bar])
            .cast(pl.Datetime("ms"))
            .dt.replace_time_zone("UTC"),
            "requested_weight": risk.rejected_weight,
            "reason": risk.rejected_reason.astype(str) if risk.rejected_reason.size else np.array([], str),
        },
        schema_overrides={"symbol": pl.String, "reason": pl.String},
    ).sort("ts", "symbol", maintain_order=True)
    metrics = _portfolio_metrics(rep, port_equity, position_value, grid, config, completed_runs)
    metrics.update(funding_counts)
    report_outcomes(metrics, columns=1)
    round_trips = round_trip_table(fills, rep.funding, rep.mark, grid.ts_ms, grid.symbols)
    return BacktestResult(
        steps=steps,
        equity=equity,
        trades=trades,
        rejected_orders=rejected,
        round_trips=round_trips,
        metrics=metrics,
        config=config,
    )


def _scalar(value: Any) -> Any:
    """A plain Python value; an undefined statistic (NaN) becomes None, so it can never read as a number."""
    item = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(item, float) and math.isnan(item) else item


def _portfolio_metrics(
    rep: Replay,
    port_equity: np.ndarray,
    position_value: np.ndarray,
    grid: _Grid,
    config: EngineConfig,
    completed_runs: int,
) -> dict[str, Any]:
    n_sym, n_bars = grid.shape
    path = path_metrics(port_equity[None, :], grid.ts_ms, config, completed_runs=completed_runs)
    group = np.zeros(n_sym, dtype=np.int64)
    trade = trade_metrics(rep.fills, rep.funding, n_bars, group, 1, config)
    out = {k: _scalar(v[0]) for k, v in {**path, **trade}.items()}
    submitted, rejected = int(rep.risk.submitted.sum()), int(rep.risk.rejected.sum())
    gross = _over_symbols(np.abs(position_value))
    pnl_gross = out["pnl_net"] + out["fees"] + out["slippage_cost"] - out["funding_pnl"]
    out.update(
        {
            "pnl_gross": pnl_gross,
            "pnl_after_cost": out["pnl_net"],
            "total_return_gross": pnl_gross / config.initial_capital,
            "n_orders_submitted": submitted,
            "n_orders_rejected": rejected,
            "reject_rate": rejected / submitted if submitted else 0.0,
            "n_orders_clipped": int(rep.risk.clipped.sum()),
            "n_orders_unfilled_at_end": int(rep.unexecuted.unfilled_at_end.sum()),
            "n_orders_superseded": int(rep.unexecuted.superseded.sum()),
            "avg_gross_exposure": float(gross.mean() / config.initial_capital),
            "max_gross_exposure": float(gross.max() / config.initial_capital),
            # Caps bound targets at order time; marked exposure can drift past them (see engine.risk).
            "gross_cap_breach_steps": int(
                (gross / config.initial_capital > config.max_gross_weight * (1 + 1e-9)).sum()
            ),
            "time_in_market": float((rep.units != 0).any(axis=0).mean()),
            "n_bars": n_bars,
            "n_symbols": n_sym,
            "completed_runs": completed_runs,
            "engine_version": ENGINE_VERSION,
            "config_id": config.content_id(),
        }
    )
    return out


def _column_nan_counts(dense: np.ndarray | None, block: slice, n_columns: int) -> dict[str, np.ndarray]:
    """Per column: NaN target cells, and those after the column's first value (see engine.inputs)."""
    if dense is None:  # TargetChanges carry no NaN
        zero = np.zeros(n_columns, dtype=np.int64)
        return {"n_target_nan": zero, "n_target_nan_after_first": zero.copy()}
    nan = np.isnan(dense[:, block])
    seen = np.logical_or.accumulate(~nan, axis=0)
    return {
        "n_target_nan": nan.sum(axis=0).astype(np.int64),
        "n_target_nan_after_first": (nan & seen).sum(axis=0).astype(np.int64),
    }


def run_sweep(
    close: np.ndarray,
    targets: np.ndarray | TargetChanges,
    config: EngineConfig,
    *,
    open: np.ndarray | None = None,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    volume: np.ndarray | None = None,
    gap: np.ndarray | None = None,
    funding_rate: np.ndarray | None = None,
    ts_ms: np.ndarray | None = None,
    completed_runs: int = 1,
    keep_equity: bool = False,
    chunk_columns: int = 64,
) -> SweepResult:
    """Replay ``targets [T, K]`` (weights, NaN = hold) as K independent one-asset strategies.

    ``targets`` may also be a :class:`TargetChanges` (e.g. from :func:`changes_from_signals`), which skips
    the dense target matrix entirely.

    Bar arrays are ``[T]`` (shared by every column) or ``[T, K]``. ``funding_rate`` holds the rate settled
    in each bar (0 elsewhere). ``ts_ms`` (bar open times, epoch ms UTC) enables the daily Sharpe; without it
    the run has 0 observation days. Columns are processed in blocks of ``chunk_columns`` to bound memory;
    the block size never changes the results.

    Arrays are read by position: a pandas argument is accepted only when its index is strictly increasing
    and shared by every pandas argument (see :mod:`quant_platform.engine.inputs`). The summary counts each
    column's order outcomes (:mod:`quant_platform.engine.outcomes`) and NaN target cells.
    """
    if not isinstance(config, EngineConfig):
        raise ValueError(f"config must be an EngineConfig, got {type(config).__name__}")
    check_sweep_pandas(
        {"targets": targets, "close": close, "open": open, "high": high, "low": low, "volume": volume,
         "gap": gap, "funding_rate": funding_rate},
        None if ts_ms is None else np.asarray(ts_ms, dtype=np.int64),
    )  # fmt: skip
    if isinstance(targets, TargetChanges):
        n_bars, n_cols = targets.n_bars, targets.n_columns
        dense_targets = None
    else:
        dense_targets = np.asarray(targets, dtype=np.float64)
        if dense_targets.ndim == 1:
            dense_targets = dense_targets[:, None]
        if dense_targets.ndim != 2:
            raise ValueError(f"targets must be [T] or [T, K], got shape {dense_targets.shape}")
        n_bars, n_cols = dense_targets.shape
    if n_cols == 0 or n_bars == 0:
        raise ValueError(f"targets must have at least one bar and one column, got T={n_bars}, K={n_cols}")

    def opt(a: np.ndarray | None, name: str) -> np.ndarray | None:
        return None if a is None else as_columns(a, name, n_bars)

    gap_arr = None
    if gap is not None:
        g = np.asarray(gap)
        gap_arr = np.ascontiguousarray((g[:, None] if g.ndim == 1 else g).T, dtype=bool)
    market = MarketArrays(
        close=as_columns(close, "close", n_bars),
        open=opt(open, "open"),
        high=opt(high, "high"),
        low=opt(low, "low"),
        volume=opt(volume, "volume"),
        gap=gap_arr,
        funding_rate=opt(funding_rate, "funding_rate"),
    )
    for name, arr in market.__dict__.items():
        if arr is not None and arr.shape[0] not in (1, n_cols):
            raise ValueError(f"{name} has {arr.shape[0]} columns; expected 1 or {n_cols}")
    check_bar_arrays(market.__dict__)
    if ts_ms is not None:
        ts_ms = np.asarray(ts_ms, dtype=np.int64)
        if ts_ms.shape != (n_bars,) or (n_bars > 1 and not (ts_ms[1:] > ts_ms[:-1]).all()):
            raise ValueError("ts_ms must be [T] strictly increasing epoch milliseconds")
    if chunk_columns < 1:
        raise ValueError("chunk_columns must be >= 1")

    rng = np.random.default_rng(config.seed)
    parts: list[dict[str, np.ndarray]] = []
    equities = []
    for start in range(0, n_cols, chunk_columns):
        block = slice(start, min(start + chunk_columns, n_cols))
        if dense_targets is None:
            requests = targets.columns(block.start, block.stop)  # type: ignore[union-attr]
        else:
            requests = changes_from_dense(dense_targets[:, block])
        nan_counts = _column_nan_counts(dense_targets, block, requests.n_columns)
        rep = replay(market.pick(block), requests, config, portfolio=False, rng=rng)
        k = requests.n_columns
        part = path_metrics(rep.equity, ts_ms, config, completed_runs=completed_runs, scratch=rep.spare)
        part.update(trade_metrics(rep.fills, rep.funding, n_bars, np.arange(k), k, config))
        part.update(exposure_metrics(rep.fills, rep.mark, k, config))
        part["n_orders_submitted"] = rep.risk.submitted.astype(np.int64)
        part["n_orders_rejected"] = rep.risk.rejected.astype(np.int64)
        part["n_orders_clipped"] = rep.risk.clipped.astype(np.int64)
        part["n_orders_unfilled_at_end"] = rep.unexecuted.unfilled_at_end
        part["n_orders_superseded"] = rep.unexecuted.superseded
        part.update(nan_counts)
        parts.append(part)
        if keep_equity:
            equities.append(rep.equity.T)
    merged = (
        parts[0] if len(parts) == 1 else {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    )
    # derived columns in NumPy (a one-row summary is dominated by per-call expression overhead otherwise)
    pnl_gross = merged["pnl_net"] + merged["fees"] + merged["slippage_cost"] - merged["funding_pnl"]
    submitted, rejected = merged["n_orders_submitted"], merged["n_orders_rejected"]
    with np.errstate(divide="ignore", invalid="ignore"):
        reject_rate = np.where(submitted > 0, rejected / submitted, 0.0)
    summary = pl.DataFrame(
        {
            "column": np.arange(n_cols, dtype=np.int64),
            **merged,
            "pnl_gross": pnl_gross,
            "reject_rate": reject_rate,
            "pnl_after_cost": merged["pnl_net"],
        },
        nan_to_null=True,  # undefined statistics are null, never a number
    ).with_columns(
        # Polars' own division (it multiplies by 1/c on multi-row frames): the same bits as ever
        total_return_gross=pl.col("pnl_gross") / config.initial_capital
    )
    equity = np.ascontiguousarray(np.concatenate(equities, axis=1)) if keep_equity else None
    report_outcomes({k: int(merged[k].sum()) for k in OUTCOME_KEYS}, columns=n_cols)
    return SweepResult(summary=summary, config=config, equity=equity)
