"""The ledger is a chain written whole or not at all: kill -9 mid-decision, racing deciders, tampering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from quant_platform.governance.config import GovernanceSpec
from quant_platform.governance.decide import decide
from quant_platform.governance.ledger import ConcurrentDecisionError, LedgerIntegrityError, PromotionLedger
from quant_platform.governance.observations import load_observations
from quant_platform.registry.fs import RootFS
from quant_platform_tests.governance.world import DAY0, World

REPO = Path(__file__).resolve().parents[2]

_DECIDER = textwrap.dedent(
    """
    import sys
    from datetime import date, timedelta
    from pathlib import Path
    from quant_platform_tests.governance.world import World, DAY0
    world = World.__new__(World)
    from quant_platform.registry import Registry
    root = Path(sys.argv[1])
    world.registry = Registry(str(root / "registry"), str(root / "store"))
    world.candidates = {"A": "1"}
    print("ready", flush=True)
    for k in range(400):
        world.decide(DAY0 + timedelta(days=59 + k))
    """
)


def test_kill_9_during_decisions_leaves_whole_decisions_only(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=2.0)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    for delay in (0.3, 0.55, 0.8, 1.1):
        proc = subprocess.Popen(
            [sys.executable, "-c", _DECIDER, str(tmp_path)], env=env, stdout=subprocess.PIPE, cwd=REPO
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        view = PromotionLedger(world.registry.fs).view()  # reads and checks the whole chain
        decisions = view.decisions
        assert decisions["decision_seq"].to_list() == list(range(1, decisions.height + 1))
        # every state event belongs to a recorded decision row of the same file
        assert set(view.state_events["decision_id"]) <= set(decisions["decision_id"])
    assert PromotionLedger(world.registry.fs).view().decisions.height >= 2


def test_racing_deciders_cannot_both_record_the_same_sequence(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=2.0)
    spec = GovernanceSpec.from_spec()
    ledger = PromotionLedger(world.registry.fs)
    view = ledger.view()
    observations = load_observations(world.registry)
    first = decide(spec, world.candidates_frame(), observations, view, DAY0 + timedelta(days=59))
    second = decide(spec, world.candidates_frame(), observations, view, DAY0 + timedelta(days=60))
    ledger.append(first)
    with pytest.raises(ConcurrentDecisionError):
        ledger.append(second)
    assert ledger.view().decisions.height == 1
    # run_decision retries on the new head instead of failing
    outcome = world.decide(DAY0 + timedelta(days=60))
    assert outcome.written and outcome.decision["decision_seq"] == 2


def test_a_gap_in_the_chain_is_named(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=2.0)
    world.decide(DAY0 + timedelta(days=59))
    world.decide(DAY0 + timedelta(days=60))
    (tmp_path / "registry" / "governance" / "ledger" / f"{1:012d}.parquet").unlink()
    with pytest.raises(LedgerIntegrityError, match="chain broken at decision 2"):
        PromotionLedger(world.registry.fs).view()


def test_exclusive_decisions_hold_on_an_object_store_root(tmp_path: Path) -> None:
    """The same protocol on a non-local fsspec root (memory://, the object-storage code path): the second
    writer of decision n gets ConcurrentDecisionError and the chain reads back whole."""
    world = World(tmp_path)
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=2.0)
    spec = GovernanceSpec.from_spec()
    remote = PromotionLedger(RootFS(f"memory://governance-{tmp_path.name}"))
    observations = load_observations(world.registry)
    view = remote.view()
    first = decide(spec, world.candidates_frame(), observations, view, DAY0 + timedelta(days=59))
    second = decide(spec, world.candidates_frame(), observations, view, DAY0 + timedelta(days=60))
    remote.append(first)
    with pytest.raises(ConcurrentDecisionError):
        remote.append(second)
    decisions = remote.view().decisions
    assert decisions["decision_id"].to_list() == [first.decision_id]
