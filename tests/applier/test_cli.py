"""`lagosync apply` on the example workspace against the `local` emulator (the Quickstart)."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("lagosync.yaml", "orgs.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "plans", root / "plans")
    if (REPO / "schemas").is_dir():
        shutil.copytree(REPO / "schemas", root / "schemas")
    return root


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_quickstart_apply_then_plan_is_empty(ws):
    refused = run("apply", "-w", str(ws))
    assert refused.exit_code == 1
    assert "no terminal to ask for confirmation" in refused.output and "Traceback" not in refused.output

    applied = run("apply", "-w", str(ws), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Lago matches the workspace (plan is empty)." in applied.output
    assert (ws / ".lagosync" / "audit.jsonl").exists()

    again = run("plan", "-w", str(ws), "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    nothing = run("apply", "-w", str(ws))  # nothing to do: no confirmation needed
    assert nothing.exit_code == 0 and "No changes" in nothing.output


def test_cli_saved_plan_applies_or_is_refused_as_stale(ws):
    assert run("apply", "-w", str(ws), "--auto-approve").exit_code == 0
    taxes = ws / "plans" / "taxes.yaml"
    taxes.write_text(taxes.read_text().replace("name: VAT 20%", "name: VAT (standard)"))
    plan_file = ws / "plan.json"
    made = run("plan", "-w", str(ws), "--out", str(plan_file))
    assert made.exit_code == 0, made.output

    other_env = ws / "other.json"
    other_env.write_text(json.dumps({**json.loads(plan_file.read_text()), "environment": "staging"}))
    refused = run("apply", "-w", str(ws), str(other_env))
    assert refused.exit_code == 3, refused.output
    assert "error: plan was made for environment 'staging'" in refused.output

    applied = run("apply", "-w", str(ws), str(plan_file))  # a reviewed saved plan needs no prompt
    assert applied.exit_code == 0, applied.output
    again = run("apply", "-w", str(ws), str(plan_file))  # Lago moved on since that plan: stale
    assert again.exit_code == 3 and "plan is stale: tax 'vat_20' changed since the plan was made" in again.output


def test_cli_json_log_format(ws):
    result = run("apply", "-w", str(ws), "--auto-approve", "--log-format", "json")
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert records and all(r["outcome"] == "ok" and r["environment"] == "local" for r in records)


class _Terminal:
    """Stands in for the ``sys`` module of lagosync.applier.run: stdin and stdout report a terminal."""

    class _Stream:
        def __init__(self, stream):
            self._stream = stream

        def isatty(self):
            return True

        def __getattr__(self, name):
            return getattr(self._stream, name)

    def __getattr__(self, name):
        import sys

        value = getattr(sys, name)
        return self._Stream(value) if name in ("stdin", "stdout") else value


def test_cli_on_a_terminal_asks_naming_repricing_and_only_yes_applies(ws, monkeypatch):
    import lagosync.applier.run as run_module

    assert run("apply", "-w", str(ws), "--auto-approve").exit_code == 0
    plans = ws / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace("amount_cents: 4900", "amount_cents: 5900", 1))
    monkeypatch.setattr(run_module, "sys", _Terminal())

    refused = CliRunner().invoke(main, ["apply", "-w", str(ws), "--no-color"], input="y\n")
    assert refused.exit_code == 1, refused.output
    assert "--allow-reprice: this plan re-prices existing subscribers:\n" in refused.output and "'professional'" in refused.output
    assert "Only 'yes' will be accepted" in refused.output and "apply cancelled; nothing was written" in refused.output
    assert run("plan", "-w", str(ws), "--detailed-exitcode").exit_code == 2

    accepted = CliRunner().invoke(main, ["apply", "-w", str(ws), "--no-color"], input="yes\n")
    assert accepted.exit_code == 0, accepted.output
    assert "] 1/1 updated plan 'professional'" in accepted.output  # the terminal progress bar
    assert run("plan", "-w", str(ws), "--detailed-exitcode").exit_code == 0
