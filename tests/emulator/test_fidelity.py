"""Second-pass fidelity checks of the emulator against ../shared/LAGO-API-NOTES.md."""

from __future__ import annotations


def _rows(api, ext="sub_1"):
    params = [("status[]", s) for s in ("active", "pending", "terminated", "canceled")] + [("external_id", ext)]
    return sorted((s["plan_code"], s["status"]) for s in api.ok("GET", "/subscriptions", params=params)["subscriptions"])


# ---------------------------------------------------------------- notes §4.2: amount_cents re-evaluation

def test_amount_drop_of_current_plan_cancels_now_more_expensive_pending_downgrade(api):
    # notes §4.2: subscriptions on this plan whose pending downgrade target is now more expensive
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    assert api.subscribe(plan="basic")["next_plan_code"] == "basic"
    api.ok("PUT", "/plans/pro", plan={"amount_cents": 900})
    assert _rows(api) == [("basic", "canceled"), ("pro", "active")]
    assert api.ok("GET", "/subscriptions/sub_1")["subscription"]["next_plan_code"] is None


def test_amount_drop_keeps_pending_downgrade_still_cheaper(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.ok("PUT", "/plans/pro", plan={"amount_cents": 1000})  # equal: not *more* expensive, kept
    assert _rows(api) == [("basic", "pending"), ("pro", "active")]


def test_amount_raise_of_downgrade_target_executes_it_as_upgrade_now(api):
    # notes §4.2: pending downgrades targeting this plan whose new yearly amount >= current's → upgrade now
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    old = api.subscribe(plan="pro", billing_time="anniversary")
    api.subscribe(plan="basic", name="Basic")
    api.ok("PUT", "/plans/basic", plan={"amount_cents": 5000})
    assert _rows(api) == [("basic", "active"), ("basic", "canceled"), ("pro", "terminated")]
    new = api.ok("GET", "/subscriptions/sub_1")["subscription"]
    assert new["lago_id"] != old["lago_id"] and new["previous_plan_code"] == "pro"
    assert new["name"] == "Basic" and new["billing_time"] == "anniversary"  # notes §4.6: copied
    assert new["subscription_at"] == old["subscription_at"]


def test_amount_raise_still_cheaper_leaves_downgrade_pending(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.ok("PUT", "/plans/basic", plan={"amount_cents": 4999})
    assert _rows(api) == [("basic", "pending"), ("pro", "active")]


def test_plan_update_without_amount_change_touches_no_subscription(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.ok("PUT", "/plans/pro", plan={"amount_cents": 5000, "name": "Pro 2"})
    assert _rows(api) == [("basic", "pending"), ("pro", "active")]
