"""Updates, replaces, migrations and deletes: apply, then plan is empty; Lago holds what was asked."""

import copy
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from catalog import catalog  # noqa: E402

from lagosync.applier import ApplyRefused  # noqa: E402


@pytest.fixture
def applied(lago):
    lago.desired = catalog(3)
    assert lago.apply().ok
    return lago


def ok(lago, **kw):
    result = lago.apply(**kw)
    assert result.ok, ({k: o for k, o in result.outcomes.items() if o.status != "done"}, result.not_converged)
    assert not lago.plan().has_changes
    return result


def test_in_place_updates_of_every_kind_keep_charge_ids(applied):
    lago = applied
    before = {c["code"]: c["lago_id"] for c in lago.get("/plans/starter")["plan"]["charges"]}
    d = lago.desired
    d["tax"]["vat"]["rate"] = "21"
    d["billable_metric"]["api_call"]["name"] = "API requests"
    d["billable_metric"]["api_call"]["filters"] = [{"key": "region", "values": ["eu", "us", "apac"]}]
    d["add_on"]["setup"]["amount_cents"] = 7500
    d["plan"]["starter"]["charges"][0]["properties"] = {"amount": "0.0015"}
    d["plan"]["starter"]["amount_cents"] = 2900
    d["plan"]["starter"]["metadata"] = {"tier": "2"}
    d["coupon"]["credit"]["name"] = "Credit (renamed)"
    d["customer"]["org_0"]["metadata"][0]["value"] = "org"
    d["customer"]["org_0"]["metadata"].append({"key": "segment", "value": "smb"})
    d["customer"]["org_0"]["name"] = "Org Zero"
    d["subscription"]["sub_org_1"]["name"] = "Renamed"
    ok(lago, allow_reprice=True)
    plan = lago.get("/plans/starter")["plan"]
    assert {c["code"]: c["lago_id"] for c in plan["charges"]} == before  # identity kept (lago-behaviour#plan-charges-reconciled)
    assert plan["metadata"] == {"tier": "2", "managed_by": "lagosync"}
    meta = {m["key"]: m["value"] for m in lago.get("/customers/org_0")["customer"]["metadata"]}
    assert meta == {"billing_type": "org", "created_by_user_id": "user_0", "segment": "smb",
                    "managed_by": "lagosync"}
    assert lago.get("/subscriptions/sub_org_1")["subscription"]["name"] == "Renamed"


def test_charge_removed_and_added(applied):
    lago = applied
    starter = lago.desired["plan"]["starter"]
    starter["charges"] = starter["charges"][:1] + [
        {"billable_metric_code": "storage", "charge_model": "standard", "properties": {"amount": "3"}}]
    # Lago deletes a charge left out of a plan update (lago-behaviour#plan-charges-reconciled): destructive, like the PR label
    with pytest.raises(ApplyRefused, match=r"--allow-destroy: this plan destroys[^\n]*:\n  - [^\n]*removes charge 'tokens' from plan 'starter'"):
        lago.apply(allow_reprice=True)
    assert sorted(c["code"] for c in lago.get("/plans/starter")["plan"]["charges"]) == ["api_call", "tokens"]
    ok(lago, allow_reprice=True, allow_destroy=True)
    codes = sorted(c["code"] for c in lago.get("/plans/starter")["plan"]["charges"])
    assert codes == ["api_call", "storage"]


def test_subscription_upgrade_and_downgrade(applied):
    lago = applied
    lago.desired["subscription"]["sub_org_0"]["plan_code"] = "professional"  # 1900 -> 4900: upgrade now
    lago.desired["subscription"]["sub_org_1"]["plan_code"] = "starter"       # 4900 -> 1900: at period end
    # a plan change re-prices that subscriber (the lagosync:reprice label): it needs --allow-reprice
    with pytest.raises(ApplyRefused, match=r"--allow-reprice: this plan re-prices existing subscribers:\n  - move subscription "
                                           r"'sub_org_0'[^\n]*upgrades subscription 'sub_org_0'[^\n]*\n  - [^\n]*sub_org_1"):
        lago.apply()
    assert lago.get("/subscriptions/sub_org_0")["subscription"]["plan_code"] == "starter"
    result = ok(lago, allow_reprice=True)
    sub0 = lago.get("/subscriptions/sub_org_0")["subscription"]
    assert sub0["plan_code"] == "professional" and sub0["name"] == "Org 0 plan"  # name resent (lago-behaviour#subscription-plan-change-name)
    sub1 = lago.get("/subscriptions/sub_org_1")["subscription"]
    assert sub1["plan_code"] == "professional" and sub1["next_plan_code"] == "starter"
    assert "end of its period" in result.outcomes["subscription:sub_org_1"].message
    # going back to the current plan cancels the scheduled downgrade
    lago.desired["subscription"]["sub_org_1"]["plan_code"] = "professional"
    # cancelling a scheduled downgrade keeps the subscriber on the higher price: a re-pricing action
    with pytest.raises(ApplyRefused, match="cancels the downgrade"):
        lago.apply()
    ok(lago, allow_reprice=True)
    assert lago.get("/subscriptions/sub_org_1")["subscription"]["next_plan_code"] is None


def _rows(lago, ext):
    rows = lago.list("/subscriptions", "subscriptions", [("status[]", "active"), ("status[]", "pending")])
    return sorted((r["status"], r["plan_code"], r["name"]) for r in rows if r["external_id"] == ext)


def test_rename_while_a_downgrade_is_pending_renames_both_rows(applied):
    lago = applied
    lago.desired["subscription"]["sub_org_1"]["plan_code"] = "starter"  # downgrade at period end
    ok(lago, allow_reprice=True)
    lago.desired["subscription"]["sub_org_1"]["name"] = "Renamed"
    ok(lago)  # converges in one apply (was: reported done, name unchanged, perpetual diff)
    assert _rows(lago, "sub_org_1") == [("active", "professional", "Renamed"), ("pending", "starter", "Renamed")]


def test_downgrade_and_rename_together_converge_in_one_apply(applied):
    lago = applied
    lago.desired["subscription"]["sub_org_1"].update(plan_code="starter", name="Org 1 basic")
    ok(lago, allow_reprice=True)
    assert _rows(lago, "sub_org_1") == [("active", "professional", "Org 1 basic"),
                                        ("pending", "starter", "Org 1 basic")]


def test_locked_field_change_creates_a_version_and_moves_subscriptions(applied):
    lago = applied
    lago.desired["plan"]["professional"]["interval"] = "quarterly"  # locked once subscribed (lago-behaviour#plan-locked-fields)
    lago.desired["plan"]["professional"]["amount_cents"] = 14700
    result = ok(lago, allow_reprice=True)
    assert "professional__v2" in result.outcomes["plan:professional"].message
    new = lago.get("/plans/professional__v2")["plan"]
    assert new["interval"] == "quarterly"
    assert new["metadata"] == {"managed_by": "lagosync", "lagosync_code": "professional", "lagosync_version": "2"}
    old = lago.get("/plans/professional")["plan"]
    assert old["metadata"]["lagosync_superseded_by"] == "professional__v2"
    assert lago.get("/subscriptions/sub_org_1")["subscription"]["plan_code"] == "professional__v2"
    # later changes go to the current version, in place
    lago.desired["plan"]["professional"]["name"] = "Pro"
    ok(lago, allow_reprice=True)
    assert lago.get("/plans/professional__v2")["plan"]["name"] == "Pro"


def test_second_version_while_subscriptions_wait_for_a_downgrade_to_the_first(applied):
    lago = applied
    pro = lago.desired["plan"]["professional"]
    pro["interval"] = "quarterly"  # 4900/quarter < 4900/month: the move is a downgrade at period end
    ok(lago, allow_reprice=True)
    sub = lago.get("/subscriptions/sub_org_1")["subscription"]
    assert (sub["plan_code"], sub["next_plan_code"]) == ("professional", "professional__v2")
    # a price change on the waiting version re-prices the waiting subscription
    pro["amount_cents"] = 4500
    plan = lago.plan()
    assert plan.operations[0].details["active_subscriptions"] == 1
    assert "reprices_subscribers" in plan.operations[0].reasons
    ok(lago, allow_reprice=True)
    # a second locked change: version 3 must take the waiting subscription along (no straggler)
    pro["interval"] = "yearly"
    plan = lago.plan()
    [op] = plan.operations
    assert (op.action, op.version.code, op.version.migrate) == ("replace", "professional__v3", ("sub_org_1",))
    ok(lago, allow_reprice=True)
    sub = lago.get("/subscriptions/sub_org_1")["subscription"]
    assert (sub["plan_code"], sub["next_plan_code"]) == ("professional", "professional__v3")


def test_deletes_need_allow_destroy_and_then_happen(applied):
    lago = applied
    d = lago.desired
    d["subscription"]["sub_org_2"] = {**d["subscription"]["sub_org_2"], "ensure": "absent"}
    d["coupon"]["credit"] = {"code": "credit", "ensure": "absent"}
    d["add_on"]["setup"] = {"code": "setup", "ensure": "absent"}
    with pytest.raises(ApplyRefused, match="--allow-destroy"):
        lago.apply()
    assert lago.plan().has_changes  # nothing was written
    ok(lago, allow_destroy=True)
    assert lago.get("/subscriptions/sub_org_2", {"status": "terminated"})["subscription"]["status"] == "terminated"
    assert [c["code"] for c in lago.list("/coupons", "coupons")] == ["welcome"]
    assert lago.list("/add_ons", "add_ons") == []


def test_metric_delete_after_the_charges_using_it_are_gone(applied):
    lago = applied
    d = lago.desired
    d["plan"]["enterprise"]["charges"] = [c for c in d["plan"]["enterprise"]["charges"]
                                          if c["billable_metric_code"] != "storage"]
    d["billable_metric"]["storage"] = {"code": "storage", "ensure": "absent"}
    ok(lago, allow_destroy=True, allow_reprice=True)
    assert "storage" not in [m["code"] for m in lago.list("/billable_metrics", "billable_metrics")]


def test_prune_deletes_only_managed_objects(applied):
    lago = applied
    del lago.desired["subscription"]["sub_org_2"]
    del lago.desired["customer"]["org_2"]
    ok(lago, prune=True, allow_destroy=True)
    assert "org_2" not in [c["external_id"] for c in lago.list("/customers", "customers")]
    # objects lagosync never marked (created by hand) are listed as unmanaged, never pruned
    lago.desired = copy.deepcopy(lago.desired)
    assert not lago.plan(prune=True).has_changes


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def test_plan_outputs_name_objects_by_code_never_by_lago_id(applied):
    from lagosync.render import render

    lago = applied
    change_all = lago.desired
    change_all["plan"]["professional"]["interval"] = "quarterly"           # replace + moves
    change_all["plan"]["starter"]["charges"] = change_all["plan"]["starter"]["charges"][:1]  # charge_removed
    change_all["subscription"]["sub_org_0"]["plan_code"] = "enterprise"     # migrate
    change_all["customer"]["org_1"]["metadata"] = [{"key": "billing_type", "value": "org"}]
    change_all["coupon"]["credit"] = {"code": "credit", "ensure": "absent"}
    plan = lago.plan()
    assert len(plan.operations) >= 5
    for fmt in ("text", "markdown", "json"):
        out = render(plan, fmt, color=False)
        assert not UUID.search(out), (fmt, UUID.search(out).group(0))
    assert not UUID.search(plan.to_json())


def test_a_version_left_unused_by_a_failed_apply_is_skipped_then_reused(applied):
    """lago-behaviour#plan-version-reuse: the apply creates 'professional__v2' and crashes before moving
    anyone; reverting the workspace moves nobody, and the next version reuses the unused one."""
    from lagosync.emulator import EmulatorCrash, Faults

    lago = applied
    pro = lago.desired["plan"]["professional"]
    original = copy.deepcopy(pro)
    pro["interval"] = "yearly"
    with pytest.raises(EmulatorCrash):
        lago.apply(Faults(crash_after_writes=1), allow_reprice=True)
    assert lago.get("/plans/professional__v2")["plan"]["code"] == "professional__v2"  # made, nobody moved
    lago.desired["plan"]["professional"] = original
    assert not lago.plan().has_changes  # the subscribers stay where they are: no second move
    lago.desired["plan"]["professional"] = pro
    [op] = lago.plan().operations
    assert op.action == "replace" and op.version.code == "professional__v2"  # reused, not v3
    ok(lago, allow_reprice=True)
    sub = lago.get("/subscriptions/sub_org_1")["subscription"]  # org_1 is on professional
    assert "professional__v2" in (sub["plan_code"], sub["next_plan_code"])
    codes = {p["code"] for p in lago.list("/plans", "plans")}
    assert "professional__v3" not in codes


def test_a_migration_interrupted_by_a_crash_is_finished_by_the_next_apply_without_duplicates(applied):
    """Two subscriptions of 'professional' grandfathered on version 1; a migration moves both now; the
    apply dies after its first write; the next apply moves the other one, and nothing is moved twice."""
    from lagosync.emulator import EmulatorCrash, Faults

    lago = applied
    lago.desired["customer"]["org_4"] = {**lago.desired["customer"]["org_1"], "external_id": "org_4"}
    lago.desired["subscription"]["sub_org_4"] = {"external_id": "sub_org_4", "external_customer_id": "org_4",
                                                 "plan_code": "professional", "name": "Org 4 plan"}
    ok(lago)
    pro = lago.desired["plan"]["professional"]
    pro["price_change"] = "new_version"
    pro["amount_cents"] += 1000
    ok(lago)  # version 2 for new subscriptions; both stay on version 1 (no flag: nobody is re-priced)
    subs = ("sub_org_1", "sub_org_4")
    assert [lago.get(f"/subscriptions/{s}")["subscription"]["plan_code"] for s in subs] == ["professional"] * 2
    lago.desired["migration"] = {"all-now": {"code": "all-now", "plan_code": "professional", "at": "now"}}
    with pytest.raises(EmulatorCrash):
        lago.apply(Faults(crash_after_writes=1), allow_reprice=True, concurrency=1)
    on_v2 = [s for s in subs if lago.get(f"/subscriptions/{s}")["subscription"]["plan_code"] == "professional__v2"]
    assert on_v2  # the crash came after the first move
    # what moved is done: the next plan moves only what is left, and records the migration if it was not
    left = {op.id for op in lago.plan().operations}
    assert left <= {f"subscription:{s}" for s in subs if s not in on_v2} | {"migration:all-now"}
    ok(lago, allow_reprice=True)
    rows = lago.list("/subscriptions", "subscriptions", [("status[]", "active"), ("status[]", "terminated")])
    for ext in subs:
        mine = sorted((r["status"], r["plan_code"]) for r in rows if r["external_id"] == ext)
        assert mine == [("active", "professional__v2"), ("terminated", "professional")], mine
