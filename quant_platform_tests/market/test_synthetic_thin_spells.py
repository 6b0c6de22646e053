"""Thin spells of the synthetic market: ground truth against the generated volumes (a twin market without
spells shares every other draw, so the volume ratio of the two is exactly the spell's factor)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket

DAY = "2024-01-05"  # four spells in the default market on this day (asserted)
CONFIG = SyntheticConfig()


def test_spells_scale_volume_by_their_factor_and_change_nothing_else() -> None:
    thin, plain = SyntheticMarket(CONFIG), SyntheticMarket(replace(CONFIG, thin_spells_per_day=0.0))
    spells = thin.thin_spells(DAY)
    assert spells.height >= 2 and plain.thin_spells(DAY).height == 0
    assert spells["volume_factor"].is_between(*CONFIG.thin_volume_range).all()
    for table in ("perp_bars", "spot_bars"):
        # Rows stamped inside the day (an injected ts_outside_day copy carries another day's stamp).
        inside = pl.col("ts").dt.date().cast(pl.String) == DAY
        a, b = thin.fetch(table, DAY).filter(inside), plain.fetch(table, DAY).filter(inside)
        assert a.select("symbol", "ts", "open", "high", "low", "close").equals(
            b.select("symbol", "ts", "open", "high", "low", "close")
        )
        joined = a.with_row_index().join_where(
            spells, pl.col("symbol") == pl.col("symbol_right"), pl.col("ts") >= pl.col("start"),
            pl.col("ts") < pl.col("end"),
        ).group_by("index").agg(pl.col("volume_factor").min())  # fmt: skip
        expected = np.ones(a.height)
        expected[joined["index"].to_numpy()] = joined["volume_factor"].to_numpy()
        ratio = (a["volume"] / b["volume"]).to_numpy()
        np.testing.assert_allclose(ratio, expected, rtol=1e-12)
        np.testing.assert_allclose((a["quote_volume"] / b["quote_volume"]).to_numpy(), expected, rtol=1e-12)
    for table in ("funding", "open_interest", "liquidations"):
        assert thin.fetch(table, DAY).equals(plain.fetch(table, DAY))


def test_spell_draws_are_deterministic_and_checked() -> None:
    assert SyntheticMarket(CONFIG).thin_spells(DAY).equals(SyntheticMarket(CONFIG).thin_spells(DAY))
    for bad in (
        {"thin_spells_per_day": -1.0},
        {"thin_volume_range": (0.2, 0.1)},
        {"thin_volume_range": (0, 1)},
    ):
        with pytest.raises(ValueError, match="thin spells"):
            SyntheticConfig(**bad)
