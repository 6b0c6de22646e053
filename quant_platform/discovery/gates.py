"""Phase-2 gates (``gate_v1_phase2`` of spec/gates.yaml): each gate's pass/fail and reason are columns.

- ``significance``: the two-level BH discovery at ``max_q_value``;
- ``economic``: shrunken after-cost expectancy >= ``min_after_cost_expectancy_bps`` (per-event overrides);
- ``economic_conservative``: the same with the round-trip cost times ``conservative_cost_multiplier``;
- ``stability``: both time halves have ``min_observations_per_half`` observations and a positive mean gross
  signed return (the template's sign agrees across halves and with the full sample);
- ``state_information``: a state-conditioned candidate's James–Stein data weight (``shrink_state_weight``,
  against its symbol's unconditional cell) >= ``min_information_weight_state``; unconditional candidates pass.
``promotion_track``: ``standard`` when all pass; ``fallback_only`` when significance and economic pass but a
soft gate fails; otherwise ``rejected``.
"""

from __future__ import annotations

import polars as pl

from quant_platform.discovery.config import UNCONDITIONAL, DiscoverySpec

GATE_NAMES = ("significance", "economic", "economic_conservative", "stability", "state_information")


def _thresholds(event_types: pl.Series, spec: DiscoverySpec) -> pl.DataFrame:
    names = (
        "max_q_value",
        "min_after_cost_expectancy_bps",
        "conservative_cost_multiplier",
        "min_observations_per_half",
        "min_information_weight_state",
    )
    events = event_types.unique().sort().to_list()
    return pl.DataFrame(
        {"event_type": events, **{f"_thr_{n}": [spec.gates.threshold(n, e) for e in events] for n in names}},
        schema_overrides={"event_type": pl.String, **{f"_thr_{n}": pl.Float64 for n in names}},
    )


def apply_gates(candidates: pl.DataFrame, spec: DiscoverySpec, leaf_level: str = "state") -> pl.DataFrame:
    """Add ``gate_<name>_pass`` / ``gate_<name>_reason`` for every gate, ``promotion_track`` and ``passes_gates``."""
    cost = spec.cost.round_trip_bps
    frame = candidates.join(_thresholds(candidates["event_type"], spec), on="event_type", how="left")
    shrunk = pl.col("mean_net_shrunk_bps")
    conservative = shrunk - (pl.col("_thr_conservative_cost_multiplier") - 1.0) * cost
    k = pl.col("_thr_min_observations_per_half")
    weight = pl.col(f"shrink_{leaf_level}_weight")
    fmt = lambda e: e.round(3).cast(pl.String).fill_null("null")  # noqa: E731
    checks = {
        "significance": (
            pl.col("passes_fdr") & pl.col("tested"),
            pl.when(~pl.col("tested"))
            .then(pl.concat_str(pl.lit("untested: "), pl.col("untested_reason")))
            .otherwise(
                pl.format(
                    "q_value={} (level {}), group_q_value={} (max {})",
                    fmt(pl.col("q_value")),
                    fmt(pl.col("fdr_level_within")),
                    fmt(pl.col("group_q_value")),
                    fmt(pl.col("_thr_max_q_value")),
                )
            ),
        ),
        "economic": (
            (shrunk >= pl.col("_thr_min_after_cost_expectancy_bps")).fill_null(False),
            pl.format(
                "shrunken net {} bps vs min {}",
                fmt(shrunk),
                fmt(pl.col("_thr_min_after_cost_expectancy_bps")),
            ),
        ),
        "economic_conservative": (
            (conservative >= pl.col("_thr_min_after_cost_expectancy_bps")).fill_null(False),
            pl.format(
                "net at cost x{} = {} bps vs min {}",
                fmt(pl.col("_thr_conservative_cost_multiplier")),
                fmt(conservative),
                fmt(pl.col("_thr_min_after_cost_expectancy_bps")),
            ),
        ),
        "stability": (
            (
                (pl.col("n_first_half") >= k)
                & (pl.col("n_second_half") >= k)
                & (pl.col("mean_gross_first_half_bps") > 0)
                & (pl.col("mean_gross_second_half_bps") > 0)
            ).fill_null(False),
            pl.format(
                "halves n={}/{} gross mean {}/{} bps (need >= {} obs and both > 0)",
                pl.col("n_first_half"),
                pl.col("n_second_half"),
                fmt(pl.col("mean_gross_first_half_bps")),
                fmt(pl.col("mean_gross_second_half_bps")),
                k.cast(pl.Int64),
            ),
        ),
        "state_information": (
            (
                (pl.col("state_column") == UNCONDITIONAL)
                | (weight >= pl.col("_thr_min_information_weight_state"))
            ).fill_null(False),
            pl.when(pl.col("state_column") == UNCONDITIONAL)
            .then(pl.lit("unconditional candidate"))
            .otherwise(
                pl.format(
                    "state data weight {} vs min {}",
                    fmt(weight),
                    fmt(pl.col("_thr_min_information_weight_state")),
                )
            ),
        ),
    }
    frame = frame.with_columns(
        *[passed.alias(f"gate_{name}_pass") for name, (passed, _) in checks.items()],
        *[
            pl.when(passed)
            .then(pl.concat_str(pl.lit("pass: "), reason))
            .otherwise(pl.concat_str(pl.lit("fail: "), reason))
            .alias(f"gate_{name}_reason")
            for name, (passed, reason) in checks.items()
        ],
    )
    hard = [n for n in GATE_NAMES if n not in spec.gates.soft_gates]
    all_pass = pl.all_horizontal([pl.col(f"gate_{n}_pass") for n in GATE_NAMES])
    hard_pass = pl.all_horizontal([pl.col(f"gate_{n}_pass") for n in hard])
    return frame.drop([c for c in frame.columns if c.startswith("_thr_")]).with_columns(
        promotion_track=pl.when(all_pass)
        .then(pl.lit("standard"))
        .when(hard_pass)
        .then(pl.lit("fallback_only"))
        .otherwise(pl.lit("rejected")),
        passes_gates=all_pass,
    )
