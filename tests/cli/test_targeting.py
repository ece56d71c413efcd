"""--target / --exclude on plan and apply, through the CLI against the local Lago; and the pure
filter itself (lagosync.planner.targeting.apply_targeting)."""

from __future__ import annotations

import json

import pytest
from cli_helpers import init_workspace, run

from lagosync.errors import UserError
from lagosync.planner.ops import Action, Operation, Plan
from lagosync.planner.targeting import Targeting, apply_targeting

WARNING = "Warning: Resource targeting is in effect"


@pytest.fixture
def ws(tmp_path):
    return str(init_workspace(tmp_path))


def planned(output: str) -> list[str]:
    return [line.strip().split("  ")[0] for line in output.splitlines() if line.startswith("  + ")]


def test_target_keeps_what_the_target_depends_on_with_a_warning(ws):
    res = run("plan", "-w", ws, "--no-color", "--target", "plan:starter")
    assert res.exit_code == 0, res.output
    assert planned(res.stdout) == ["+ metric 'api_calls'", "+ plan 'starter'"]
    assert res.stdout.startswith(WARNING)
    assert "Warning: included because the targeted changes depend on them: metric 'api_calls'" in res.stdout
    assert "Plan: 2 to create" in res.stdout
    sub = run("plan", "-w", ws, "--no-color", "--target", "subscription:sub_org_example")
    assert len(planned(sub.stdout)) == 4  # plan, metric, customer: transitively
    both = run("plan", "-w", ws, "--no-color", "--target", "metric:api_calls", "--target", "org:org_example")
    assert planned(both.stdout) == ["+ metric 'api_calls'", "+ customer 'org_example'"]


def test_exclude_drops_what_depends_on_the_excluded(ws):
    res = run("plan", "-w", ws, "--no-color", "--exclude", "metric:api_calls")
    assert planned(res.stdout) == ["+ customer 'org_example'"]
    assert ("Warning: left out because they depend on an excluded change: plan 'starter', "
            "subscription 'sub_org_example'") in res.stdout
    mixed = run("plan", "-w", ws, "--no-color", "--target", "subscription:*", "--exclude", "customer:org_example")
    # the subscription's dependencies stay, unless they depend on the excluded customer
    assert planned(mixed.stdout) == ["+ metric 'api_calls'", "+ plan 'starter'"]


def test_a_target_without_a_change_and_bad_flags(ws):
    res = run("plan", "-w", ws, "--no-color", "--target", "coupon:nope")
    assert res.exit_code == 0
    assert "Warning: --target coupon:nope: no change is planned for coupon 'nope'" in res.stdout
    for flag, value in (("--target", "plan"), ("--exclude", "gadget:x"), ("--target", "plan:")):
        bad = run("plan", "-w", ws, flag, value)
        assert bad.exit_code == 1 and f"error: {flag} '{value}': expected KIND:KEY" in bad.stderr
        assert "Traceback" not in bad.output
    assert run("apply", "-w", ws, "--auto-approve", "--exclude", "bogus:x").exit_code == 1


def test_apply_with_target_then_the_rest(ws):
    first = run("apply", "-w", ws, "--auto-approve", "--no-color", "--target", "plan:starter")
    assert first.exit_code == 0, first.output
    assert WARNING in first.stdout
    assert "Apply summary: 2 done (2 created), 0 failed, 0 skipped." in first.stdout
    assert "Lago matches the targeted part of the workspace" in first.stdout
    rest = run("plan", "-w", ws, "--no-color")
    assert planned(rest.stdout) == ["+ customer 'org_example'", "+ subscription 'sub_org_example'"]
    assert run("apply", "-w", ws, "--auto-approve").exit_code == 0
    assert run("plan", "-w", ws, "--detailed-exitcode").exit_code == 0


def test_a_saved_targeted_plan_records_its_targeting_and_apply_uses_it(ws, tmp_path):
    out = tmp_path / "plan.json"
    made = run("plan", "-w", ws, "--exclude", "org:org_example", "--out", str(out))
    assert made.exit_code == 0
    doc = json.loads(out.read_text())
    left_out = ("Resource targeting is in effect: --exclude customer:org_example leaves out customer 'org_example', "
                "subscription 'sub_org_example'")
    assert doc["targeting"] == {"target": [], "exclude": ["customer:org_example"], "warnings": [
        left_out, "left out because they depend on an excluded change: subscription 'sub_org_example'"]}
    assert [op["id"] for op in doc["operations"]] == ["billable_metric:api_calls", "plan:starter"]
    shown = run("show", str(out), "-w", ws, "--format", "json", "--no-check")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["warnings"][0] == left_out
    text = run("show", str(out), "-w", ws, "--no-color")
    assert text.exit_code == 0 and text.stdout.startswith("Warning: " + left_out), text.output
    md = tmp_path / "plan.md"
    md.write_text(run("show", str(out), "-w", ws, "--no-check", "--format", "markdown").stdout)
    for extra in ([], ["--markdown", str(md)]):  # rendered by the comment itself, or by show (the workflow)
        comment = run("ci", "github", "pr-comment", str(out), *extra, "--dry-run", "--pr", "5",
                      env={"GITHUB_TOKEN": None})
        assert comment.exit_code == 0, comment.output
        assert ("> This plan was made with `--exclude customer:org_example`: it holds **only part** of the "
                "workspace's changes") in comment.stdout
        assert f"> {left_out}" in comment.stdout
    applied = run("apply", str(out), "-w", ws, "--no-color")
    assert applied.exit_code == 0, applied.output  # the re-plan after the writes is targeted too
    assert "Apply summary: 2 done (2 created), 0 failed, 0 skipped." in applied.stdout
    assert run("plan", "-w", ws, "--detailed-exitcode").exit_code == 2


def _op(kind: str, key: str, *deps: str) -> Operation:
    return Operation(Action.CREATE, kind, key, depends_on=deps)


def test_apply_targeting_is_pure_and_transitive():
    ops = (_op("tax", "vat"), _op("billable_metric", "m"), _op("plan", "p", "tax:vat", "billable_metric:m"),
           _op("customer", "c", "tax:vat"), _op("subscription", "s", "plan:p", "customer:c"))
    plan = Plan("local", None, "digest", "2026-01-01T00:00:00Z", operations=ops, unchanged=3)
    reduced, warnings = apply_targeting(plan, Targeting.parse(["subscription:s"], ["metric:m"]))
    assert [op.id for op in reduced.operations] == ["tax:vat", "customer:c"]
    assert reduced.unchanged == 3 and plan.operations == ops  # the input is untouched
    assert warnings[0].startswith("Resource targeting is in effect")
    same, none = apply_targeting(plan, Targeting())
    assert same is plan and none == []
    only_tax, _ = apply_targeting(plan, Targeting.parse(["taxes:vat"]))
    assert [op.id for op in only_tax.operations] == ["tax:vat"]
    dropped, _ = apply_targeting(plan, Targeting.parse(excludes=["tax:*"]))
    assert [op.id for op in dropped.operations] == ["billable_metric:m"]
    with pytest.raises(UserError, match="--target 'p': expected KIND:KEY"):
        Targeting.parse(["p"])
    assert Targeting.from_dict(Targeting.parse(["plan:p"], ["org:c"]).to_dict()).flags() == [
        "--target plan:p", "--exclude customer:c"]
