"""validate's formats (json, github), the syntax error first, did you mean; apply's refusal lists
and summary; through the CLI."""

from __future__ import annotations

import json

import pytest
from cli_helpers import init_workspace, run


@pytest.fixture
def ws(tmp_path):
    return init_workspace(tmp_path)


def break_indent(ws) -> None:
    plans = ws / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace("    name: Starter\n", "       name: Starter\n"))


def test_a_syntax_error_comes_first_without_the_errors_it_causes(ws):
    orgs = ws / "orgs.yaml"
    orgs.write_text(orgs.read_text() + "  - external_id: org_two\n    subscriptions:\n      - plan_code: starter\n"
                    "  - external_id: org_three\n    subscriptions:\n      - plan_code: no_such\n")
    clean = run("validate", "-w", str(ws))
    assert clean.exit_code == 1
    assert "unknown plan 'no_such'" in clean.stderr and "unknown plan 'starter'" not in clean.stderr
    break_indent(ws)
    res = run("validate", "-w", str(ws))
    lines = res.stderr.splitlines()
    assert lines[0].startswith("plans/plans.yaml:") and "YAML syntax error" in lines[0]
    assert "unknown plan 'starter'" not in res.stderr  # plans.yaml may well declare it: not listed
    assert "unknown plan 'no_such'" in res.stderr  # not a word of the broken file: still a real error
    assert lines[-1] == "2 errors in the workspace"


def test_did_you_mean_for_an_unknown_code(ws):
    orgs = ws / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace("plan_code: starter", "plan_code: startr"))
    res = run("validate", "-w", str(ws))
    assert "unknown plan 'startr' (did you mean 'starter'? otherwise define it under plans" in res.stderr
    far = orgs.read_text().replace("plan_code: startr", "plan_code: enterprise")
    orgs.write_text(far)
    assert "did you mean" not in run("validate", "-w", str(ws)).stderr


def test_validate_format_json(ws):
    ok = run("validate", "-w", str(ws), "--format", "json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {"ok": True, "summary": "ok: 4 objects in 3 files", "error_count": 0,
                                     "diagnostics": []}
    break_indent(ws)
    bad = run("validate", "-w", str(ws), "--format", "json")
    assert bad.exit_code == 1 and bad.stderr == ""
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False and doc["error_count"] == 1
    [diag] = doc["diagnostics"]
    assert (diag["file"], diag["line"]) == ("plans/plans.yaml", 11) and "YAML syntax error" in diag["message"]
    assert diag["text"].startswith("plans/plans.yaml:11:")


def test_validate_format_github_annotations(ws, monkeypatch):
    orgs = ws / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace("plan_code: starter", "plan_code: startr"))
    monkeypatch.chdir(ws.parent)  # annotations name files from the checkout's root (the current folder)
    res = run("validate", "-w", "billing", "--format", "github")
    assert res.exit_code == 1
    first, summary = res.stdout.splitlines()
    assert first.startswith("::error file=billing/orgs.yaml,line=9,col=20,title=lagosync validate::")
    # data escaping: no raw newline; a colon stays in the message, only properties escape it
    assert "subscriptions[0].plan_code: unknown plan 'startr' (did you mean 'starter'?" in first
    assert summary == "1 error in the workspace"


def test_apply_prints_the_plan_once_and_counts_per_action(ws):
    res = run("apply", "-w", str(ws), "--auto-approve", "--no-color")
    assert res.exit_code == 0, res.output
    assert res.stdout.count("lagosync will perform these actions") == 1
    assert res.stdout.count("+ plan 'starter'") == 1
    assert "Apply summary: 4 done (4 created), 0 failed, 0 skipped." in res.stdout
    plans = ws / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace("amount_cents: 1900", "amount_cents: 2900"))
    orgs = ws / "orgs.yaml"
    orgs.write_text(orgs.read_text() + "  - external_id: org_second\n    name: Second\n")
    both = run("apply", "-w", str(ws), "--auto-approve", "--allow-reprice", "--no-color")
    assert "Apply summary: 2 done (1 updated, 1 created), 0 failed, 0 skipped." in both.stdout, both.output


def test_a_refusal_lists_the_operations_one_per_line_under_each_flag(ws):
    orgs = ws / "orgs.yaml"
    orgs.write_text(orgs.read_text() + "  - external_id: org_b\n    subscriptions:\n      - plan_code: starter\n")
    assert run("apply", "-w", str(ws), "--auto-approve").exit_code == 0
    plans = ws / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace("amount_cents: 1900", "amount_cents: 2900"))
    text = orgs.read_text()
    orgs.write_text(text[:text.index("  - external_id: org_b")]
                    + "  - external_id: org_b\n    ensure: absent\n")
    res = run("apply", "-w", str(ws), "--auto-approve", "--no-color")
    assert res.exit_code == 1
    err = res.stderr.splitlines()
    assert err[0] == "error: refusing to apply without explicit permission; nothing was written"
    destroy = err.index("--allow-destroy: this plan destroys (deletes, terminations):")
    reprice = err.index("--allow-reprice: this plan re-prices existing subscribers:")
    assert destroy < reprice
    assert all(line.startswith("  - ") for line in err[destroy + 1:reprice])
    assert any("delete customer 'org_b'" in line for line in err[destroy + 1:reprice])
    assert any(line.startswith("  - update plan 'starter'") for line in err[reprice + 1:-1])
    assert err[-1] == "review these operations, then run again with --allow-destroy --allow-reprice"
    only_reprice = run("apply", "-w", str(ws), "--auto-approve", "--allow-destroy")
    assert "--allow-destroy:" not in only_reprice.stderr and "--allow-reprice:" in only_reprice.stderr
