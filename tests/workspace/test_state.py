""".lagosync/ (local state) is git-ignored in any workspace, and validate never creates it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.workspace import ensure_state_dir, state_dir


def test_state_dir_carries_its_own_gitignore(tmp_path):
    folder = state_dir(tmp_path)
    assert folder == tmp_path / ".lagosync" and folder.is_dir()
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"


def test_an_existing_gitignore_is_kept(tmp_path):
    folder = tmp_path / ".lagosync"
    folder.mkdir()
    (folder / ".gitignore").write_text("local.db\n")
    assert ensure_state_dir(folder) == folder
    assert (folder / ".gitignore").read_text() == "local.db\n"


def _git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_plan_and_apply_on_local_leave_nothing_for_git(example_copy):
    """A billing repository without any .gitignore: validate writes nothing, plan/apply on `local`
    create .lagosync/ (emulator database, lock, audit log) and git still sees only the YAML files."""
    _git(example_copy, "init", "-q")
    runner = CliRunner()
    assert runner.invoke(main, ["validate", "-w", str(example_copy)]).exit_code == 0
    assert not (example_copy / ".lagosync").exists()  # validate is offline and read-only
    assert runner.invoke(main, ["plan", "-w", str(example_copy)]).exit_code == 0
    result = runner.invoke(main, ["apply", "-w", str(example_copy), "--auto-approve"])
    assert result.exit_code == 0, result.output
    assert (example_copy / ".lagosync" / "local.db").is_file()
    assert (example_copy / ".lagosync" / "audit.jsonl").is_file()
    untracked = _git(example_copy, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(line[3:] for line in untracked) == sorted(
        ["lagosync.yaml", "orgs.yaml", *(f"plans/{p.name}" for p in (example_copy / "plans").glob("*.yaml"))])
