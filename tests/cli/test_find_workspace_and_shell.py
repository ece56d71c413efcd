"""Commands find the workspace upward from any sub-folder (as git does); -v after the subcommand;
`python -m lagosync`; the shell completion script click produces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import init_workspace, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path):
    root = init_workspace(tmp_path)
    (root / "plans" / "deep" / "er").mkdir(parents=True)
    return root


def test_commands_find_the_workspace_from_a_sub_folder(ws, monkeypatch):
    monkeypatch.chdir(ws / "plans" / "deep" / "er")
    validate = run("validate")
    assert validate.exit_code == 0 and validate.stdout.strip() == "ok: 4 objects in 3 files"
    # --out stays relative to the current folder; the local Lago's state is the workspace's
    plan = run("plan", "--out", "plan.json")
    assert plan.exit_code == 0 and "Plan: 4 to create" in plan.stdout
    assert (ws / "plans" / "deep" / "er" / "plan.json").is_file()
    assert run("apply", "plan.json").exit_code == 0
    assert (ws / ".lagosync").is_dir() and not (ws / "plans" / "deep" / "er" / ".lagosync").exists()
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_the_nearest_workspace_wins_and_w_still_decides(ws, monkeypatch, tmp_path):
    inner = ws / "tools"  # a nested workspace (not under plans/, whose YAML files are the catalog)
    (inner / "er").mkdir(parents=True)
    (inner / "lagosync.yaml").write_text("default_environment: local\n")
    monkeypatch.chdir(inner / "er")
    nearest = run("validate")
    assert nearest.exit_code == 1 and "missing plans/ folder" in nearest.stderr
    assert run("validate", "-w", str(ws)).exit_code == 0


def test_no_workspace_up_to_the_root_says_so(tmp_path, monkeypatch):
    lonely = tmp_path / "nothing" / "here"
    lonely.mkdir(parents=True)
    assert not any((p / "lagosync.yaml").exists() for p in (lonely, *lonely.parents))  # the premise
    monkeypatch.chdir(lonely)
    for command in (["validate"], ["plan"], ["drift"], ["apply", "--auto-approve"]):
        res = run(*command)
        assert res.exit_code == 1, command
        assert res.stderr.startswith(f"error: no lagosync.yaml in {lonely} or any folder above it "
                                     "(searched up to /)"), res.stderr
        assert "lagosync init" in res.stderr and "Traceback" not in res.output


def test_show_no_check_renders_a_saved_plan_from_any_folder(ws, tmp_path, monkeypatch):
    saved = tmp_path / "out" / "plan.json"
    saved.parent.mkdir()
    assert run("plan", "-w", str(ws), "--out", str(saved)).exit_code == 0
    monkeypatch.chdir(saved.parent)  # no lagosync.yaml here or above: the file alone is enough to render it
    shown = run("show", "plan.json", "--no-check", "--format", "markdown")
    assert shown.exit_code == 0, shown.stderr
    assert "**Plan: 4 to create" in shown.stdout
    checked = run("show", "plan.json")  # comparing with the workspace needs one
    assert checked.exit_code == 1 and checked.stderr.startswith(f"error: no lagosync.yaml in {saved.parent}")
    assert run("show", "plan.json", "-w", str(ws), "--no-color").exit_code == 0


def test_verbose_works_after_the_subcommand(ws, monkeypatch):
    monkeypatch.chdir(ws)
    quiet = run("plan")
    assert "lagosync.client" not in quiet.stderr
    for args in (["plan", "-vv"], ["-vv", "plan"], ["plan", "--verbose", "--verbose"]):
        res = run(*args)
        assert res.exit_code == 0, args
        assert "DEBUG lagosync.client: GET http://lago.local/api/v1/plans" in res.stderr, args
    info = run("plan", "-v")
    assert "DEBUG" not in info.stderr
    assert "-v, --verbose" in run("plan", "--help").stdout
    assert "-v, --verbose" in run("ci", "labels", "--help").stdout  # sub-groups too


def _python_m(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "lagosync", *args], capture_output=True, text=True,
                          cwd=cwd, env=environ, timeout=120)


def test_python_m_lagosync_is_the_same_command_line(ws):
    version = _python_m("--version")
    assert version.returncode == 0 and version.stdout.startswith("lagosync, version ")
    validate = _python_m("validate", cwd=ws / "plans")
    assert validate.returncode == 0 and validate.stdout.strip() == "ok: 4 objects in 3 files"
    bad = _python_m("validate", "--format", "yaml", cwd=ws)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_shell_completion_script_and_answers(ws):
    script = _python_m(env={"_LAGOSYNC_COMPLETE": "bash_source"})
    assert script.returncode == 0
    assert "_lagosync_completion()" in script.stdout
    assert "complete -o nosort -F _lagosync_completion lagosync" in script.stdout
    zsh = _python_m(env={"_LAGOSYNC_COMPLETE": "zsh_source"})
    assert "#compdef lagosync" in zsh.stdout
    # what the script asks: the completions of a partial command line
    answer = _python_m(env={"_LAGOSYNC_COMPLETE": "bash_complete", "COMP_WORDS": "lagosync pl", "COMP_CWORD": "1"})
    assert answer.stdout.split() == ["plain,plan"]
    flags = _python_m(env={"_LAGOSYNC_COMPLETE": "bash_complete", "COMP_WORDS": "lagosync plan --tar",
                           "COMP_CWORD": "2"})
    assert flags.stdout.split() == ["plain,--target"]
