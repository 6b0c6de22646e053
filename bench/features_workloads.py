"""The measured workloads of ``bench_features`` (data generation and our chain), in a module of their own.

Peak RSS is read in fresh spawned processes that import the function's module: keeping these functions
away from the pandas reference means those processes never import pandas (about 60 MiB that is the
benchmark's, not the chain's).
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE

CRYPTO = {"symbols": 20, "bars": 90 * 288, "minutes": 5}
PANEL = {"symbols": 2000, "bars": 2500, "minutes": 1440}
QUICK_CRYPTO = {"symbols": 4, "bars": 10 * 288, "minutes": 5}
QUICK_PANEL = {"symbols": 200, "bars": 1000, "minutes": 1440}
PANEL_FAMILIES = ("returns", "volatility", "momentum", "price_structure")


def make_panel(
    n_symbols: int, n_bars: int, minutes: int, seed: int = 0, gap_rate: float = 0.001
) -> pl.DataFrame:
    """Bars5m-shaped panel: correlated random walks with OHLC, volumes, funding, OI, liquidations, gaps."""
    rng = np.random.default_rng(seed)
    n = n_symbols * n_bars
    market = rng.normal(0, 0.002, n_bars)
    rets = (0.5 * np.tile(market, n_symbols) + rng.normal(0, 0.002, n)).reshape(n_symbols, n_bars)
    close = (100.0 * np.exp(np.cumsum(rets, axis=1))).ravel()
    open_ = np.roll(close, 1)
    open_[::n_bars] = close[::n_bars]
    wick = np.abs(rng.normal(0, 0.001, (2, n))) * close
    volume = rng.lognormal(3, 0.5, n)
    gap = rng.random(n) < gap_rate
    gap[::n_bars] = False
    funding = np.repeat(rng.normal(1e-4, 2e-4, n // 96 + 1), 96)[:n]
    start = np.datetime64("2018-01-01T00:00", "ms").astype(np.int64)
    ts = start + np.tile(np.arange(n_bars, dtype=np.int64) * minutes * 60_000, n_symbols)
    frame = pl.DataFrame(
        {
            "symbol": np.repeat(np.array([f"S{i:04d}" for i in range(n_symbols)]), n_bars),
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": volume,
            "quote_volume": volume * close,
            "taker_buy_volume": volume * rng.beta(5, 5, n),
            "gap": gap,
            "basis_bps": rng.normal(3, 2, n),
            "funding_rate": funding,
            "open_interest": 1e6 * np.exp(np.cumsum(rng.normal(0, 0.002, n))),
            "liq_long_notional": np.where(rng.random(n) < 0.05, rng.lognormal(8, 1, n), 0.0),
            "liq_short_notional": np.where(rng.random(n) < 0.05, rng.lognormal(8, 1, n), 0.0),
            "volume_ok": ~gap,
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").cast(TS_DTYPE))
    nullable = ["open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume", "basis_bps"]
    return frame.with_columns(pl.when(~pl.col("gap")).then(pl.col(c)).alias(c) for c in nullable)


# --- measured workloads (module-level: the RSS runs happen in spawned processes) ---------------------------
def polars_features(bars: pl.DataFrame, shape: dict, families: tuple[str, ...] | None) -> pl.DataFrame:
    from quant_platform.features import compute_features

    return compute_features(bars, families=families, grid_minutes=shape["minutes"])


def polars_all(bars: pl.DataFrame, shape: dict, families: tuple[str, ...] | None) -> int:
    from quant_platform.events import detect_events
    from quant_platform.features import compute_context

    features = polars_features(bars, shape, families)
    context = compute_context(features)
    events, flags = detect_events(features, context)
    return features.height + context.height + events.height + flags.height


def rss_run(shape: dict, families: tuple[str, ...] | None, with_events: bool) -> None:
    """Generate the data and compute in a fresh process: its peak RSS is the whole job's footprint
    (bars are released once features exist, as an asset run releases its input)."""
    from quant_platform.events import detect_events
    from quant_platform.features import compute_context

    bars = make_panel(shape["symbols"], shape["bars"], shape["minutes"])
    features = polars_features(bars, shape, families)
    del bars
    if with_events:
        context = compute_context(features)
        detect_events(features, context)


# --- one fresh process per asset step, inputs read from Parquet (Dagster's multiprocess executor) ----------
def write_panel(shape: dict, path: str) -> None:
    make_panel(shape["symbols"], shape["bars"], shape["minutes"]).write_parquet(path)


def step_features(shape: dict, families: tuple[str, ...] | None, bars: str, out: str) -> None:
    polars_features(pl.scan_parquet(bars), shape, families).write_parquet(out)


def step_context(features: str, out: str) -> None:
    from quant_platform.features import compute_context

    compute_context(pl.scan_parquet(features)).write_parquet(out)


def step_events(features: str, context: str, events_out: str, flags_out: str) -> None:
    from quant_platform.events import detect_events

    # Scanned inputs: detect_events projects them to (symbol, ts) and the rule inputs before reading.
    events, flags = detect_events(pl.scan_parquet(features), pl.scan_parquet(context))
    events.write_parquet(events_out)
    flags.write_parquet(flags_out)


def first_call() -> None:
    """The whole chain on a tiny panel: in a fresh process this loads the compiled kernels from numba's
    on-disk cache, or compiles them once when the cache is cold (a fresh clone)."""
    polars_all(make_panel(2, 600, 5), QUICK_CRYPTO, None)


def timed_best(
    workload: str, shape: dict, families: tuple[str, ...] | None, n_subset: int, repeat: int = 2
) -> float:
    """Best seconds of ``repeat`` runs of ``workload`` (``features``/``chain``: ours on every symbol; ``pandas_features``/
        ``pandas_chain``: the pandas reference on the first ``n_subset`` symbols), meant for a fresh process
        (``isolated_result``) so that no other workload's heap or caches sit under it. An untimed call on a
        tiny panel first pays the imports and loads the compiled kernels, and the best of the repeats is the warm
    (steady-state) run, as in a backfill that computes many partitions in one process: for both sides alike."""
    bars = make_panel(shape["symbols"], shape["bars"], shape["minutes"])
    if workload.startswith("pandas_"):
        from bench.pandas_reference import pandas_chain, pandas_features, to_pandas_bars

        subset = bars.filter(pl.col("symbol").is_in(bars["symbol"].unique().sort().head(n_subset).implode()))
        del bars
        reference = pandas_features if workload == "pandas_features" else pandas_chain

        def run(frame: object) -> object:
            return reference(frame, families, shape["minutes"])

        data = to_pandas_bars(subset)  # the reference's own input format, converted before timing
    else:
        ours = polars_features if workload == "features" else polars_all

        def run(frame: pl.DataFrame) -> object:
            return ours(frame, shape, families)

        data = bars
    run(make_panel(2, 600, shape["minutes"], seed=2))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run(data)
        best = min(best, time.perf_counter() - start)
    return best
