"""features_v1 + context + events throughput (bar-rows/s) and peak RSS, against a plain pandas reference.

Two shapes: crypto (20 symbols x 90 days of 5m bars) and an equity-like daily panel (2,000 symbols x 2,500
days; OHLCV only, so the families that need perp inputs are left out). Data are generated in the benchmark
(seeded). The pandas reference (bench/pandas_reference.py) computes the same features with
groupby/rolling/ewm, and for the whole-chain row the same context_features and market_events + event_flags
(the spec/events rules interpreted in pandas); both are checked against the Polars output on small seeded
panels inside the run. On the crypto shape the references run on all 20 symbols (no scaling); on the panel
they run on a subset of symbols whose time is scaled linearly to the full symbol count
(stated in the reference name): pandas groupby-rolling cost is linear in rows, and so is the context's
cross-sectional part (per-ts groupby, a T x N pivot, column-wise rolling). Measured on daily panels of 1,000
bars (shared 2-core machine, noisy): pandas chain ~26-33 ms per symbol and context ~6.5-7.6 ms per symbol
from 40 to 200 symbols (flat: the 100-symbol subset scales honestly); below ~20 symbols fixed per-call costs
dominate (71 ms per symbol at 10), so the quick run's 2-symbol subset overstates pandas time.

Timings: best of four runs (two fresh processes, two runs each, after an untimed warm-up on a tiny panel that
pays imports and the compiled-kernel load), ours and the references alike, in interleaved rounds.

Peak RSS: the whole chain in one fresh process (bars -> features -> context -> events, the panel target's
row), and, for the panel, an extra row with the largest asset step when each step runs in its own fresh
process reading its inputs from Parquet, as Dagster's multiprocess executor runs the graph (not judged).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from bench.common import isolated, isolated_result, row
from bench.features_workloads import (
    CRYPTO,
    PANEL,
    PANEL_FAMILIES,
    QUICK_CRYPTO,
    QUICK_PANEL,
    first_call,
    make_panel,
    rss_run,
    step_context,
    step_events,
    step_features,
    timed_best,
    write_panel,
)
from bench.pandas_reference import pandas_context, pandas_events, pandas_features
from quant_platform.features.spec import load_feature_spec

# Symbols the pandas reference is timed on: every crypto symbol (a subset scaled x5 overstated pandas time by
# about 9%: per-call costs do not scale); the panel's 2,000 symbols on 100, scaled linearly (docstring).
PANDAS_SUBSET = {"crypto": None, "panel": 100}
RSS_TARGET_MB = 3 * 1024


def measure_step_rss(shape: dict, families: tuple[str, ...] | None) -> dict[str, float]:
    """Peak RSS (MiB) of each asset step in its own fresh process, reading its inputs from Parquet and
    writing its output to Parquet, as Dagster's multiprocess executor runs the graph (bars -> features_v1;
    features_v1 -> context_features; features_v1 + context_features -> market_events + event_flags).
    Plain ``write_parquet`` to a file: the IO manager encodes one small file per day partition."""
    with tempfile.TemporaryDirectory(prefix="bench_features_steps_") as tmp:
        path = {
            k: str(Path(tmp) / f"{k}.parquet") for k in ("bars", "features", "context", "events", "flags")
        }
        isolated(write_panel, shape, path["bars"])
        _, features_rss = isolated(step_features, shape, families, path["bars"], path["features"])
        _, context_rss = isolated(step_context, path["features"], path["context"])
        _, events_rss = isolated(
            step_events, path["features"], path["context"], path["events"], path["flags"]
        )
    return {"features_v1": features_rss, "context_features": context_rss, "market_events": events_rss}


def measure_rss(shape: dict, families: tuple[str, ...] | None) -> tuple[float, float]:
    """Peak RSS (MiB) of features-only and of the whole chain, each in a fresh process."""
    _, features_rss = isolated(rss_run, shape, families, False)
    _, all_rss = isolated(rss_run, shape, families, True)
    return features_rss, all_rss


def _check_reference_agrees(shape: dict, families: tuple[str, ...] | None) -> None:
    """The pandas reference computes the same numbers (sampled: 4 symbols) before it is timed."""
    from quant_platform.features import compute_features

    small = make_panel(4, min(shape["bars"], 1500), shape["minutes"], seed=1)
    pol = compute_features(small, families=families, grid_minutes=shape["minutes"])
    ref = pandas_features(small, families, shape["minutes"])
    for name in [f.name for f in load_feature_spec().table_features("features_v1", families)]:
        np.testing.assert_allclose(pol[name].to_numpy(allow_copy=True), ref[name].to_numpy(dtype=float),
                                   rtol=1e-6, atol=1e-9, err_msg=name)  # fmt: skip


def check_chain_agrees(
    bars: pl.DataFrame, families: tuple[str, ...] | None, grid_minutes: int
) -> dict[str, int]:
    """The pandas chain gives what our chain gives on ``bars``: context columns (rtol 1e-6) and states; events
    with the same (symbol, ts, event_type) set, direction, severity (rtol 1e-6), event id and trigger values
    (parsed JSON: the text's float formatting differs between json.dumps and Polars); flags equal (nulls
    included). Raises AssertionError on any difference; returns what was compared (rows, events)."""
    from quant_platform.events import detect_events
    from quant_platform.features import compute_context, compute_features

    features = compute_features(bars, families=families, grid_minutes=grid_minutes)
    context = compute_context(features)
    events, flags = detect_events(features, context)
    ref_features = pandas_features(bars, families, grid_minutes)
    ref_context = pandas_context(ref_features)
    ref_events, ref_flags = pandas_events(ref_features, ref_context)

    assert ref_context[["symbol", "ts"]].equals(context.select("symbol", "ts").to_pandas()), "context rows"
    for name in context.columns:
        ours, ref = context[name], ref_context[name]
        if ours.dtype == pl.Float64:
            np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(dtype=float), rtol=1e-6, atol=1e-9,
                                       err_msg=f"context {name}")  # fmt: skip
        else:
            assert ours.to_list() == ref.tolist(), f"context {name}"
    assert len(ref_events) == events.height, f"events: pandas {len(ref_events)}, ours {events.height}"
    for name in ("symbol", "ts", "event_type", "family", "direction", "event_id", "ontology_hash"):
        assert events[name].to_list() == ref_events[name].tolist(), f"events {name}"
    np.testing.assert_allclose(events["severity"].to_numpy(), ref_events["severity"].to_numpy(dtype=float),
                               rtol=1e-6, atol=1e-9, err_msg="events severity")  # fmt: skip
    for ours_json, ref_json in zip(events["trigger"], ref_events["trigger"], strict=True):
        ours_t, ref_t = json.loads(ours_json), json.loads(ref_json)
        assert list(ours_t) == list(ref_t), f"trigger keys {list(ours_t)} != {list(ref_t)}"
        for key, value in ours_t.items():
            if isinstance(value, float):
                assert math.isclose(value, ref_t[key], rel_tol=1e-6, abs_tol=1e-9), f"trigger {key}"
            else:
                assert value == ref_t[key], f"trigger {key}"
    assert flags.columns == list(ref_flags.columns), "flag columns"
    for name in flags.columns:
        ref = ref_flags[name]
        ref_list = (
            [None if v is pd.NA else v for v in ref.tolist()] if ref.dtype == "boolean" else ref.tolist()
        )
        assert flags[name].to_list() == ref_list, f"flags {name}"
    return {"rows": features.height, "events": events.height, "event_types": events["event_type"].n_unique()}


def _check_chain_reference_agrees(name: str) -> None:
    """The pandas chain agrees with ours (see :func:`check_chain_agrees`) on a small seeded panel of the
    shape's kind (crypto: 4 symbols x 1,500 5m bars, all families; panel: 6 symbols x 1,200 daily bars,
    PANEL_FAMILIES) before the chain is timed."""
    if name == "crypto":
        check_chain_agrees(make_panel(4, 1500, 5, seed=2), None, 5)
    else:
        check_chain_agrees(make_panel(6, 1200, 1440, seed=3), PANEL_FAMILIES, 1440)


def _measure(
    name: str, shape: dict, families: tuple[str, ...] | None, quick: bool, rss: tuple[float, float]
) -> list[dict]:
    feat_rss, all_rss = rss
    rows = shape["symbols"] * shape["bars"]
    _check_reference_agrees(shape, families)
    _check_chain_reference_agrees(name)
    subset = PANDAS_SUBSET[name]
    if subset is None:
        n_subset = shape["symbols"]  # all of them, quick or not: no scaling
    else:
        n_subset = min(shape["symbols"], subset if not quick else 2)
    scale = shape["symbols"] / n_subset
    # Every timing is the best of four runs: two fresh processes (``timed_best``) of two runs each, ours and
    # the references alike, in interleaved rounds. A fresh process keeps each workload off the heap and caches
    # that another left behind (in one long-lived process ours ran 10-20% slower after the pandas reference);
    # the interleaving spreads this shared 2-core machine's drift over both sides.
    timings: dict[str, float] = {}
    for _ in range(2):
        for key in ("pandas_features", "features", "pandas_chain", "chain"):
            seconds = isolated_result(timed_best, key, shape, families, n_subset)
            timings[key] = min(timings.get(key, float("inf")), seconds)
    pandas_rate = rows / (timings["pandas_features"] * scale)
    chain_rate = rows / (timings["pandas_chain"] * scale)
    feat_s, all_s = timings["features"], timings["chain"]
    label = f"{shape['symbols']}x{shape['bars']}"
    ref_name = f"pandas groupby/rolling on {n_subset} of {shape['symbols']} symbols, time x{scale:g}"
    # The chain's cross-sectional context (market proxy, pairwise correlation) runs on the subset's own
    # market: its pandas cost is linear in symbols (per-ts groupby, T x N pivot and rolling), so the scaling
    # holds as for the features.
    chain_ref_name = (
        f"pandas features+context+events (rules from spec/events) on {n_subset} of {shape['symbols']} "
        f"symbols, time x{scale:g}"
    )
    target = "ratio >= 10, peak RSS < 3 GiB" if name == "panel" else "ratio >= 10"

    def met(rate: float, reference: float, rss: float) -> bool:
        return rate / reference >= 10 and (name != "panel" or rss < RSS_TARGET_MB)

    return [
        # The target is on feature + event throughput against pandas doing the same work (next row);
        # features_v1 alone is its first component, printed for the breakdown.
        row(f"features:{name}", f"features_v1 rows/s ({label})", rows / feat_s, "rows/s", reference=pandas_rate,
            reference_name=ref_name + "; component of the next row, not judged", peak_rss_mb=feat_rss),
        row(f"features:{name}", f"features+context+events rows/s ({label})", rows / all_s, "rows/s",
            reference=chain_rate, reference_name=chain_ref_name, target=target,
            target_met=met(rows / all_s, chain_rate, all_rss), peak_rss_mb=all_rss),
    ]  # fmt: skip


def _step_row(shape: dict, steps: dict[str, float]) -> dict:
    """Extra row beside the whole-chain one (whose target judgement stands): the largest asset step's peak
    RSS when each step runs in its own process, the per-step peaks in the reference name."""
    per_step = ", ".join(f"{name} {mib:,.0f}" for name, mib in steps.items())
    return row(
        "features:panel",
        f"peak RSS largest asset step, own process ({shape['symbols']}x{shape['bars']})",
        max(steps.values()),
        "MiB",
        reference_name=f"per step from Parquet, MiB: {per_step}; not judged (target is on the whole chain)",
        higher_is_better=False,
        peak_rss_mb=max(steps.values()),
    )


def _first_call_row() -> dict:
    seconds, rss = isolated(first_call)
    return row(
        "features:crypto",
        "first call in a fresh process, 2x600 bars (compiled-kernel load, or compile when cold)",
        seconds,
        "s",
        reference_name="not judged; run first so later fresh processes load the kernels from the cache",
        higher_is_better=False,
        peak_rss_mb=rss,
    )


def run(quick: bool = False) -> list[dict]:
    crypto, panel = (QUICK_CRYPTO, QUICK_PANEL) if quick else (CRYPTO, PANEL)
    compile_row = _first_call_row()
    crypto_rss, panel_rss = measure_rss(crypto, None), measure_rss(panel, PANEL_FAMILIES)
    panel_steps = measure_step_rss(panel, PANEL_FAMILIES)
    return (
        _measure("crypto", crypto, None, quick, crypto_rss)
        + _measure("panel", panel, PANEL_FAMILIES, quick, panel_rss)
        + [_step_row(panel, panel_steps), compile_row]
    )
