"""``qp experiment``, ``qp sql`` and ``qp artifacts`` end to end on the hand world; lineage walks a run, its
trade set and a stored artifact back to the exact versions written (content hashes known from the writes)."""

import json

import pytest

from quant_platform.cli import main
from quant_platform.experiments import create_experiment, execute_experiment
from quant_platform.registry.lineage import get_artifact, lineage
from quant_platform_tests.experiments.test_experiments import strategy


@pytest.fixture
def qp(lab, capsys):
    roots = ["--registry-root", str(lab["root"] / "registry"), "--store-root", str(lab["root"] / "store")]

    def run(*argv: str) -> tuple[int, str, str]:
        rc = main([*argv, *roots])
        captured = capsys.readouterr()
        return rc, captured.out, captured.err

    return run


def _expected_inputs(lab) -> set[tuple[str, str, str]]:
    return {("bars_5m", d, h) for d, h in lab["bars"].items()} | {
        ("market_events", d, h) for d, h in lab["events"].items()
    }


def test_lineage_of_a_run_its_trades_and_an_artifact(lab):
    registry = lab["registry"]
    run = execute_experiment(registry, create_experiment(registry, "both_days", strategy()).experiment_id)
    what, frame = lineage(registry, run.run_id)
    assert "both_days" in what
    direct = frame.filter(frame["depth"] == 0)
    assert set(direct.select("asset", "partition", "content_hash").rows()) == _expected_inputs(lab)
    assert direct["artifact_id"].null_count() == 0
    # each events version names the bars version it was computed from, one level further back
    deeper = frame.filter(frame["depth"] == 1)
    assert set(deeper.select("needed_by", "asset", "partition", "content_hash").rows()) == {
        (f"market_events/{d}", "bars_5m", d, h) for d, h in lab["bars"].items()
    }
    # the trade set (its fact file) leads to the same inputs
    _, from_trades = lineage(registry, f"experiments/facts/trades/{run.run_id}.parquet")
    assert from_trades.equals(frame)
    # a stored artifact: the events of day 2 back to the bars of day 2
    events_day2 = lab["events"]["2024-01-02"]
    _, from_artifact = lineage(registry, events_day2)
    assert from_artifact.select("depth", "asset", "content_hash").rows() == [
        (0, "market_events", events_day2),
        (1, "bars_5m", lab["bars"]["2024-01-02"]),
    ]
    assert get_artifact(registry, events_day2)["inputs"] == [
        {"asset": "bars_5m", "partition": "2024-01-02", "content_hash": lab["bars"]["2024-01-02"]}
    ]
    with pytest.raises(LookupError):
        lineage(registry, "f" * 64)


def test_qp_experiment_sql_and_artifacts(qp, lab):
    rc, out, err = qp(
        "experiment", "create", "--runset", "both_days", "--strategy", "vol_shock_continuation", "--json"
    )
    assert rc == 0, err
    created = json.loads(out)
    assert created["mode"] == "exploratory" and created["strategy"] == "vol_shock_continuation"
    experiment_id = created["experiment_id"]

    rc, out, err = qp("experiment", "execute", experiment_id[:10], "--json")
    assert rc == 0, err
    executed = json.loads(out)
    assert executed["trades"] == 4 and executed["facts_written"] != "nothing new"
    rc, out, _ = qp("experiment", "execute", experiment_id, "--json")
    assert json.loads(out)["facts_written"] == "nothing new"

    rc, out, _ = qp("experiment", "get", experiment_id, "--json")
    got = json.loads(out)
    assert [r["run_id"] for r in got["runs"]] == [executed["run_id"]]
    rc, out, _ = qp("experiment", "list")
    assert rc == 0 and "vol_shock_continuation" in out

    rc, out, err = qp("sql", "SELECT count(*) AS n FROM runset_trades WHERE runset_name = ?", "--param", "both_days",
                      "--json")  # fmt: skip
    assert rc == 0, err
    assert json.loads(out) == [{"n": 4}]
    rc, _, err = qp("sql", "COPY trades TO '/tmp/leak.csv'")
    assert rc == 2 and "query failed" in err  # the read-only sandbox of qp registry query

    rc, out, _ = qp("artifacts", "list", "--asset", "market_events", "--json")
    assert {r["content_hash"] for r in json.loads(out)} == set(lab["events"].values())
    rc, out, _ = qp("artifacts", "find", "--content-hash", lab["bars"]["2024-01-01"][:12], "--json")
    assert [r["partition"] for r in json.loads(out)] == ["2024-01-01"]
    rc, out, _ = qp("artifacts", "lineage", executed["run_id"][:12], "--json")
    rows = json.loads(out)["lineage"]
    assert {
        (r["asset"], r["partition"], r["content_hash"]) for r in rows if r["depth"] == 0
    } == _expected_inputs(lab)
    rc, _, err = qp("experiment", "create", "--runset", "both_days", "--strategy", "no_such_strategy")
    assert rc == 2 and "unknown strategy" in err
