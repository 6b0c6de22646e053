import dataclasses

import pytest

from quant_platform.engine import ENGINE_VERSION, EngineConfig


def test_entry_lag_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="entry_lag_bars must be >= 1"):
        EngineConfig(entry_lag_bars=0)
    with pytest.raises(ValueError, match="entry_lag_bars"):
        EngineConfig(entry_lag_bars=-2)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fill_price", "mid"),
        ("taker_fee_bps", -1.0),
        ("maker_fee_bps", -1.0),  # a rebate: refused up front rather than failing the fees >= 0 schema
        ("initial_capital", 0.0),
        ("latency_bars", -1),
        ("max_gross_weight", 0.0),
        ("slippage_base_bps", float("nan")),
        ("seed", -3),
    ],
)
def test_bad_values_are_refused_with_the_field_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        EngineConfig(**{field: value})


def test_config_is_frozen_and_keyword_only() -> None:
    cfg = EngineConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        EngineConfig(1_000.0)  # type: ignore[misc]


def test_content_id_is_stable_and_tracks_every_field() -> None:
    a, b = EngineConfig(), EngineConfig()
    assert a.content_id() == b.content_id()
    assert a.content_id() != a.replace(seed=1).content_id()
    assert a.content_id() != a.replace(latency_bars=1).content_id()
    assert ENGINE_VERSION.startswith("engine-")
    with pytest.raises(ValueError, match="unknown"):
        a.replace(not_a_field=1)


def test_fee_follows_liquidity_role() -> None:
    cfg = EngineConfig(taker_fee_bps=7.0, maker_fee_bps=1.5)
    assert cfg.fee_bps == 7.0
    assert cfg.replace(liquidity="maker").fee_bps == 1.5
