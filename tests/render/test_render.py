"""Golden outputs of the three renderers, colour handling, and the markdown size limit."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from lagosync import model
from lagosync.errors import UserError
from lagosync.planner import Operation, Plan
from lagosync.render import GITHUB_COMMENT_LIMIT, render, render_markdown

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LAGOSYNC_UPDATE_GOLDEN") == "1"  # regenerate on purpose, then review the diff
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with LAGOSYNC_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt,name", [("text", "plan.txt"), ("markdown", "plan.md"), ("json", "plan.json")])
def test_golden(plan, fmt, name):
    check_golden(name, render(plan, fmt))


def test_text_reads_like_terraform(plan):
    text = render(plan, "text")
    lines = text.splitlines()
    # the money impact comes first: who pays differently, how, from when; then the blast radius
    assert lines[2] == "Money impact: 42 subscriptions pay differently:"
    assert ("  $ subscription 'sub_acme' of 'acme': plan: moves from 'starter' to new version 'starter__v2' "
            "(a downgrade; yearly base 22800 -> 19000 cents), at the end of its billing period") in lines
    assert lines.index("Blast radius:") > 2
    assert "  ! re-prices 37 active subscriptions on 'professional'" in lines
    assert "  ! terminates 3 active subscriptions (deletes plan 'legacy')" in lines
    assert "  ! deletes metric 'old_metric' and its events" in lines
    assert "      ~ charges.api_calls.properties.amount: \"0.001\" -> \"0.0015\"" in lines
    for mark in ("  + tax 'gst'", "  ~ plan 'professional'", "  -/+ plan 'starter'", "  > subscription",
                 "  - plan 'legacy'", "  !! metric 'seats'"):
        assert any(line.startswith(mark) for line in lines), mark
    assert lines[-1] == "Plan: 2 to create, 2 to update, 3 to replace, 1 to migrate, 2 to delete."


def test_colour_only_when_asked(plan):
    plain = render(plan, "text")
    coloured = render(plan, "text", color=True)
    assert not ANSI.search(plain)
    assert "\x1b[32m  + tax 'gst'\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == plain


def test_empty_plan_says_no_changes():
    plan = Plan(environment="local", lago_url=None, workspace_digest="d", created_at="t", unchanged=4)
    assert render(plan, "text").splitlines()[-1] == "No changes. Lago matches the workspace."
    assert "**No changes. Lago matches the workspace.**" in render(plan, "markdown")
    assert json.loads(render(plan, "json"))["has_changes"] is False


def test_warnings_come_first_in_every_format(plan):
    w = ["plan:professional was changed in Lago since the plan was made"]
    assert render(plan, "text", warnings=w).startswith("Warning: plan:professional was changed")
    md = render(plan, "markdown", warnings=w)
    assert md.index("[!WARNING]") < md.index("**Plan:")
    assert json.loads(render(plan, "json", warnings=w))["warnings"] == w


def test_unknown_format_is_a_user_error(plan):
    with pytest.raises(UserError, match="unknown format 'yaml'"):
        render(plan, "yaml")


def _huge_plan(n: int) -> Plan:
    ops = []
    for i in range(n):
        after = model.from_yaml("plan", {
            "code": f"plan_{i:05d}", "name": f"Plan {i}", "interval": "monthly", "amount_cents": 100 + i,
            "amount_currency": "EUR", "charges": [
                {"billable_metric_code": f"metric_{j}", "charge_model": "graduated", "properties": {
                    "graduated_ranges": [{"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                                         {"from_value": 10, "to_value": None, "per_unit_amount": "0.5",
                                          "flat_amount": "0"}]}}
                for j in range(30)]})
        ops.append(Operation("create", "plan", after["code"], ("new",), (), None, after))
    ops.append(Operation("update", "plan", "pro", ("changed", "reprices_subscribers"),
                         details={"active_subscriptions": 37}))
    return Plan(environment="prod", lago_url=None, workspace_digest="d", created_at="t", operations=tuple(ops))


def test_markdown_always_fits_a_github_comment():
    plan = _huge_plan(2000)
    assert len(render(plan, "text")) > 10 * GITHUB_COMMENT_LIMIT  # really huge
    md = render(plan, "markdown")
    assert len(md) <= GITHUB_COMMENT_LIMIT
    # the summary and the warnings survive, the truncation is said
    assert "**Plan: 2000 to create, 1 to update, 0 to replace, 0 to migrate, 0 to delete.**" in md
    assert "re-prices 37 active subscriptions on 'pro'" in md
    assert "operation(s) not shown" in md and "more operation(s) not listed" in md
    assert md.count("<details>") == md.count("</details>") and md.count("```") % 2 == 0
    small = render_markdown(plan, limit=20_000)
    assert len(small) <= 20_000 and "<details>" in small


def test_one_enormous_operation_is_cut_inside_its_block():
    plan = _huge_plan(1)
    big = plan.operations[0]
    after = dict(big.after)
    after["charges"] = {f"c{i}": v for i, v in enumerate(list(after["charges"].values()) * 20)}
    op = Operation("create", "plan", "big", ("new",), (), None, after)
    md = render_markdown(Plan(environment="p", lago_url=None, workspace_digest="d", created_at="t",
                              operations=(op,)))
    assert len(md) <= GITHUB_COMMENT_LIMIT
    assert "more line(s) not shown" in md and md.count("```") % 2 == 0


def _create_plan_with_charges() -> Plan:
    after = model.from_yaml("plan", {
        "code": "team", "name": "Team", "interval": "monthly", "amount_cents": 4900, "amount_currency": "EUR",
        "charges": [
            {"billable_metric_code": "api_calls", "charge_model": "standard", "properties": {"amount": "0.002"}},
            {"billable_metric_code": "storage", "charge_model": "graduated", "min_amount_cents": 500,
             "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                 {"from_value": 10, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"}]}},
        ]})
    op = Operation("create", "plan", "team", ("new",), (), None, after)
    return Plan(environment="local", lago_url=None, workspace_digest="d", created_at="t", operations=(op,))


def test_a_create_shows_what_differs_from_the_defaults_and_verbose_shows_everything():
    plan = _create_plan_with_charges()
    lines = [line.strip() for line in render(plan, "text").splitlines()]
    assert "+ amount_cents = 4900" in lines and '+ charges.api_calls.properties.amount = "0.002"' in lines
    assert "+ charges.storage.min_amount_cents = 500" in lines
    # a list that differs from the default is shown whole, its first range too
    assert "+ charges.storage.properties.graduated_ranges[0].from_value = 0" in lines
    assert '+ charges.storage.properties.graduated_ranges[1].per_unit_amount = "0.5"' in lines
    for default in ("prorated", "pay_in_advance", "min_amount_cents = 0", "trial_period", "charge_model = \"standard\""):
        assert not any(default in line for line in lines), default
    assert '+ charges.storage.charge_model = "graduated"' in lines  # not the default charge model

    verbose = [line.strip() for line in render(plan, "text", verbose=True).splitlines()]
    for default in ("+ charges.api_calls.prorated = false", "+ charges.api_calls.min_amount_cents = 0",
                    '+ trial_period = "0"', "+ pay_in_advance = false", '+ charges.api_calls.charge_model = "standard"'):
        assert default in verbose, default
    assert set(lines) < set(verbose)
    md = render(plan, "markdown")
    assert "prorated" not in md and "prorated = false" in render(plan, "markdown", verbose=True)
