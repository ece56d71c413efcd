"""The plan names plans by the codes Lago knows them by: a subscription left on a superseded version 1
reads ``pro__v1`` in the state (so it differs from the declared ``pro``), but no plan ``pro__v1`` exists
in Lago; the plan text says ``pro`` (version 1) -> ``pro__v2`` (the current version)."""

from __future__ import annotations

from lagosync.planner import make_plan
from lagosync.render import render_markdown, render_text


def test_a_subscription_left_on_version_1_is_moved_by_the_codes_that_exist(builders):
    b = builders
    live_state = b.full_state()
    live_state["subscription"]["sub_acme"] = b.canon("subscription", "sub_acme", plan_code="pro__v1")
    live = b.live(live_state, plan_versions={"pro": "pro__v2"}, superseded_codes={"pro__v1": "pro"},
                  plan_has_had_subscriptions={"pro"}, superseded_yearly_amounts={"pro__v1": 4900 * 12})
    plan = make_plan(b.full_state(), live, environment="test", created_at="2025-01-01T00:00:00+00:00")
    (op,) = plan.operations
    assert (op.action, op.id) == ("migrate", "subscription:sub_acme")
    assert (op.details["from_plan"], op.details["to_plan"]) == ("pro", "pro__v2")
    assert [(c.path, c.old, c.new) for c in op.changes] == [("plan_code", "pro", "pro__v2")]
    assert op.after["plan_code"] == "pro"  # what the applier reads is unchanged (it resolves the version)
    text = render_text(plan) + render_markdown(plan)
    assert "pro__v1" not in text
    assert "subscription 'sub_acme': plan 'pro' -> 'pro__v2'" in text


def test_without_versions_the_codes_are_the_declared_ones(builders):
    b = builders
    desired = b.full_state()
    desired["subscription"]["sub_acme"] = b.canon("subscription", "sub_acme", plan_code="basic")
    plan = make_plan(desired, b.live(b.full_state()), environment="test")
    (op,) = plan.operations
    assert (op.details["from_plan"], op.details["to_plan"]) == ("pro", "basic")
    assert [(c.path, c.old, c.new) for c in op.changes] == [("plan_code", "pro", "basic")]


def test_the_money_impact_of_a_new_version_names_the_version_a_waiting_subscription_is_on(builders):
    """A subscription still on version 1, waiting for a downgrade to version 2, moves to version 3."""
    b = builders
    live_state = b.full_state()
    live_state["subscription"]["sub_acme"] = b.canon("subscription", "sub_acme", plan_code="pro__v1")
    live = b.live(live_state, plan_versions={"pro": "pro__v2"}, superseded_codes={"pro__v1": "pro"},
                  plan_has_had_subscriptions={"pro"}, pending_downgrades={"sub_acme": "pro"},
                  superseded_yearly_amounts={"pro__v1": 4900 * 12})
    desired = b.full_state()
    desired["plan"]["pro"] = b.canon("plan", "pro", interval="yearly", amount_cents=10000)
    plan = make_plan(desired, live, environment="test", created_at="2025-01-01T00:00:00+00:00")
    replace = next(op for op in plan.operations if op.id == "plan:pro")
    assert replace.version is not None and replace.version.code == "pro__v3"
    assert any("moves from 'pro' to new version 'pro__v3'" in i.detail for i in replace.impact)
    assert "pro__v1" not in render_text(plan) + render_markdown(plan)
