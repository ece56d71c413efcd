"""Every refusal (stale, non-interactive, destructive, re-pricing, preflight, lock) and the audit log."""

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from catalog import catalog  # noqa: E402
from conftest import KEY  # noqa: E402

from lagosync.applier import (  # noqa: E402
    STALE_EXIT_CODE,
    ApplyLock,
    ApplyRefused,
    AuditLog,
    LockHeld,
    StalePlanError,
)
from lagosync.applier.execute import Context, run_all  # noqa: E402
from lagosync.applier.verify import verify_response  # noqa: E402
from lagosync.errors import UserError  # noqa: E402
from lagosync.planner import Operation  # noqa: E402


@pytest.fixture
def applied(lago):
    lago.desired = catalog(3)
    assert lago.apply().ok
    return lago


def write(lago, method, path, body):
    async def go():
        async with lago.client() as c:
            return await c.request(method, path, json=body)
    return asyncio.run(go())


def save_plan(lago, tmp_path, name="plan.json"):
    path = tmp_path / name
    path.write_text(lago.plan().to_json())
    return path


# ------------------------------------------------------------------ stale saved plans

BEHIND_THE_BACK = {
    "tax": ("PUT", "/taxes/gst", {"tax": {"name": "GST changed"}}, "tax 'gst'"),
    "billable_metric": ("PUT", "/billable_metrics/seats", {"billable_metric": {"name": "Users"}}, "metric 'seats'"),
    "add_on": ("PUT", "/add_ons/setup", {"add_on": {"name": "Onboarding"}}, "add-on 'setup'"),
    "plan": ("PUT", "/plans/professional", {"plan": {"name": "Pro!"}}, "plan 'professional'"),
    "coupon": ("PUT", "/coupons/welcome", {"coupon": {"name": "Hi", "applies_to": {"plan_codes": ["starter"]}}},
               "coupon 'welcome'"),
    "customer": ("POST", "/customers", {"customer": {"external_id": "org_1", "name": "Changed"}}, "customer 'org_1'"),
    "subscription": ("PUT", "/subscriptions/sub_org_2", {"subscription": {"name": "Changed"}},
                     "subscription 'sub_org_2'"),
}


@pytest.mark.parametrize("kind", sorted(BEHIND_THE_BACK))
def test_saved_plan_is_refused_when_an_object_changed_behind_its_back(applied, tmp_path, kind):
    lago = applied
    lago.desired["plan"]["starter"]["name"] = "Starter plan"
    path = save_plan(lago, tmp_path)
    method, url, body, label = BEHIND_THE_BACK[kind]
    write(lago, method, url, body)
    with pytest.raises(StalePlanError) as info:
        lago.apply(plan_file=path)
    assert info.value.exit_code == STALE_EXIT_CODE == 3
    assert f"plan is stale: {label} changed since the plan was made" in str(info.value)
    assert lago.get("/plans/starter")["plan"]["name"] == "Starter"  # nothing written


def test_saved_plan_for_object_created_or_deleted_since_is_stale(applied, tmp_path):
    lago = applied
    lago.desired["tax"]["new_tax"] = {"code": "new_tax", "name": "New", "rate": "1"}
    path = save_plan(lago, tmp_path)
    write(lago, "POST", "/taxes", {"tax": {"code": "new_tax", "name": "By hand", "rate": "1"}})
    with pytest.raises(StalePlanError, match="tax 'new_tax' was created since the plan was made"):
        lago.apply(plan_file=path)


def test_saved_plan_made_for_another_environment_url_or_workspace(applied, tmp_path):
    lago = applied
    lago.desired["plan"]["starter"]["name"] = "Starter plan"
    path = save_plan(lago, tmp_path)
    doc = json.loads(path.read_text())
    for field, value, message in (("environment", "production", "made for environment 'production'"),
                                  ("lago_url", "https://api.getlago.com/api/v1", "made for Lago at")):
        other = tmp_path / f"{field}.json"
        other.write_text(json.dumps({**doc, field: value}))
        with pytest.raises(StalePlanError, match=message) as info:
            lago.apply(plan_file=other)
        assert info.value.exit_code == 3
    lago.digest = "another-digest"
    with pytest.raises(StalePlanError, match="workspace files changed"):
        lago.apply(plan_file=path)


def test_saved_plan_applies_without_confirmation_when_fresh(applied, tmp_path):
    lago = applied
    lago.desired["plan"]["starter"]["name"] = "Starter plan"
    path = save_plan(lago, tmp_path)
    result = lago.apply(plan_file=path, auto_approve=False)
    assert result.ok and lago.get("/plans/starter")["plan"]["name"] == "Starter plan"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="not a lagosync plan"):
        lago.apply(plan_file=bad)


# ------------------------------------------------------------------ confirmation and flags


def test_without_terminal_and_without_auto_approve_it_refuses(lago):
    lago.desired = catalog(1)
    with pytest.raises(ApplyRefused, match="no terminal to ask for confirmation.*--auto-approve"):
        lago.apply(auto_approve=False)
    assert lago.list("/plans", "plans") == []


def test_interactive_confirmation_names_destructive_and_repricing_operations(applied):
    lago = applied
    lago.desired["plan"]["starter"]["amount_cents"] = 2500  # sub_org_0 is on starter
    lago.desired["coupon"]["credit"] = {"code": "credit", "ensure": "absent"}
    asked = []
    with pytest.raises(ApplyRefused, match="cancelled"):
        lago.apply(auto_approve=False, confirm=lambda text: asked.append(text) or False)
    assert "delete coupon 'credit'" in asked[0] and "re-prices 1 active subscription on 'starter'" in asked[0]
    assert lago.get("/plans/starter")["plan"]["amount_cents"] == 1900
    result = lago.apply(auto_approve=False, confirm=lambda text: True)
    assert result.ok and lago.get("/plans/starter")["plan"]["amount_cents"] == 2500


def test_repricing_needs_allow_reprice(applied):
    lago = applied
    lago.desired["plan"]["professional"]["charges"][0]["properties"]["graduated_ranges"][1]["per_unit_amount"] = "0.003"
    with pytest.raises(ApplyRefused, match=r"--allow-reprice: this plan re-prices existing subscribers:\n  - update plan 'professional': "
                                           r"re-prices 1 active subscription"):
        lago.apply()
    assert lago.plan().has_changes
    assert lago.apply(allow_reprice=True).ok


def test_terminating_a_subscription_needs_allow_destroy(applied):
    lago = applied
    lago.desired["subscription"]["sub_org_0"]["ensure"] = "absent"
    with pytest.raises(ApplyRefused, match=r"--allow-destroy: this plan destroys[^\n]*:\n  - delete subscription 'sub_org_0'"):
        lago.apply(allow_reprice=True)
    assert lago.get("/subscriptions/sub_org_0")["subscription"]["status"] == "active"


# ------------------------------------------------------------------ preflight and verification


def test_preflight_refuses_a_locked_metric_change_before_any_write(applied):
    lago = applied
    lago.desired["billable_metric"]["tokens"]["aggregation_type"] = "max_agg"  # used by plans (lago-behaviour#metric-locked-fields)
    lago.desired["tax"]["vat"]["name"] = "VAT 2"
    with pytest.raises(ApplyRefused, match="metric 'tokens': cannot change aggregation_type"):
        lago.apply()
    assert lago.get("/taxes/vat")["tax"]["name"] == "VAT"


def test_preflight_refuses_a_billing_time_change_on_an_existing_subscription(applied):
    lago = applied
    lago.desired["subscription"]["sub_org_0"]["billing_time"] = "anniversary"
    with pytest.raises(ApplyRefused, match="subscription 'sub_org_0': cannot change billing_time: Lago keeps the billing_time"):
        lago.apply()


def test_preflight_refuses_deleting_what_the_workspace_still_uses(applied):
    lago = applied
    lago.desired["billable_metric"]["storage"] = {"code": "storage", "ensure": "absent"}
    with pytest.raises(ApplyRefused, match="plan 'enterprise' refers to metric 'storage', which this plan deletes"):
        lago.apply(allow_destroy=True)


def test_a_field_lago_silently_ignores_is_reported_as_an_error(applied, tmp_path):
    """A locked plan field sent anyway (a stale planner view): Lago answers 200 and keeps the old value."""
    from lagosync.live import read_live

    lago = applied
    ws = lago.workspace()

    async def go():
        async with lago.client() as c:
            live = await read_live(c, ws)
            after = dict(live.state["plan"]["professional"], interval="yearly", bill_charges_monthly=False)
            op = Operation("update", "plan", "professional", ("changed",), (), live.state["plan"]["professional"], after)
            audit = AuditLog(tmp_path / "audit.jsonl", "local")
            ctx = Context.from_live(c, audit, live, verify=verify_response, declared=ws.desired)
            return await run_all([op], ctx), audit

    outcomes, audit = asyncio.run(go())
    assert outcomes["plan:professional"].status == "failed"
    assert "did not apply: interval (sent 'yearly', Lago has 'monthly')" in outcomes["plan:professional"].message
    assert [r["outcome"] for r in audit.records] == ["ok", "ignored"]


def test_partial_failure_skips_dependants_and_exits_1_then_apply_finishes(lago):
    from lagosync.applier import ApplyFailed
    from lagosync.emulator import Faults

    lago.desired = catalog(2)
    # every POST /plans is refused with a 500 (not retried by the client for a create)
    faults = Faults(script=["500"] * 20, match=lambda m, p: m == "POST" and p.endswith("/plans"))
    with pytest.raises(ApplyFailed) as info:
        lago.apply(faults)
    assert info.value.exit_code == 1
    text = "\n".join(lago.out)
    assert "failed:  plan:starter" in text and "skipped: subscription:sub_org_0: depends on plan:starter" in text
    assert "done" in text and "Lago does not match the workspace after apply" in text
    assert [c["external_id"] for c in lago.list("/customers", "customers")]  # independent ops went on
    assert lago.apply().ok and not lago.plan().has_changes


# ------------------------------------------------------------------ lock and audit


def test_a_held_lock_refuses_a_second_apply(lago):
    lago.desired = catalog(1)
    lock = ApplyLock(lago.root, "local")
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    lock.path.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": 0}))
    with pytest.raises(LockHeld, match="another apply is running"):
        lago.apply()
    lock.path.unlink()
    assert lago.apply().ok
    assert not lock.path.exists()


def test_audit_log_one_line_per_write_and_json_on_stdout(lago):
    lago.desired = catalog(2)
    result = lago.apply(log_format="json")
    audit_file = (lago.root / ".lagosync" / "audit.jsonl").read_text().splitlines()
    writes = len(result.outcomes)
    assert len(audit_file) == writes == len(lago.out)  # stdout holds only the JSON lines
    records = [json.loads(line) for line in lago.out]
    assert {r["outcome"] for r in records} == {"ok"} and {r["environment"] for r in records} == {"local"}
    assert {(r["method"], r["path"]) for r in records} >= {("POST", "/plans"), ("POST", "/customers")}
    assert any("Apply summary" in line for line in lago.err)
    everything = "\n".join(audit_file + lago.out + lago.err)
    assert KEY not in everything


def test_unmanaged_objects_are_never_pruned(applied):
    lago = applied
    write(lago, "POST", "/customers", {"customer": {"external_id": "by_hand", "name": "Made in the UI"}})
    del lago.desired["subscription"]["sub_org_2"]
    del lago.desired["customer"]["org_2"]
    assert lago.apply(prune=True, allow_destroy=True).ok
    ids = {c["external_id"] for c in lago.list("/customers", "customers")}
    assert "by_hand" in ids and "org_2" not in ids


def test_saved_plan_with_destructive_or_repricing_operations_needs_the_flags(applied, tmp_path):
    """A reviewed saved plan skips the prompt, but never the --allow-destroy / --allow-reprice gates."""
    lago = applied
    lago.desired["billable_metric"]["spend"] = {"code": "spend", "ensure": "absent"}   # metric delete
    for code in ("professional", "enterprise"):
        lago.desired["plan"][code]["charges"] = [c for c in lago.desired["plan"][code]["charges"]
                                                 if c["billable_metric_code"] != "spend"]
    path = save_plan(lago, tmp_path)
    ops = {op.id: op for op in lago.plan().operations}
    assert ops["billable_metric:spend"].destructive and ops["plan:professional"].reprices

    with pytest.raises(ApplyRefused, match=r"--allow-destroy: this plan destroys[^\n]*:\n(  - [^\n]*\n)*  - delete metric 'spend'") as info:
        lago.apply(plan_file=path, auto_approve=False, allow_reprice=True)
    assert info.value.exit_code == 1
    with pytest.raises(ApplyRefused, match=r"--allow-reprice: this plan re-prices existing subscribers:\n(  - [^\n]*\n)*  - [^\n]*professional"):
        lago.apply(plan_file=path, auto_approve=False, allow_destroy=True)
    assert "spend" in [m["code"] for m in lago.list("/billable_metrics", "billable_metrics")]  # nothing written

    asked = []  # on a terminal, the question names them instead; anything but "yes" writes nothing
    with pytest.raises(ApplyRefused, match="cancelled"):
        lago.apply(plan_file=path, auto_approve=False, confirm=lambda text: asked.append(text) or False)
    assert "delete metric 'spend'" in asked[0] and "--allow-reprice" in asked[0]
    assert "spend" in [m["code"] for m in lago.list("/billable_metrics", "billable_metrics")]

    result = lago.apply(plan_file=path, auto_approve=False, allow_destroy=True, allow_reprice=True)
    assert result.ok and "spend" not in [m["code"] for m in lago.list("/billable_metrics", "billable_metrics")]
