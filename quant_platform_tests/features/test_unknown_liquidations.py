"""Issue 15: unknown liquidations are null in bars_5m. Downstream, a symbol whose liquidations are unknown
gets null liquidation features and null (not False) liquidation event flags, while a symbol with known
liquidations in the same frame is unaffected. Truth: the definitions in spec/features/positioning.yaml
(liq_notional = long + short) and the missing-is-null convention of the events layer."""

from __future__ import annotations

import polars as pl

from quant_platform.events import detect_events
from quant_platform.features import compute_context, compute_features
from quant_platform_tests.features.bars_fixture import make_bars

LIQ = ["liq_long_notional", "liq_short_notional"]
LIQ_FEATURES = ["liq_notional", "liq_imbalance", "liq_z", "liq_long_z", "liq_short_z"]


def test_unknown_liquidations_stay_unknown_through_features_and_events() -> None:
    bars = make_bars(n_symbols=2, n_bars=1300, seed=3, gap_prob=0.0)
    unknown, known = sorted(bars["symbol"].unique().to_list())
    bars = bars.with_columns(
        pl.when(pl.col("symbol") == unknown).then(None).otherwise(pl.col(c)).alias(c) for c in LIQ
    )
    features = compute_features(bars)
    by = {s: features.filter(pl.col("symbol") == s) for s in (unknown, known)}
    for name in LIQ_FEATURES:
        assert by[unknown][name].null_count() == by[unknown].height, name  # never a zero or a NaN
    source = bars.filter(pl.col("symbol") == known).sort("ts")
    expected = (source["liq_long_notional"] + source["liq_short_notional"]).to_list()
    assert by[known].sort("ts")["liq_notional"].to_list() == expected
    ready = by[known].filter(~pl.col("warmup"))
    assert ready["liq_z"].null_count() < ready.height  # the known symbol's z-score is computed

    _, flags = detect_events(features, compute_context(features))
    for event in ("LONG_LIQUIDATION_SPIKE", "SHORT_LIQUIDATION_SPIKE", "LIQUIDATION_CASCADE"):
        of_unknown = flags.filter(pl.col("symbol") == unknown)[event]
        assert of_unknown.null_count() == of_unknown.len(), event  # unknown, not "did not happen"
        of_known = flags.filter(pl.col("symbol") == known)[event]
        assert of_known.null_count() < of_known.len(), event
