"""Input rules the engine enforces before a run: bad bars and misaligned targets are refused with an error
that names the problem, never replayed.

Bars (frame or arrays):
- a price (open, high, low, close) that is present must be > 0; a missing one (null/NaN) is a gap and is
  allowed (the bar cannot fill, see :mod:`quant_platform.engine.costs`);
- ``high >= low`` wherever both are present;
- a present volume must be >= 0.

Targets:
- a pandas ``Series``/``DataFrame`` is aligned by its index, never by position: a ``DatetimeIndex`` (UTC, or
  naive read as UTC) is matched to the bar timestamps, any other index must be the positions ``0..T-1``; a
  label that is not a bar, or a repeated label, is an error; bars without a label get NaN ("hold"). A
  ``DataFrame``'s columns are matched to the symbols by name. So a reversed Series gives the same run as the
  sorted one.
- NaN means "no new instruction: the previous target stands" (0 before the first value). That rule is kept,
  and counted: ``n_target_nan`` is the number of NaN target cells of an array input (null weights of a frame
  input), ``n_target_nan_after_first`` those after the column's first value (a hole inside a signal, not
  its warm-up), both reported in the metrics.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import polars as pl

PRICE_COLUMNS = ("open", "high", "low", "close")


def _describe(count: int, name: str, rule: str, first: str) -> str:
    return f"{name}: {count} value(s) {rule} (first at {first}); refused"


def check_bars_frame(bars: pl.DataFrame) -> None:
    """Refuse non-positive prices, ``high < low`` and negative volume in a bars frame (module rules)."""
    present = [c for c in (*PRICE_COLUMNS, "volume") if c in bars.columns]
    problems = {
        **{f"{c} <= 0": pl.col(c) <= 0 for c in present if c != "volume"},
        **({"high < low": pl.col("high") < pl.col("low")} if {"high", "low"} <= set(present) else {}),
        **({"volume < 0": pl.col("volume") < 0} if "volume" in present else {}),
    }
    if not problems:
        return
    counts = bars.select(*(expr.fill_null(False).sum().alias(name) for name, expr in problems.items())).row(
        0, named=True
    )
    bad = {name: n for name, n in counts.items() if n}
    if not bad:
        return
    messages = []
    for name, n in bad.items():
        first = bars.filter(problems[name].fill_null(False)).select("symbol", "ts").row(0)
        messages.append(_describe(n, "bars", name, f"symbol={first[0]!r}, ts={first[1]}"))
    raise ValueError("; ".join(messages))


def _nan_min(values: np.ndarray) -> float:
    """The smallest non-NaN value (NaN if there is none), without a NaN-free copy."""
    flat = values.ravel()
    return float(np.fmin.reduce(flat)) if flat.size else np.nan


def check_bar_arrays(arrays: dict[str, np.ndarray | None]) -> None:
    """The same rules for the ``(P, T)`` bar arrays of :func:`quant_platform.engine.run_sweep`."""
    messages = []
    for name in (*PRICE_COLUMNS, "volume"):
        values = arrays.get(name)
        if values is None or values.size == 0:
            continue
        bound_ok = _nan_min(values) >= 0 if name == "volume" else _nan_min(values) > 0
        if bound_ok or np.isnan(_nan_min(values)):
            continue
        bad = values < 0 if name == "volume" else values <= 0
        p, t = np.argwhere(bad)[0]
        rule = "< 0" if name == "volume" else "<= 0"
        messages.append(_describe(int(bad.sum()), name, rule, f"column {p}, bar {t}"))
    high, low = arrays.get("high"), arrays.get("low")
    if high is not None and low is not None:
        inverted = high < low  # False where either is NaN
        if inverted.any():
            p, t = np.argwhere(inverted)[0]
            messages.append(_describe(int(inverted.sum()), "high", "< low", f"column {p}, bar {t}"))
    if messages:
        raise ValueError("; ".join(messages))


def is_pandas(obj: Any) -> bool:
    """A pandas Series or DataFrame (pandas is imported only if the caller already did)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, pandas.Series | pandas.DataFrame)


def pandas_targets_on_grid(targets: Any, ts_ms: np.ndarray, symbols: list[str]) -> np.ndarray:
    """A pandas Series/DataFrame of targets aligned to the ``[T, S]`` grid by its index (module rules)."""
    import pandas as pd

    n_bars = len(ts_ms)
    index = targets.index
    if isinstance(index, pd.DatetimeIndex):
        stamps = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        keys = stamps.as_unit("ms").asi8
        where = np.searchsorted(ts_ms, keys)
        ok = (where < n_bars) & (ts_ms[np.minimum(where, n_bars - 1)] == keys)
        what = "timestamps that are not bars"
    elif pd.api.types.is_integer_dtype(index.dtype):
        where = index.to_numpy(dtype=np.int64)
        ok = (where >= 0) & (where < n_bars)
        what = f"positions outside 0..{n_bars - 1}"
    else:
        raise ValueError(
            f"targets {type(targets).__name__} has a {type(index).__name__} index: use a DatetimeIndex of the "
            "bar timestamps or the positions 0..T-1 (targets are aligned by index, never by order)"
        )
    if not ok.all():
        raise ValueError(f"targets {type(targets).__name__} index has {int((~ok).sum())} {what}")
    if np.unique(where).size != where.size:
        raise ValueError(f"targets {type(targets).__name__} index has repeated labels")
    if isinstance(targets, pd.DataFrame):
        names = [str(c) for c in targets.columns]
        unknown = sorted(set(names) - set(symbols))
        if unknown or len(set(names)) != len(names):
            raise ValueError(
                f"targets DataFrame columns must be distinct symbols of `bars` {symbols}; unknown: {unknown}"
            )
        values = targets.to_numpy(dtype=np.float64, na_value=np.nan)
        col_of = [symbols.index(n) for n in names]
    else:
        if len(symbols) != 1:
            raise ValueError(f"a targets Series needs bars of one symbol; bars have {len(symbols)}")
        values = targets.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
        col_of = [0]
    out = np.full((n_bars, len(symbols)), np.nan)
    out[np.ix_(where, col_of)] = values
    return out


def check_sweep_pandas(named: dict[str, Any], ts_ms: np.ndarray | None) -> None:
    """:func:`run_sweep` takes arrays by position; a pandas argument is accepted only when position and
    index agree: a strictly increasing index, the same index on every pandas argument, and (for a
    ``DatetimeIndex`` with ``ts_ms`` given) the bar timestamps themselves. Anything else is refused."""
    import pandas as pd

    indexes = {name: obj.index for name, obj in named.items() if is_pandas(obj)}
    for name, index in indexes.items():
        if not (index.is_monotonic_increasing and index.is_unique):
            raise ValueError(
                f"{name} is a pandas object whose index is not strictly increasing: run_sweep reads arrays by "
                "position, so sort it (or pass .to_numpy() on purpose)"
            )
        if isinstance(index, pd.DatetimeIndex) and ts_ms is not None:
            stamps = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
            keys = stamps.as_unit("ms").asi8
            if keys.shape != ts_ms.shape or not np.array_equal(keys, ts_ms):
                raise ValueError(f"{name}'s DatetimeIndex is not the bar timestamps ts_ms")
    first = next(iter(indexes.items()), None)
    for name, index in indexes.items():
        if first is not None and not index.equals(first[1]):
            raise ValueError(f"{name} and {first[0]} are pandas objects with different indexes")


def nan_target_counts(targets: np.ndarray, *, bars_axis: int = 0) -> dict[str, int]:
    """NaN cells of dense targets, and those after each column's first non-NaN value."""
    values = np.asarray(targets, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None] if bars_axis == 0 else values[None, :]
    if bars_axis == 1:
        values = values.T
    nan = np.isnan(values)
    n_nan = int(nan.sum())
    if n_nan == 0:
        return {"n_target_nan": 0, "n_target_nan_after_first": 0}
    seen = np.logical_or.accumulate(~nan, axis=0)
    return {"n_target_nan": n_nan, "n_target_nan_after_first": int((nan & seen).sum())}
