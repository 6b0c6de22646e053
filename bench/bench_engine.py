"""Backtest engine throughput against vectorbt's ``Portfolio.from_signals`` on the same signals and fees.

Three shapes: 1M and 2.1M bars × 1 column, and 100k bars × 1,000 columns (an SMA-cross parameter sweep). Both engines
fill at the next bar's open (vectorbt gets the signals shifted one bar and ``price=open``), buy a fixed
notional (``size_type="value"``) with proportional fees, and sell the whole position on exit. Each run checks
that every column has the same number of orders and the same final equity (within 1e-9 of capital) before
reporting bar-steps/s. vectorbt is warmed up first (its numba compilation is excluded) and given enough
cash that it never scales an order down; its final equity is reported on our capital base.
``--quick`` uses 100k × 1 and 10k × 100.

The frame rows (``backtest_frame_*``) time :func:`run_backtest` on a Bars frame of 2.1M one-minute bars (100k with
``--quick``): the path a user of the frame API takes, bar grid included, against
vectorbt on the same signals. The bar grid's timestamp union is timed on its own against ``np.unique``, the
previous implementation (NumPy 2.3+ answers integer ``np.unique`` through a hash table, ~4 s of a 5 s run on
2.1M bars).
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import resource
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import best_of, row

CAPITAL = 1_000_000.0
FEE = 0.001  # 10 bps per fill, both engines
MINUTE_MS = 60_000


def make_market(n_bars: int, n_cols: int, seed: int = 7) -> dict[str, np.ndarray]:
    """A 1-minute random walk and SMA-cross entry/exit signals for ``n_cols`` (fast, slow) pairs."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n_bars)))
    open_ = np.r_[close[0], close[:-1]] * (1.0 + rng.normal(0.0, 0.0005, n_bars))
    fast = 5 + np.arange(n_cols) % 40
    slow = fast + 10 + 4 * (np.arange(n_cols) // 40)
    cum = np.r_[0.0, np.cumsum(close)]
    cache: dict[int, np.ndarray] = {}

    def sma(n: int) -> np.ndarray:
        if n not in cache:
            out = np.full(n_bars, np.nan)
            out[n - 1 :] = (cum[n:] - cum[:-n]) / n
            cache[n] = out
        return cache[n]

    entries = np.zeros((n_bars, n_cols), dtype=bool)
    exits = np.zeros((n_bars, n_cols), dtype=bool)
    for k in range(n_cols):
        above = sma(int(fast[k])) > sma(int(slow[k]))
        before = np.r_[False, above[:-1]]
        entries[:, k] = above & ~before
        exits[:, k] = ~above & before
    ts_ms = 1_704_067_200_000 + np.arange(n_bars, dtype=np.int64) * MINUTE_MS
    return {"close": close, "open": open_, "entries": entries, "exits": exits, "ts_ms": ts_ms}


def run_ours(m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Signals → sparse targets → sweep with full metrics. Returns (fills per column, final equity)."""
    from quant_platform.engine import EngineConfig, changes_from_signals, run_sweep

    config = EngineConfig(
        initial_capital=CAPITAL,
        taker_fee_bps=FEE * 1e4,
        slippage_base_bps=0.0,
        slippage_vol_coef=0.0,
        slippage_impact_bps=0.0,
    )
    changes = changes_from_signals(m["entries"], m["exits"])
    result = run_sweep(m["close"], changes, config, open=m["open"], ts_ms=m["ts_ms"])
    return result.summary["n_fills"].to_numpy(), result.summary["final_equity"].to_numpy()


def bars_frame(m: dict[str, np.ndarray]) -> Any:
    """The market as a one-symbol Bars frame (high/low bracket open and close; volume is irrelevant here)."""
    import polars as pl

    hi = np.maximum(m["open"], m["close"])
    lo = np.minimum(m["open"], m["close"])
    return pl.DataFrame(
        {
            "symbol": "SYN",
            "ts": pl.Series(m["ts_ms"]).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
            "open": m["open"],
            "high": hi,
            "low": lo,
            "close": m["close"],
            "volume": np.full(m["close"].shape, 1e9),
        }
    )


def run_ours_frame(frame: Any, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frame API, as a user calls it: ``run_backtest(bars, targets, config)``."""
    from quant_platform.engine import EngineConfig, run_backtest

    config = EngineConfig(
        initial_capital=CAPITAL,
        taker_fee_bps=FEE * 1e4,
        slippage_base_bps=0.0,
        slippage_vol_coef=0.0,
        slippage_impact_bps=0.0,
    )
    result = run_backtest(frame, targets, config)
    return np.array([result.trades.height]), np.array([result.metrics["final_equity"]])


def grid_rows(n_bars: int) -> list[dict]:
    """The bar grid's sorted timestamp union: the sort-based ``sorted_unique`` against ``np.unique``."""
    from quant_platform.engine.backtest import sorted_unique

    ts = make_market(1000, 1)["ts_ms"][0] + np.arange(n_bars, dtype=np.int64) * MINUTE_MS
    three = np.concatenate([ts[: n_bars // 3]] * 3)  # three symbols on one clock: a sort is needed
    rows = []
    for label, values in (("sorted", ts), ("3_symbols", three)):
        ours_s, got = best_of(lambda v=values: sorted_unique(v), repeat=5)
        ref_s, want = best_of(lambda v=values: np.unique(v), repeat=3)
        identical = bool(np.array_equal(got, want))
        rows.append(
            row(
                "engine",
                f"bar_grid_timestamps_per_s_{n_bars // 1000}k_{label}",
                values.size / ours_s,
                "timestamps/s",
                reference=values.size / ref_s,
                reference_name="np.unique (the previous bar grid)",
                target=">= 10x np.unique, identical output",
                target_met=identical and ref_s >= 10 * ours_s,
            )
        )
        print(f"  bar grid {label} {values.size}: sorted_unique {ours_s:.4f}s vs np.unique {ref_s:.4f}s")
    return rows


def frame_rows(n_bars: int, have_peer: bool) -> list[dict]:
    """``run_backtest`` on a Bars frame of ``n_bars`` one-minute bars against vectorbt on the same signals."""
    from quant_platform.engine import signals_to_targets

    m = make_market(n_bars, 1)
    frame = bars_frame(m)
    targets = signals_to_targets(m["entries"][:, 0], m["exits"][:, 0])
    label = f"{n_bars // 1000}k_bars"
    ours_s, (ours_fills, ours_final) = best_of(lambda: run_ours_frame(frame, targets), repeat=5)
    rows, ref_rate, met = [], None, None
    if have_peer:
        vbt_s, (vbt_orders, vbt_final) = best_of(lambda: run_vectorbt(m), repeat=5)
        identical = (
            int(ours_fills[0]) == int(vbt_orders[0]) and abs(ours_final[0] - vbt_final[0]) <= 1e-9 * CAPITAL
        )
        ref_rate = n_bars / vbt_s
        met = identical and n_bars / ours_s >= ref_rate
        print(
            f"  frame {label}: {int(ours_fills[0])} fills, run_backtest {ours_s:.3f}s vs vectorbt {vbt_s:.3f}s"
        )
    else:
        print(f"  frame {label}: {int(ours_fills[0])} fills, run_backtest {ours_s:.3f}s")
    rows.append(
        row(
            "engine",
            f"backtest_frame_bars_per_s_{label}_x_1",
            n_bars / ours_s,
            "bars/s",
            reference=ref_rate,
            reference_name="vectorbt.Portfolio.from_signals" if have_peer else None,
            target="> vectorbt, identical trades (run_backtest builds every table; vectorbt only its arrays)",
            target_met=met,
        )
    )
    return rows


def run_vectorbt(m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The same strategy in vectorbt. Returns (orders per column, final equity on our capital base)."""
    import pandas as pd
    import vectorbt as vbt

    def frame(a: np.ndarray) -> Any:
        return pd.Series(a[:, 0]) if a.shape[1] == 1 else pd.DataFrame(a)

    lagged_entries = np.r_[np.zeros((1, m["entries"].shape[1]), bool), m["entries"][:-1]]
    lagged_exits = np.r_[np.zeros((1, m["exits"].shape[1]), bool), m["exits"][:-1]]
    # enough cash that vectorbt never scales an order down: fees alone reach ~80 capitals per 1M bars here
    cash = CAPITAL * max(100.0, 1e-3 * m["close"].shape[0])
    pf = vbt.Portfolio.from_signals(
        pd.Series(m["close"]),
        frame(lagged_entries),
        frame(lagged_exits),
        price=pd.Series(m["open"]),
        fees=FEE,
        size=CAPITAL,
        size_type="value",
        init_cash=cash,
    )
    final = np.atleast_1d(np.asarray(pf.final_value())) - cash + CAPITAL
    return np.atleast_1d(np.asarray(pf.orders.count())), final


def _own_peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` belongs to the address space, so unlike ``ru_maxrss`` (kept across
    fork + exec on Linux) it does not inherit the parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(engine: str, n_bars: int, n_cols: int, queue: Any) -> None:
    m = make_market(n_bars, n_cols)
    (run_ours if engine == "ours" else run_vectorbt)(m)
    queue.put(_own_peak_rss_mb())


def peak_rss_mb(engine: str, n_bars: int, n_cols: int) -> float:
    """Peak RSS (MiB) of one run (data generation + engine, imports included) in a fresh spawned process.

    Like ``bench.common.isolated`` but read from ``VmHWM``: ``isolated`` reports ``ru_maxrss``, which a
    spawned child inherits from a parent that is already large (e.g. after the vectorbt runs).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(engine, n_bars, n_cols, queue))
    proc.start()
    peak = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"benchmark child failed with exit code {proc.exitcode}")
    return peak


def run(quick: bool = False) -> list[dict]:
    shapes = [(100_000, 1), (10_000, 100)] if quick else [(1_000_000, 1), (2_100_000, 1), (100_000, 1_000)]
    have_peer = importlib.util.find_spec("vectorbt") is not None
    if not have_peer:
        print("  vectorbt is not installed (pip install '.[peers]'): peer comparison skipped")
    else:
        try:
            run_vectorbt(make_market(200, 2))  # numba compilation, excluded from the timings
            run_vectorbt(make_market(200, 1))
        except Exception as exc:  # an incompatible peer must not hide our own numbers
            print(f"  vectorbt failed to run ({type(exc).__name__}: {exc}): peer comparison skipped")
            have_peer = False
    rows = grid_rows(100_000 if quick else 2_100_000)
    rows += frame_rows(100_000 if quick else 2_100_000, have_peer)
    for n_bars, n_cols in shapes:
        label = f"{n_bars // 1000}k_bars_x_{n_cols}_cols"
        m = make_market(n_bars, n_cols)
        steps = n_bars * n_cols
        repeat = 7 if steps <= 2_000_000 else 2  # best of many: the host is shared and noisy
        ours_s, (ours_fills, ours_final) = best_of(lambda m=m: run_ours(m), repeat=repeat)
        ours_rss = peak_rss_mb("ours", n_bars, n_cols)
        ref_rate = ref_rss = None
        met = None
        if have_peer:
            # the same number of repeats as ours: a best-of over more tries would favour one side
            vbt_s, (vbt_orders, vbt_final) = best_of(lambda m=m: run_vectorbt(m), repeat=repeat)
            ref_rss = peak_rss_mb("vectorbt", n_bars, n_cols)
            mismatched = int((ours_fills != vbt_orders).sum())
            max_diff = float(np.max(np.abs(ours_final - vbt_final)) / CAPITAL)
            identical = mismatched == 0 and max_diff <= 1e-9
            ref_rate = steps / vbt_s
            met = identical and (steps / ours_s) >= 3.0 * ref_rate
            rows.append(
                row(
                    "engine",
                    f"columns_with_different_trade_count_{label}",
                    float(mismatched),
                    "columns",
                    target="0 (identical trades)",
                    target_met=mismatched == 0,
                    higher_is_better=False,
                )
            )
            rows.append(
                row(
                    "engine",
                    f"max_final_equity_diff_{label}",
                    max_diff,
                    "fraction of capital",
                    target="<= 1e-9",
                    target_met=max_diff <= 1e-9,
                    higher_is_better=False,
                )
            )
            print(f"  {label}: {int(ours_fills.sum())} fills, ours {ours_s:.3f}s vs vectorbt {vbt_s:.3f}s")
        rows.append(
            row(
                "engine",
                f"bar_steps_per_s_{label}",
                steps / ours_s,
                "steps/s",
                reference=ref_rate,
                reference_name="vectorbt.Portfolio.from_signals" if have_peer else None,
                target=">= 3x vectorbt, identical trades",
                target_met=met,
                peak_rss_mb=ours_rss,
            )
        )
        rows.append(
            row(
                "engine",
                f"peak_rss_{label}",
                ours_rss,
                "MiB",
                reference=ref_rss,
                reference_name="vectorbt" if have_peer else None,
                higher_is_better=False,
                peak_rss_mb=ours_rss,
            )
        )
    return rows
