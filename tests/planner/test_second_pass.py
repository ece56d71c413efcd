"""Second-pass QA of the planner as a billing team uses it: readable filter diffs, charge-model
changes with and without subscriptions, money never rendered as a float."""

from __future__ import annotations

import copy

from lagosync.planner import make_plan
from lagosync.planner.diff import diff
from lagosync.render import render

T0 = "2025-01-01T00:00:00+00:00"

EMBED = {"invoice_display_name": "Embeddings", "properties": {"amount": "0.0005"},
         "values": {"endpoint": ["embeddings"]}}
CHAT = {"invoice_display_name": "Chat", "properties": {"amount": "0.0000015"},
        "values": {"endpoint": ["chat"]}}


def test_an_added_filter_is_one_named_change_not_the_whole_list():
    changes = diff([EMBED], [CHAT, EMBED], "charges.api_calls.filters")
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("charges.api_calls.filters[endpoint=chat]", None, CHAT)]


def test_a_filter_price_change_is_named_by_the_filter_values():
    cheaper = copy.deepcopy(EMBED)
    cheaper["properties"]["amount"] = "0.0004"
    changes = diff([CHAT, EMBED], [CHAT, cheaper], "f")
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("f[endpoint=embeddings].properties.amount", "0.0005", "0.0004")]
    removed = diff([CHAT, EMBED], [EMBED], "f")
    assert [(c.path, c.old, c.new) for c in removed] == [("f[endpoint=chat]", CHAT, None)]


def _pro_with(b, **charge_changes):
    charges = copy.deepcopy(b.RAW["plan"]["pro"]["charges"])
    charges[1].update(charge_changes)
    return b.canon("plan", "pro", charges=charges)


def test_charge_model_change_without_subscriptions_is_in_place(builders):
    desired = builders.full_state()
    desired["plan"]["pro"] = _pro_with(builders, charge_model="package",
                                       properties={"amount": "1", "package_size": 100})
    plan = make_plan(desired, builders.live(builders.full_state()), created_at=T0)
    [op] = plan.operations
    # in place (no version: the plan never had a subscription in Lago's count); it re-prices the one read
    assert (op.action, op.reasons) == ("update", ("changed", "reprices_subscribers"))
    assert "charges.storage.charge_model" in [c.path for c in op.changes]


def test_charge_model_change_with_subscriptions_is_a_new_version(builders):
    desired = builders.full_state()
    desired["plan"]["pro"] = _pro_with(builders, charge_model="package",
                                       properties={"amount": "1", "package_size": 100})
    live = builders.live(builders.full_state(), plan_has_had_subscriptions={"pro"},
                         plan_active_subscriptions={"pro": 1})
    [op] = make_plan(desired, live, created_at=T0).operations
    assert op.action == "replace" and op.version.code == "pro__v2"
    assert op.version.migrate == ("sub_acme",)
    assert op.version.locked_paths == ("charges.storage.charge_model",)


def test_tiny_amounts_render_as_decimal_strings_never_floats(builders):
    desired = builders.full_state()
    charges = copy.deepcopy(builders.RAW["plan"]["pro"]["charges"])
    charges[0]["properties"] = {"amount": "0.0000015"}
    charges[0]["filters"] = [CHAT]
    desired["plan"]["pro"] = builders.canon("plan", "pro", charges=charges)
    plan = make_plan(desired, builders.live(builders.full_state()), created_at=T0)
    for fmt in ("text", "markdown", "json"):
        out = render(plan, fmt, color=False)
        assert "0.0000015" in out, fmt
        assert "e-06" not in out and "1.5e" not in out, fmt


def test_absent_org_its_subscriptions_are_terminated_not_unmanaged(builders):
    from lagosync.kinds import kind as _kind

    desired = builders.full_state()
    desired["customer"]["acme"] = {"ensure": "absent", _kind("customer").key_field: "acme"}
    del desired["subscription"]["sub_acme"]  # an org marked absent declares no subscriptions
    plan = make_plan(desired, builders.live(builders.full_state()), created_at=T0)
    [op] = plan.operations
    assert (op.action, op.id, op.reasons) == ("delete", "customer:acme", ("removed", "terminates_subscriptions"))
    assert op.details["subscriptions"] == ["sub_acme"]
    assert "terminates 1 active subscription (deletes customer 'acme'): 'sub_acme'" in op.impacts()
    assert list(plan.unmanaged) == []


def test_cancelling_a_scheduled_downgrade_is_said_in_the_blast_radius(builders):
    live = builders.live(builders.full_state(), pending_downgrades={"sub_acme": "basic"})
    plan = make_plan(builders.full_state(), live, created_at=T0)
    [op] = plan.operations
    assert op.impacts() == ["cancels the downgrade of subscription 'sub_acme' to 'basic' scheduled at the end "
                            "of its billing period (it stays on its current plan)"]
    assert "cancels the downgrade" in render(plan, "text", color=False).split("lagosync will perform")[0]


def test_a_plan_change_that_cancels_a_scheduled_downgrade_says_so(builders):
    desired = builders.full_state()
    desired["subscription"]["sub_acme"] = builders.canon("subscription", "sub_acme", plan_code="basic")
    live_state = builders.full_state()
    live_state["subscription"]["sub_acme"] = builders.canon("subscription", "sub_acme", plan_code="pro__v1")
    live = builders.live(live_state, pending_downgrades={"sub_acme": "pro"},
                         superseded_yearly_amounts={"pro__v1": 70800})
    [op] = make_plan(desired, live, created_at=T0).operations
    assert (op.action, op.reasons) == ("migrate", ("downgrade_at_period_end",))
    assert op.impacts()[-1] == ("cancels the downgrade of subscription 'sub_acme' to 'pro' scheduled at the end "
                                "of its billing period (it moves to 'basic' instead)")
