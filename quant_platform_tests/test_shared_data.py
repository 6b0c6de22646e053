"""The shared real data locator: a missing file skips a test on a developer machine and fails it in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_platform_tests import shared_data


def test_missing_real_data_skips_locally_and_fails_in_ci(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "absent.csv"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        shared_data.require_real(missing)
    for value in ("true", "TRUE", "1", "yes"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="CI must provide"):
            shared_data.require_real(missing)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        shared_data.require_real(missing)


def test_present_file_is_returned_and_the_folder_is_found(tmp_path: Path, monkeypatch) -> None:
    present = tmp_path / "x.csv"
    present.write_text("a\n")
    monkeypatch.setenv("CI", "true")
    assert shared_data.require_real(present) == present
    monkeypatch.setenv("QUANT_PLATFORM_REAL_DATA", str(tmp_path))
    assert shared_data.real_data_dir() == tmp_path
    monkeypatch.delenv("QUANT_PLATFORM_REAL_DATA")
    # The repository root's sibling shared/, or one level higher from a worktree (<root>/wt/<branch>).
    found = shared_data.real_data_dir()
    assert found.parts[-3:] == ("shared", "data", "real")
    assert found.parent.parent.parent in (shared_data._ROOT.parent, shared_data._ROOT.parent.parent)
