"""The blueprint compiler: NautilusTrader's ImportableStrategyConfig shape, lineage, content ids, determinism.

Truths: canonical JSON and sha256 computed independently here (json + hashlib); the rule fields against the
spec's own template definitions; NautilusTrader's own ``ImportableStrategyConfig`` / ``StrategyFactory``
building the strategy from each line; a subprocess proving the compiler never imports nautilus_trader."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import polars as pl
import pytest

from quant_platform.blueprints import (
    CONFIG_PATH,
    STRATEGY_PATH,
    StrategyBlueprints,
    compile_blueprints,
    read_blueprints_jsonl,
)
from quant_platform.bridge import default_engine_config
from quant_platform.discovery import load_discovery_spec
from quant_platform_tests.blueprints.helpers import RESOLUTION_HASH, RUNSET_ID, compiled, rule, tables


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


@pytest.fixture(scope="module")
def rules():
    return [
        rule("SYM00USDT"),
        rule("SYM01USDT", template="reversal", horizon=6, state=("vol_regime", "high")),
        rule("SYM00USDT", template="drift_long", horizon=24),
        rule("SYM01USDT", template="fade", horizon=3),  # fails Stage B below: no blueprint
    ]


def test_one_line_per_strict_survivor_in_importable_shape(spec, rules):
    config = default_engine_config(spec)
    out = compiled(rules, spec, config, failed=(rules[3]["candidate_id"],))
    lines = out.lines
    assert len(lines) == out.frame.height == 3
    assert [line["lineage"]["candidate_id"] for line in lines] == sorted(r["candidate_id"] for r in rules[:3])
    by_id = {r["candidate_id"]: r for r in rules}
    for line in lines:
        assert line["strategy_path"] == STRATEGY_PATH and line["config_path"] == CONFIG_PATH
        source = by_id[line["lineage"]["candidate_id"]]
        template = spec.template(source["template"])
        cfg = line["config"]
        assert cfg["sign_rule"] == template.sign_rule
        assert (cfg["direction_multiplier"], cfg["fixed_sign"]) == (
            template.direction_multiplier,
            template.fixed_sign,
        )
        assert cfg["horizon_bars"] == source["horizon_bars"] == line["lineage"]["horizon_bars"]
        assert (cfg["state_column"], cfg["state_value"]) == (source["state_column"], source["state_value"])
        assert cfg["instrument_id"] == f"{source['symbol']}-PERP.BINANCE"
        assert cfg["bar_type"] == f"{source['symbol']}-PERP.BINANCE-{spec.bar_minutes}-MINUTE-LAST-EXTERNAL"
        assert cfg["entry_lag_bars"] == spec.entry_lag_bars == line["lineage"]["entry_lag_bars"]
        assert cfg["capital"] == config.initial_capital
        lineage = line["lineage"]
        assert (lineage["runset_id"], lineage["resolution_hash"]) == (RUNSET_ID, RESOLUTION_HASH)
        assert lineage["ontology_hash"] == spec.ontology_hash
        assert lineage["engine_config_id"] == config.content_id() == line["costs"]["engine_config_id"]
        assert line["costs"]["taker_fee_bps"] == config.taker_fee_bps
        assert line["costs"]["slippage_impact_bps"] == config.slippage_impact_bps
        gates = line["gates"]
        assert set(gates) == {
            "observation",
            "fold_policy",
            "psr",
            "dsr",
            "cpcv",
            "bootstrap",
            "stress",
            "summary",
        }
        assert gates["dsr"]["value"] == 0.96 and gates["psr"]["psr"] == 0.999
        assert gates["cpcv"]["sharpe_p10"] is None  # NaN statistic: null, never a number
        assert gates["cpcv"]["passed"] is True and gates["summary"]["sharpe_ann"] == 2.5
    StrategyBlueprints.validate(out.frame)


def test_ids_are_sha256_of_canonical_json_and_compiling_twice_gives_the_same_bytes(spec, rules):
    config = default_engine_config(spec)
    first, again = compiled(rules, spec, config), compiled(list(reversed(rules)), spec, config)
    assert first.jsonl == again.jsonl  # input order does not matter either
    assert first.frame.equals(again.frame)
    for text in first.jsonl.decode().splitlines():
        line = json.loads(text)
        body = {k: v for k, v in line.items() if k != "blueprint_id"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert line["blueprint_id"] == hashlib.sha256(canonical.encode()).hexdigest()
        assert text == json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.frame["blueprint_json"].to_list() == first.jsonl.decode().splitlines()
    # a different cost assumption is a different blueprint
    cheaper = compiled(rules, spec, config.replace(taker_fee_bps=2.0))
    assert set(cheaper.frame["blueprint_id"]).isdisjoint(first.frame["blueprint_id"])


def test_an_edited_line_is_refused(spec, rules, tmp_path):
    out = compiled(rules[:1], spec, default_engine_config(spec))
    line = out.lines[0]
    line["config"]["horizon_bars"] = 13
    path = tmp_path / "blueprints.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ValueError, match="not the hash of its content"):
        read_blueprints_jsonl(path)
    path.write_bytes(out.jsonl)
    assert read_blueprints_jsonl(path) == out.lines
    with pytest.raises(ValueError, match="no blueprint"):
        read_blueprints_jsonl(b"")


def test_no_survivor_is_an_empty_valid_result_and_bad_input_is_refused(spec, rules):
    config = default_engine_config(spec)
    out = compiled(rules, spec, config, failed=tuple(r["candidate_id"] for r in rules))
    assert out.frame.height == 0 and out.jsonl == b""
    StrategyBlueprints.validate(out.frame)
    stage_b, bridge = tables(rules, spec)
    kwargs = {
        "runset_id": RUNSET_ID,
        "runset_name": "x",
        "resolution_hash": RESOLUTION_HASH,
        "engine_config": config,
        "spec": spec,
    }
    with pytest.raises(ValueError, match="no rule in bridge_evaluation"):
        compile_blueprints(stage_b, bridge.head(1), **kwargs)
    with pytest.raises(ValueError, match="ontology"):
        compile_blueprints(stage_b, bridge.with_columns(ontology_hash=pl.lit("0" * 64)), **kwargs)


def test_the_compiler_never_imports_nautilus_trader():
    code = (
        "import sys, quant_platform.blueprints, quant_platform.blueprints.cli, quant_platform.defs.blueprints;"
        "bad = sorted(m for m in sys.modules if m.startswith('nautilus_trader')); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_nautilus_builds_each_strategy_from_its_line(spec, rules):
    pytest.importorskip("nautilus_trader")
    from nautilus_trader.config import ImportableStrategyConfig
    from nautilus_trader.trading.config import StrategyFactory

    from quant_platform.execution.nautilus.strategy import EventRuleStrategy

    for line in compiled(rules, spec, default_engine_config(spec)).lines:
        strategy = StrategyFactory.create(
            ImportableStrategyConfig(
                strategy_path=line["strategy_path"], config_path=line["config_path"], config=line["config"]
            )
        )
        assert isinstance(strategy, EventRuleStrategy)
        decoded = json.loads(strategy.config.json())
        assert {k: decoded[k] for k in line["config"]} == line["config"]
        assert str(strategy.id) == f"EventRuleStrategy-{line['config']['order_id_tag']}"
