"""Strategy specs: the shipped files validate against the spec (event registry, templates, states); unknown
fields are refused naming the file; the hash is the canonical JSON's; strategies are not part of the ontology
hash (adding one must not invalidate stored discovery outputs)."""

import shutil

import pytest

from quant_platform.core.hashing import canonical_hash
from quant_platform.experiments import list_strategies, load_strategy
from quant_platform.experiments.experiment import check_strategy, engine_config
from quant_platform.specs import compute_ontology_hash, spec_root


def test_shipped_strategies_validate_against_the_spec():
    strategies = list_strategies()
    assert len(strategies) >= 3
    for strategy in strategies:
        check_strategy(strategy)
        assert strategy.strategy_hash == canonical_hash(strategy.model_dump(mode="json"))
    breakout = load_strategy("range_breakout_high_vol")
    config = engine_config(breakout)
    assert config.sizing == "current_equity" and config.taker_fee_bps == 8.0  # override applied
    assert config.entry_lag_bars == breakout.policy.entry_lag_bars


def test_unknown_fields_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\npolicy: {kind: rule, event_type: VOL_SHOCK, template: continuation, horizon_bars: 3}\n"
        "sizing: {mode: fixed_capital, leverage: 2}\n"
    )
    with pytest.raises(ValueError, match=r"bad\.yaml.*sizing\.leverage"):
        load_strategy(str(path))
    with pytest.raises(LookupError, match="known strategies"):
        load_strategy("no_such_strategy")


def test_strategies_are_not_part_of_the_ontology_hash(tmp_path):
    root = tmp_path / "spec"
    shutil.copytree(spec_root(), root)
    before = compute_ontology_hash(root)
    (root / "strategies" / "another.yaml").write_text(
        "name: another\npolicy: {kind: rule, event_type: VOL_SHOCK, template: reversal, horizon_bars: 3}\n"
    )
    assert compute_ontology_hash(root) == before
    (root / "hypotheses" / "templates.yaml").write_text("templates: {}\n")
    assert compute_ontology_hash(root) != before  # the ontology itself still counts
