"""Hierarchical James–Stein shrinkage against a plain-Python reference of the documented estimator, and
against planted truth: on a simulated hierarchy with known effects the shrunken estimates beat the raw ones."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import polars as pl
import pytest

from quant_platform.discovery import shrink_hierarchical

STRATA = ["template", "horizon_bars"]
LEVELS = [
    ("family", ["family"]),
    ("event", ["family", "event_type"]),
    ("symbol", ["family", "event_type", "symbol"]),
    ("state", ["family", "event_type", "symbol", "state_column", "state_value"]),
]


def random_candidates(seed: int, effect_sd: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for template in ("continuation", "reversal"):
        for family, events in (("F1", ["E1", "E2", "E3", "E4"]), ("F2", ["E5", "E6"]), ("F3", ["E7"])):
            fam_effect = rng.normal(0, effect_sd)
            for event in events:
                ev_effect = fam_effect + rng.normal(0, effect_sd)
                for symbol in ("S1", "S2", "S3"):
                    for col, val in (("all", "all"), ("vol", "low"), ("vol", "high")):
                        n = int(rng.integers(5, 80))
                        rows.append(
                            {
                                "template": template,
                                "horizon_bars": 12,
                                "family": family,
                                "event_type": event,
                                "symbol": symbol,
                                "state_column": col,
                                "state_value": val,
                                "n_observations": n,
                                "mean_net_bps": ev_effect
                                + rng.normal(0, effect_sd)
                                + rng.normal(0, 50 / math.sqrt(n)),
                                "std_net_bps": float(rng.uniform(30, 70)),
                            }
                        )
    return pl.DataFrame(rows, schema_overrides={"horizon_bars": pl.Int32})


def reference(frame: pl.DataFrame, min_children: int = 3) -> dict[tuple, tuple[float, float, float | None]]:
    """Straightforward loops over the estimator in shrinkage.py's docstring: (shrunken mean, se, leaf weight)
    per candidate; an unconditional candidate's result is its symbol node (no leaf weight)."""
    rows = frame.to_dicts()

    def pooled(items):
        n = sum(r["n_observations"] for r in items)
        x = sum(r["n_observations"] * r["mean_net_bps"] for r in items) / n
        ss = sum(
            (r["n_observations"] - 1) * r["std_net_bps"] ** 2
            + r["n_observations"] * (r["mean_net_bps"] - x) ** 2
            for r in items
        )
        return x, ss / (n - 1) / n

    strata = defaultdict(list)
    for r in rows:
        strata[(r["template"], r["horizon_bars"])].append(r)
    out = {}
    for stratum, items in strata.items():
        uncond = [r for r in items if r["state_column"] == "all"]
        theta, se_of = {(): pooled(uncond)[0]}, {}
        for position, (_, keys) in enumerate(LEVELS):
            leaf = position == len(LEVELS) - 1
            parent_len = len(LEVELS[position - 1][1]) if position else 0
            if leaf:  # state cells; siblings = same parent and same state column
                nodes = {
                    tuple(r[k] for k in keys): (
                        r["mean_net_bps"],
                        r["std_net_bps"] ** 2 / r["n_observations"],
                    )
                    for r in items
                    if r["state_column"] != "all"
                }
                depth = parent_len + 1  # siblings share the parent and the state column
            else:
                groups = defaultdict(list)
                for r in uncond:
                    groups[tuple(r[k] for k in keys)].append(r)
                nodes = {k: pooled(v) for k, v in groups.items()}
                depth = parent_len
            by_group = defaultdict(list)
            for key in nodes:
                by_group[key[:depth]].append(key)
            own, dev_sum, df_sum, all_v = {}, 0.0, 0, []
            for group, kids in by_group.items():
                xs = [nodes[k][0] for k in kids]
                vs = [nodes[k][1] for k in kids]
                mean = sum(xs) / len(xs)
                dev = sum((x - mean) ** 2 for x in xs)
                if len(kids) >= 2:
                    dev_sum, df_sum = dev_sum + dev, df_sum + len(kids) - 1
                    all_v.extend(vs)
                own[group] = max(0.0, dev / (len(kids) - 1) - sum(vs) / len(vs)) if len(kids) >= 2 else None
            pooled_tau2 = max(0.0, dev_sum / df_sum - sum(all_v) / len(all_v)) if df_sum else 0.0
            new_theta = {}
            for group, kids in by_group.items():
                tau2 = own[group] if len(kids) >= min_children else pooled_tau2
                for k in kids:
                    x, v = nodes[k]
                    parent = theta[k[:parent_len]]
                    lam = tau2 / (tau2 + v) if tau2 + v > 0 else 0.0
                    new_theta[k] = parent + lam * (x - parent)
                    se_of[k] = math.sqrt(lam * v)
                    if leaf:
                        out[(*stratum, *k)] = (new_theta[k], se_of[k], lam)
            theta = new_theta if not leaf else theta
        for r in uncond:
            node = (r["family"], r["event_type"], r["symbol"])
            out[(*stratum, *node, "all", "all")] = (theta[node], se_of[node], None)
    return out


@pytest.mark.parametrize(("seed", "effect_sd"), [(0, 5.0), (1, 20.0), (2, 0.0)])
def test_matches_reference(seed, effect_sd):
    frame = random_candidates(seed, effect_sd)
    got = shrink_hierarchical(frame, STRATA, LEVELS, min_children_for_own_tau2=3)
    want = reference(frame)
    key_cols = [*STRATA, "family", "event_type", "symbol", "state_column", "state_value"]
    for row in got.iter_rows(named=True):
        mean, se, lam = want[tuple(row[k] for k in key_cols)]
        assert row["mean_net_shrunk_bps"] == pytest.approx(mean, rel=1e-9, abs=1e-9)
        assert row["se_net_shrunk_bps"] == pytest.approx(se, rel=1e-9, abs=1e-9)
        if lam is None:
            assert row["shrink_state_weight"] is None
        else:
            assert row["shrink_state_weight"] == pytest.approx(lam, rel=1e-9, abs=1e-12)


def test_weights_follow_between_variance():
    # No between-node variance: estimates collapse toward the parents. Large between variance: data dominate.
    flat = shrink_hierarchical(random_candidates(3, 0.0), STRATA, LEVELS)
    spread = shrink_hierarchical(random_candidates(3, 200.0), STRATA, LEVELS)
    assert flat["shrink_state_weight"].mean() < 0.3
    assert spread["shrink_state_weight"].mean() > 0.9
    for frame in (flat, spread):
        assert frame["shrink_state_weight"].drop_nulls().is_between(0, 1).all()
        # the shrunken SE never exceeds the raw SE
        raw_se = frame["std_net_bps"] / frame["n_observations"].sqrt()
        assert (frame["se_net_shrunk_bps"] <= raw_se + 1e-12).all()


def planted_hierarchy(seed: int) -> tuple[pl.DataFrame, pl.Series]:
    """Trades with known true effects: family + event + symbol effects plus additive deviations of two
    independent state columns (so a symbol's cells of different columns overlap, as in real candidates).
    Returns the candidate statistics and each candidate's true effect (the mean true effect of its trades)."""
    rng = np.random.default_rng(seed)
    trades = []
    for f in range(3):
        fam = rng.normal(0, 6)
        for e in range(4):
            ev = fam + rng.normal(0, 6)
            for s in range(6):
                sym = ev + rng.normal(0, 6)
                dev = {"vol": rng.normal(0, 4, 3), "carry": rng.normal(0, 4, 3)}
                n = int(rng.integers(40, 200))
                vol, carry = rng.integers(0, 3, n), rng.integers(0, 3, n)
                truth = sym + dev["vol"][vol] + dev["carry"][carry]
                trades.append(
                    pl.DataFrame(
                        {
                            "family": f"F{f}",
                            "event_type": f"F{f}E{e}",
                            "symbol": f"S{s}",
                            "vol": vol.astype(str),
                            "carry": carry.astype(str),
                            "truth": truth,
                            "net": truth + rng.normal(0, 60, n),
                        }
                    )
                )
    frame = pl.concat(trades)
    cells = [frame.with_columns(state_column=pl.lit("all"), state_value=pl.lit("all"))]
    cells += [frame.with_columns(state_column=pl.lit(c), state_value=pl.col(c)) for c in ("vol", "carry")]
    stats = (
        pl.concat(cells)
        .group_by("family", "event_type", "symbol", "state_column", "state_value")
        .agg(
            n_observations=pl.len(),
            mean_net_bps=pl.col("net").mean(),
            std_net_bps=pl.col("net").std(),
            true_bps=pl.col("truth").mean(),
        )
        .with_columns(template=pl.lit("continuation"), horizon_bars=pl.lit(12, dtype=pl.Int32))
    )
    return stats.drop("true_bps"), stats["true_bps"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shrinkage_beats_raw_means_on_planted_truth(seed):
    stats, truth = planted_hierarchy(seed)
    got = shrink_hierarchical(stats, STRATA, LEVELS)
    raw_mse = float(((got["mean_net_bps"] - truth) ** 2).mean())
    shrunk_mse = float(((got["mean_net_shrunk_bps"] - truth) ** 2).mean())
    assert shrunk_mse < 0.8 * raw_mse, (shrunk_mse, raw_mse)
    conditional = (got["state_column"] != "all").to_numpy()
    err = (got["mean_net_shrunk_bps"] - truth).to_numpy()[conditional]
    raw = (got["mean_net_bps"] - truth).to_numpy()[conditional]
    assert np.mean(err**2) < np.mean(raw**2)


def test_global_level_se_is_the_pooled_trades_se():
    """Truth: the sd of all unconditional trades of the stratum pooled together, over sqrt of their count."""
    rng = np.random.default_rng(5)
    trades = {
        (e, s): rng.normal(rng.normal(0, 20), 50, int(rng.integers(20, 90))) for e in "AB" for s in "XYZ"
    }
    stats = pl.DataFrame(
        [
            {"template": "continuation", "horizon_bars": 12, "family": "F", "event_type": e, "symbol": s,
             "state_column": "all", "state_value": "all", "n_observations": len(x),
             "mean_net_bps": float(x.mean()), "std_net_bps": float(x.std(ddof=1))}
            for (e, s), x in trades.items()
        ],
        schema_overrides={"horizon_bars": pl.Int32},
    )  # fmt: skip
    got = shrink_hierarchical(stats, STRATA, LEVELS)
    pooled = np.concatenate(list(trades.values()))
    assert got["shrink_global_mean_bps"][0] == pytest.approx(pooled.mean())
    assert got["shrink_global_se_bps"][0] == pytest.approx(pooled.std(ddof=1) / math.sqrt(pooled.size))
