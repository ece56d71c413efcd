"""`lagosync plan` and `lagosync show` through click's CliRunner, against the local emulator."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.workspace import load_workspace

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
KIND_ORDER = ["tax", "billable_metric", "add_on", "plan", "coupon", "customer", "subscription", "applied_coupon"]


@pytest.fixture
def example(tmp_path) -> Path:
    """A copy of the example workspace (the repository root) with a fresh, empty local emulator."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("lagosync.yaml", "orgs.yaml"):
        shutil.copy(REPO / name, ws / name)
    shutil.copytree(REPO / "plans", ws / "plans")
    return ws


def run(*args, env=None, color=False):
    result = CliRunner().invoke(main, list(args), env=env or {}, color=color, catch_exceptions=False)
    return result


def declared(ws: Path) -> list[str]:
    desired = load_workspace(ws).desired
    return [f"{k}:{key}" for k in KIND_ORDER for key in sorted(desired.get(k) or {})]


def test_full_creation_plan_in_three_formats(example):
    ids = declared(example)
    assert len(ids) > 10
    text = run("plan", "-w", str(example), "--no-color")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "lagosync plan for environment 'local' (http://lago.local/api/v1)"
    assert lines[-1] == f"Plan: {len(ids)} to create, 0 to update, 0 to replace, 0 to migrate, 0 to delete."
    assert sum(1 for line in lines if line.startswith("  + ")) == len(ids)
    assert "Traceback" not in text.output

    doc = json.loads(run("plan", "-w", str(example), "--format", "json").output)
    assert doc["format_version"] == 2 and doc["environment"] == "local"
    assert [op["id"] for op in doc["operations"]] == ids  # dependency order: taxes first, subscriptions last
    assert {op["action"] for op in doc["operations"]} == {"create"}
    assert doc["summary"]["create"] == len(ids) and doc["fingerprints"] == {} and doc["unmanaged"] == []
    assert doc["workspace_digest"] == load_workspace(example).digest
    subs = [op for op in doc["operations"] if op["kind"] == "subscription"]
    assert all(any(d.startswith("plan:") for d in op["depends_on"]) for op in subs)

    md = run("plan", "-w", str(example), "--format", "markdown").output
    assert md.startswith("### lagosync plan for environment 'local'")
    assert f"**Plan: {len(ids)} to create," in md
    assert md.count("<details>") == len(ids) and len(md) <= 65_536


def test_detailed_exitcode(example, tmp_path):
    assert run("plan", "-w", str(example), "--detailed-exitcode").exit_code == 2
    assert run("plan", "-w", str(example)).exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "lagosync.yaml").write_text("environments:\n  local: {}\n")
    (empty / "plans").mkdir()
    (empty / "plans" / "taxes.yaml").write_text("taxes:\n  - {code: vat, name: VAT, rate: '20'}\n")
    assert run("plan", "-w", str(empty), "--detailed-exitcode").exit_code == 2
    # create the tax in the local emulator: then there is nothing left to change
    from lagosync.client.connect import connect

    async def create_tax():
        client = connect(load_workspace(empty), "local")
        async with client:
            await client.request("POST", "/taxes", json={"tax": {"code": "vat", "name": "VAT", "rate": "20"}})

    asyncio.run(create_tax())
    result = run("plan", "-w", str(empty), "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "No changes. Lago matches the workspace."


def test_errors_are_one_line_and_exit_1(example):
    result = run("plan", "-w", str(example), "-e", "nowhere")
    assert result.exit_code == 1
    assert result.output.startswith("error: unknown environment 'nowhere'") and "Traceback" not in result.output
    bad = example / "bad.json"
    bad.write_text("{not json")
    result = run("show", str(bad), "-w", str(example))
    assert result.exit_code == 1 and result.output.startswith(f"error: {bad}:1:2: not JSON")
    result = run("show", str(example / "missing.json"))
    assert result.exit_code == 1 and "no such plan file" in result.output


def test_colour_follows_no_color_flag_and_env(example):
    assert ANSI.search(run("plan", "-w", str(example), color=True).output)
    assert not ANSI.search(run("plan", "-w", str(example), "--no-color", color=True).output)
    assert not ANSI.search(run("plan", "-w", str(example), color=True, env={"NO_COLOR": "1"}).output)


def test_saved_plan_shows_and_warns_when_stale(example):
    out = example / "plan.json"
    made = run("plan", "-w", str(example), "--out", str(out), "--no-color")
    assert made.exit_code == 0 and out.exists()
    shown = run("show", str(out), "-w", str(example), "--no-color")
    assert shown.exit_code == 0
    assert shown.output == made.output  # a fresh plan renders exactly as planned, no warning
    assert json.loads(run("show", str(out), "-w", str(example), "--format", "json").output) == json.loads(
        out.read_text())

    # Lago changes under the plan: a tax it would create now exists
    from lagosync.client.connect import connect

    async def create_tax():
        client = connect(load_workspace(example), "local")
        async with client:
            await client.request("POST", "/taxes", json={"tax": {"code": "vat_20", "name": "VAT", "rate": "20"}})

    asyncio.run(create_tax())
    stale = run("show", str(out), "-w", str(example), "--no-color")
    assert stale.exit_code == 0
    assert stale.output.startswith("Warning: Lago changed since this plan was made (1 object(s)): "
                                   "tax:vat_20 now exists in Lago (the plan would create it)")
    assert made.output in stale.output  # still rendered

    # the workspace changes under the plan
    (example / "orgs.yaml").write_text((example / "orgs.yaml").read_text() + "\n# edited\n")
    stale = run("show", str(out), "-w", str(example), "--no-color", "--format", "markdown")
    assert "the workspace files changed since this plan was made" in stale.output
    assert stale.output.index("[!WARNING]") < stale.output.index("**Plan:")
    assert run("show", str(out), "-w", str(example), "--no-check", "--no-color").output == made.output


def test_show_without_a_workspace_still_renders(example, tmp_path):
    out = tmp_path / "plan.json"
    run("plan", "-w", str(example), "--out", str(out))
    elsewhere = tmp_path / "nothing"
    elsewhere.mkdir()
    result = run("show", str(out), "-w", str(elsewhere), "--no-color")
    assert result.exit_code == 0
    assert result.output.startswith("Warning: not checked against the workspace or Lago")
    assert "Plan: " in result.output


@pytest.mark.parametrize("args", [["--format", "yaml"], ["--no-such-flag"]])
def test_a_usage_error_is_exit_1_never_the_changes_code(example, args):
    # with --detailed-exitcode, 2 means "changes": a typo must not look like a reviewable plan
    res = run("plan", "-w", str(example), "--detailed-exitcode", *args)
    assert res.exit_code == 1, res.output
    assert "Error:" in res.output
