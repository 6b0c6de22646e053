"""``qp`` end to end on a temporary registry: in-process through ``main`` and once as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quant_platform.cli import REGISTRARS, build_parser, main
from quant_platform.registry import Registry, RunSetSpec, runset_id
from quant_platform_tests.registry.helpers import write_version_record

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def qp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run ``qp`` in-process against temp roots given by environment variables; returns (rc, out, err)."""
    monkeypatch.setenv("QP_REGISTRY_ROOT", str(tmp_path / "registry"))
    monkeypatch.setenv("QP_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        rc = main(list(argv))
        captured = capsys.readouterr()
        return rc, captured.out, captured.err

    return run


def _records(store: Path, days: list[str]) -> dict[str, str]:
    now = time.time_ns()
    return {
        day: write_version_record(store, "bars_5m", day, f"bars {day}", now - 10**9 + i)["content_hash"]
        for i, day in enumerate(days)
    }


def test_runset_lifecycle(qp, tmp_path: Path) -> None:
    hashes = _records(tmp_path / "store", ["2024-10-01", "2024-10-02"])  # register checks the store
    rc, out, _ = qp(
        "dataset", "register", "--id", "synthetic_v1", "--source", "synthetic", "--asset", "bars_5m",
        "--symbols", "BTCUSDT", "ETHUSDT", "--from", "2024-10-01", "--to", "2024-12-31",
    )  # fmt: skip
    assert rc == 0 and "synthetic_v1" in out

    rc, out, _ = qp(
        "runset", "create", "--id", "btc_eth_2024q4", "--dataset", "synthetic_v1", "--symbols", "ETHUSDT",
        "BTCUSDT", "--from", "2024-10-01", "--to", "2024-10-02", "--template", "momentum_*", "--tag", "paper",
        "--json",
    )  # fmt: skip
    assert rc == 0
    created = json.loads(out)
    expected_spec = RunSetSpec(
        dataset_id="synthetic_v1",
        symbols=["BTCUSDT", "ETHUSDT"],
        start="2024-10-01",
        end="2024-10-02",
        templates=["momentum_*"],
        tags=["paper"],
    )
    assert created["runset_id"] == runset_id(expected_spec)
    assert created["name"] == "btc_eth_2024q4" and not created["frozen"]

    rc, out, _ = qp("runset", "resolve", "btc_eth_2024q4", "--json")
    resolved = json.loads(out)
    assert rc == 0 and resolved["complete"] and resolved["mode"] == "exploratory"
    assert {a["partition"]: a["content_hash"] for a in resolved["artifacts"]} == hashes

    rc, out, _ = qp("runset", "resolve", "btc_eth_2024q4")  # human table
    assert rc == 0 and "bars_5m" in out and "exploratory" in out

    rc, out, _ = qp("runset", "freeze", "btc_eth_2024q4", "--json")
    assert rc == 0 and json.loads(out)["resolution_hash"] == resolved["resolution_hash"]
    rc, _, err = qp("runset", "resolve", "btc_eth_2024q4", "--force")
    assert rc == 2 and "frozen" in err and "cannot be re-resolved" in err

    rc, out, _ = qp("runset", "create", "--id", "scratch", "--dataset", "synthetic_v1", "--to", "2024-10-02")
    assert rc == 0
    rc, out, _ = qp("runset", "list", "--json")
    assert [r["name"] for r in json.loads(out)] == ["btc_eth_2024q4", "scratch"]
    rc, out, _ = qp("runset", "list", "--frozen", "--json")
    assert [r["name"] for r in json.loads(out)] == ["btc_eth_2024q4"]
    rc, out, _ = qp("runset", "list", "--tag", "paper")
    assert rc == 0 and "btc_eth_2024q4" in out and "scratch" not in out

    rc, out, _ = qp("runset", "get", "btc_eth_2024q4", "--json")
    got = json.loads(out)
    assert got["frozen"] and got["resolution"]["resolution_hash"] == resolved["resolution_hash"]

    rc, out, _ = qp("registry", "rebuild", "--json")
    assert rc == 0 and json.loads(out)["rebuilt"] and json.loads(out)["rows"]["runsets"] == 2
    rc, out, _ = qp("registry", "rebuild", "--json")
    assert not json.loads(out)["rebuilt"]
    rc, out, _ = qp("registry", "rebuild", "--force")
    assert rc == 0 and "rebuilt" in out
    rc, out, _ = qp(
        "registry", "query", "SELECT count(*) AS n FROM runset_membership WHERE runset_name = ?",
        "--param", "btc_eth_2024q4", "--json",
    )  # fmt: skip
    assert json.loads(out) == [{"n": 2}]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runset", "get", "nope"], "unknown RunSet 'nope'"),
        (["runset", "resolve", "../x"], "invalid RunSet name"),
        (["runset", "create", "--id", "a'; drop table x; --", "--dataset", "d"], "invalid RunSet name"),
        (
            ["runset", "create", "--id", "x", "--dataset", "synthetic_v1", "--from", "2024-13-01"],
            "malformed date",
        ),
        (["runset", "create", "--id", "x", "--dataset", "d", "--from", "20241001"], "malformed date"),
        (["runset", "create", "--id", "x", "--dataset", "d", "--to", "2024-W40-1"], "malformed date"),
        (["runset", "create", "--id", "x", "--dataset", "nope"], "unknown dataset"),
        (
            ["runset", "create", "--id", "x", "--dataset", "d", "--from", "2024-02-02", "--to", "2024-02-01"],
            "before",
        ),
        (["runset", "resolve", "x", "--as-of", "2024-01-01T00:00"], "UTC offset"),
        (["runset", "frobnicate"], "invalid choice"),
    ],
)
def test_clear_errors_and_nonzero_exit(qp, argv: list[str], message: str) -> None:
    rc, out, err = qp(*argv)
    assert rc == 2 and message in err and out == ""


def test_roots_from_options_override_environment(qp, tmp_path: Path) -> None:
    other = tmp_path / "other_registry"
    _records(tmp_path / "store", ["2024-01-01"])
    rc, _, _ = qp(
        "dataset", "register", "--registry-root", str(other), "--id", "d1", "--source", "synthetic",
        "--asset", "bars_5m", "--symbols", "BTCUSDT", "--from", "2024-01-01",
    )  # fmt: skip
    assert rc == 0 and (other / "facts" / "datasets").is_dir()
    assert not (tmp_path / "registry").exists()


def test_registrars_are_the_single_extension_point() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"dataset", "runset", "registry", "lookahead"} <= set(commands)
    assert len(REGISTRARS) == len(set(REGISTRARS))


def test_module_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        PYTHONPATH=str(REPO_ROOT), QP_REGISTRY_ROOT=str(tmp_path / "r"), QP_STORE_ROOT=str(tmp_path / "s")
    )
    _records(tmp_path / "s", ["2024-01-01"])
    argv = [
        sys.executable, "-m", "quant_platform.cli", "dataset", "register", "--id", "d1", "--source", "synthetic",
        "--asset", "bars_5m", "--symbols", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-02", "--json",
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    stored = Registry(str(tmp_path / "r")).dataset("d1")
    assert printed["content_hash"] == stored.content_hash and stored.last_day.isoformat() == "2024-01-02"


# ---- failures are clear, never tracebacks, with consistent exit codes ----------------------------------------
def _register_and_create(qp) -> None:
    _records(Path(os.environ["QP_STORE_ROOT"]), ["2024-01-02"])  # register checks the store
    rc, _, err = qp(
        "dataset", "register", "--id", "d1", "--source", "synthetic", "--asset", "bars_5m",
        "--symbols", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-02",
    )  # fmt: skip
    assert rc == 0, err
    rc, _, err = qp("runset", "create", "--id", "rs", "--dataset", "d1")
    assert rc == 0, err


def test_missing_store_root_is_refused_and_records_nothing(qp, tmp_path: Path) -> None:
    _register_and_create(qp)
    _records(tmp_path / "store", ["2024-01-01"])
    for argv in (["runset", "resolve", "rs"], ["runset", "freeze", "rs"], ["registry", "rebuild"]):
        rc, out, err = qp(*argv, "--store-root", str(tmp_path / "stroe"))  # the typo the audit found
        assert rc == 2 and "does not exist" in err and "stroe" in err and out == ""
    assert not (tmp_path / "registry" / "facts" / "resolutions").exists()
    rc, _, err = qp("runset", "resolve", "rs")  # the real store still works
    assert rc == 0, err


def test_uncreatable_registry_root_is_an_environment_error(qp, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    _records(tmp_path / "store", ["2024-01-01"])
    rc, out, err = qp(
        "dataset", "register", "--registry-root", str(blocker / "registry"), "--id", "d1", "--source",
        "synthetic", "--asset", "bars_5m", "--symbols", "BTCUSDT", "--from", "2024-01-01",
    )  # fmt: skip
    assert rc == 1 and err.startswith("qp: error:") and str(blocker) in err and out == ""


def test_corrupt_fact_file_is_named_by_polars_and_duckdb_readers(qp, tmp_path: Path) -> None:
    _register_and_create(qp)
    _records(tmp_path / "store", ["2024-01-01"])
    corrupt = (
        tmp_path / "registry" / "facts" / "runsets" / "2024-01-01" / "00000000000000000001-abcdef.parquet"
    )
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"PAR1 truncated garbage")
    for argv in (["runset", "list"], ["runset", "get", "rs"], ["registry", "rebuild", "--force"]):
        rc, out, err = qp(*argv)  # list/get read with polars, rebuild loads with DuckDB
        assert rc == 1 and err.startswith("qp: error: cannot read") and str(corrupt) in err, (argv, err)
        assert "Traceback" not in err and out == ""


def test_broken_pipe_exits_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(PYTHONPATH=str(REPO_ROOT), QP_REGISTRY_ROOT=str(tmp_path / "r"))
    argv = [sys.executable, "-m", "quant_platform.cli", "runset", "list"]
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before qp writes (as `| head` after its lines)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == b""


def test_default_roots_match_the_dagster_resources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from quant_platform.cli import open_registry
    from quant_platform.defs.resources import default_registry_root, default_store_root

    monkeypatch.chdir(tmp_path)  # defaults must not depend on the working directory
    for env in ({}, {"QP_REGISTRY_ROOT": str(tmp_path / "r"), "QP_STORE_ROOT": str(tmp_path / "s")}):
        for name in ("QP_REGISTRY_ROOT", "QP_STORE_ROOT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        registry = open_registry(build_parser().parse_args(["runset", "list"]))
        assert registry.fs.root == default_registry_root() and registry.store.root == default_store_root()
        assert os.path.isabs(registry.fs.root)
    assert default_registry_root() == str(tmp_path / "r")


def test_as_of_resolve_does_not_become_the_pinned_one(qp, tmp_path: Path) -> None:
    _register_and_create(qp)
    old = write_version_record(tmp_path / "store", "bars_5m", "2024-01-01", "old", time.time_ns() - 10**12)
    new = write_version_record(tmp_path / "store", "bars_5m", "2024-01-01", "new", time.time_ns() - 10**9)
    qp("runset", "resolve", "rs")
    rc, out, _ = qp("runset", "resolve", "rs", "--as-of", "2000-01-01T00:00:00+00:00", "--json")
    past = json.loads(out)
    assert rc == 0 and past["historical"] and past["artifacts"][0]["content_hash"] is None
    rc, out, _ = qp("runset", "freeze", "rs", "--allow-incomplete", "--json")
    pinned = {a["partition"]: a["content_hash"] for a in json.loads(out)["artifacts"]}
    assert pinned["2024-01-01"] == new["content_hash"] != old["content_hash"]
    rc, out, _ = qp("runset", "list", "--json")
    assert json.loads(out)[0]["mode"] == "reproducible"


def test_resolve_help_explains_force() -> None:
    help_text = " ".join(
        build_parser()
        ._subparsers._group_actions[0]
        .choices["runset"]  # type: ignore[union-attr]
        ._subparsers._group_actions[0]
        .choices["resolve"]
        .format_help()
        .split()
    )
    assert "record a new resolution even when it equals the latest recorded one" in help_text
