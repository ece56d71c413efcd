"""Applied coupons end to end against the emulator: apply, plan empty, replace, removal, crash re-run."""

from __future__ import annotations

import pytest
from coupon_helpers import catalogue, new_env, set_coupons

from lagosync.emulator import EmulatorCrash, Faults
from lagosync.errors import LagosyncError


def applied(lago, status=None):
    params = [("status", status)] if status else None
    return lago.list("/applied_coupons", "applied_coupons", params)


def test_apply_applies_the_coupon_then_plan_is_empty(lago):
    plan = lago.plan()
    ops = {op.id: op for op in plan.operations}
    op = ops["applied_coupon:org_a/launch"]
    assert op.action == "create" and op.reasons == ("new",)
    assert set(op.depends_on) == {"customer:org_a", "coupon:launch"}
    assert plan.operations[-1].id == "applied_coupon:org_a/launch"  # after customers and coupons
    assert lago.apply().ok
    rows = applied(lago)
    assert [(a["external_customer_id"], a["coupon_code"], a["status"], a["percentage_rate"]) for a in rows] == [
        ("org_a", "launch", "active", "20.0")]
    assert not lago.plan().has_changes


def test_override_change_is_a_replace_that_needs_allow_destroy(lago):
    assert lago.apply().ok
    set_coupons(lago.desired, "org_a", [{"coupon_code": "launch", "percentage_rate": "15.0"}])
    plan = lago.plan()
    [op] = plan.operations
    assert (op.action, op.kind, op.key) == ("replace", "applied_coupon", "org_a/launch")
    assert op.reasons == ("changed", "terminates_coupon")
    assert [(c.path, c.old, c.new) for c in op.changes] == [("percentage_rate", "20", "15")]
    assert op.destructive and not op.blocked
    with pytest.raises(LagosyncError, match=r"--allow-destroy"):
        lago.apply()
    assert [a["status"] for a in applied(lago)] == ["active"]  # nothing terminated
    assert lago.apply(allow_destroy=True, allow_reprice=True).ok
    rows = sorted(applied(lago), key=lambda a: a["status"])
    assert [(a["status"], a["percentage_rate"]) for a in rows] == [("active", "15.0"), ("terminated", "20.0")]
    assert not lago.plan().has_changes


def test_declared_override_equal_to_live_is_no_change(lago):
    set_coupons(lago.desired, "org_a", [{"coupon_code": "launch", "percentage_rate": "20.00",
                                          "frequency_duration": 3}])
    assert lago.apply().ok
    assert not lago.plan().has_changes


def test_removal_from_the_list_terminates_only_with_allow_destroy(lago):
    assert lago.apply().ok
    set_coupons(lago.desired, "org_a", [])
    [op] = lago.plan().operations
    assert (op.action, op.id, op.reasons) == ("delete", "applied_coupon:org_a/launch", ("removed", "terminates_coupon"))
    assert "terminates coupon 'launch' on org 'org_a'" in op.describe()
    with pytest.raises(LagosyncError, match=r"this plan destroys[^\n]*:\n  - delete applied coupon 'org_a/launch'"):
        lago.apply()
    assert [a["status"] for a in applied(lago)] == ["active"]
    assert lago.apply(allow_destroy=True, allow_reprice=True).ok
    assert [a["status"] for a in applied(lago)] == ["terminated"]
    assert not lago.plan().has_changes


def test_org_without_coupons_key_leaves_applied_coupons_alone(lago):
    assert lago.apply().ok
    set_coupons(lago.desired, "org_a", None)
    plan = lago.plan()
    assert not plan.has_changes
    assert ("applied_coupon", "org_a/launch") in plan.unmanaged


def test_non_reusable_coupon_terminated_once_cannot_be_applied_again(lago):
    lago.desired = catalogue(reusable=False)
    assert lago.apply().ok
    set_coupons(lago.desired, "org_a", [])
    assert lago.apply(allow_destroy=True, allow_reprice=True).ok
    set_coupons(lago.desired, "org_a", [{"coupon_code": "launch"}])
    [op] = lago.plan().operations
    assert op.action == "create" and op.blocked and "coupon_not_reusable" in op.reasons
    assert "not reusable" in op.describe()
    with pytest.raises(LagosyncError, match=r"applied coupon 'org_a/launch': cannot be applied: coupon 'launch' "
                       r"is not reusable and was already applied to this org once"):
        lago.apply()
    assert [a["status"] for a in applied(lago)] == ["terminated"]


def test_non_reusable_override_change_is_blocked(lago):
    lago.desired = catalogue(reusable=False)
    assert lago.apply().ok
    set_coupons(lago.desired, "org_a", [{"coupon_code": "launch", "frequency_duration": 6}])
    [op] = lago.plan().operations
    assert op.action == "replace" and op.blocked and op.reasons[-1] == "coupon_not_reusable"


def test_crash_at_every_write_then_rerun_converges_without_duplicates(tmp_path):
    k = 1
    while True:
        root = tmp_path / f"run{k}"
        root.mkdir()
        lago = new_env(root)
        set_coupons(lago.desired, "org_b", [{"coupon_code": "launch", "frequency_duration": 2}])
        faults = Faults(crash_after_writes=k)
        try:
            result = lago.apply(faults)
        except EmulatorCrash:
            pass
        else:
            assert result.ok
            break
        # the re-run is a new plan: applying the coupon to a subscription that now exists changes what it
        # pays, so it needs --allow-reprice like any other re-pricing change
        assert lago.apply(allow_reprice=True).ok
        assert not lago.plan().has_changes
        rows = applied(lago)
        assert sorted((a["external_customer_id"], a["status"]) for a in rows) == [
            ("org_a", "active"), ("org_b", "active")], k
        k += 1
    assert k > 5  # plan, coupon, 2 customers, subscription, 2 applied coupons


def test_replace_interrupted_after_terminate_is_finished_by_rerun(lago):
    assert lago.apply().ok
    set_coupons(lago.desired, "org_a", [{"coupon_code": "launch", "frequency_duration": 5}])
    try:
        lago.apply(Faults(crash_after_writes=1), allow_destroy=True, allow_reprice=True)
    except EmulatorCrash:
        pass
    assert [a["status"] for a in applied(lago)] == ["terminated"]
    [op] = lago.plan().operations
    assert op.action == "create"  # the terminated one is gone; applying again is a create
    assert op.reprices  # the org's subscription pays differently again
    assert lago.apply(allow_reprice=True).ok
    assert [a["frequency_duration"] for a in applied(lago, "active")] == [5]
    assert not lago.plan().has_changes
