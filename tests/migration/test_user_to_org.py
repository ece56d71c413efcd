"""The user-to-org migration end to end on the emulator: two users into one org, planned, applied,
interrupted after k writes (emulator crash fault) and re-applied without duplicates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lagosync.applier import apply
from lagosync.client import LagoClient
from lagosync.emulator import Emulator, EmulatorCrash, EmulatorTransport, Faults
from lagosync.planner.moves import format_record, parse_record
from lagosync.workflow import plan_workspace

KEY = "mig-key"

CATALOG = """\
billable_metrics:
  - code: seats
    name: Seats
    aggregation_type: count_agg
plans:
  - code: pro
    name: Pro
    interval: monthly
    amount_cents: 4900
    amount_currency: EUR
    charges:
      - billable_metric_code: seats
        charge_model: standard
        properties: {amount: "1.50"}
"""

ORGS = """\
orgs:
  - external_id: org_acme
    name: Acme
    currency: EUR
    migrate_from: [usr_1, usr_2]
    subscriptions:
      - plan_code: pro
        name: Acme Pro
"""


async def _no_sleep(_s: float) -> None:
    return None


class World:
    def __init__(self, root: Path):
        self.root = root
        self.emulator = Emulator(":memory:", KEY)
        (root / "plans").mkdir()
        (root / "lagosync.yaml").write_text(
            "default_environment: local\nenvironments:\n  local: {}\norg_id_prefix: org_\nuser_id_prefix: usr_\n")
        (root / "plans" / "catalog.yaml").write_text(CATALOG)

    def client(self, faults=None) -> LagoClient:
        return LagoClient("http://lago.local", KEY, environment="local", sleep=_no_sleep, max_retries=6,
                          transport=EmulatorTransport(self.emulator, faults))

    def factory(self, faults=None):
        return lambda ws, env: self.client(faults)

    def call(self, method, path, **kw):
        async def go():
            async with self.client() as c:
                return await c.request(method, path, **kw)
        return asyncio.run(go())

    def subs(self, customer: str, statuses=("active", "pending", "terminated", "canceled")) -> list[dict]:
        async def go():
            async with self.client() as c:
                return await c.list_all("/subscriptions", "subscriptions",
                                        [("external_customer_id", customer), *(("status[]", s) for s in statuses)])
        return asyncio.run(go())

    def apply(self, faults=None, allow_destroy=True, **kw):
        return apply(self.root, None, auto_approve=True, client_factory=self.factory(faults),
                     allow_destroy=allow_destroy, out=lambda s: None, err=lambda s: None, **kw)

    def plan(self):
        return asyncio.run(plan_workspace(self.root, client_factory=self.factory()))


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.apply()  # the catalog, through lagosync
    for user in ("usr_1", "usr_2"):
        w.call("POST", "/customers", json={"customer": {"external_id": user, "name": user, "currency": "EUR"}})
        w.call("POST", "/subscriptions", json={"subscription": {
            "external_customer_id": user, "plan_code": "pro", "external_id": f"sub_{user}", "name": "Pro"}})
    (tmp_path / "orgs.yaml").write_text(ORGS)
    return w


def _assert_migrated(w: World) -> None:
    org_subs = w.subs("org_acme")
    assert [(s["external_id"], s["status"], s["plan_code"]) for s in org_subs] == [("sub_org_acme", "active", "pro")]
    for user in ("usr_1", "usr_2"):
        rows = w.subs(user)
        assert [(s["external_id"], s["status"]) for s in rows] == [(f"sub_{user}", "terminated")]
    org = w.call("GET", "/customers/org_acme")["customer"]
    meta = {m["key"]: m["value"] for m in org["metadata"]}
    ids, date = parse_record(meta["migrated_from"])
    assert ids == ["usr_1", "usr_2"] and date
    assert meta["managed_by"] == "lagosync"
    assert len(org["metadata"]) == 2  # no duplicate entries


def test_plan_shows_the_move_with_termination_options(world):
    plan = world.plan()
    moves = [op for op in plan.operations if "customer_move" in op.reasons]
    assert [op.id for op in moves] == ["subscription:sub_usr_1", "subscription:sub_usr_2"]
    assert all(op.action == "move" for op in moves)
    d = moves[0].move
    assert d.from_customer == "usr_1" and d.to_customer == "org_acme"
    assert d.to_subscription == "sub_org_acme" and d.plan_code == "pro"
    assert d.on_termination_invoice == "generate" and d.on_termination_credit_note == "credit"
    text = moves[0].describe()
    assert "terminates subscription 'sub_usr_1'" in text and "on_termination_credit_note=credit" in text
    assert "starts subscription 'sub_org_acme' for 'org_acme' on plan 'pro'" in text
    others = {op.id: op.action for op in plan.operations if op not in moves}
    assert others == {"customer:org_acme": "create", "subscription:sub_org_acme": "create"}
    # the users' subscriptions are being moved, not "unmanaged"
    assert ("subscription", "sub_usr_1") not in plan.unmanaged


def test_apply_moves_both_users_and_converges(world):
    result = world.apply()
    assert result.ok, result.outcomes
    _assert_migrated(world)
    assert world.plan().operations == ()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_interrupted_apply_is_finished_by_the_next_one_without_duplicates(world, k):
    with pytest.raises(EmulatorCrash):
        world.apply(Faults(seed=1, crash_after_writes=k))
    again = world.apply()
    assert again.ok, again.outcomes
    _assert_migrated(world)
    assert world.plan().operations == ()


def test_org_without_a_subscription_on_the_plan_is_blocked(world):
    (world.root / "orgs.yaml").write_text(ORGS.replace("      - plan_code: pro\n        name: Acme Pro\n", "")
                                          .replace("    subscriptions:\n", ""))
    plan = world.plan()
    blocked = [op for op in plan.operations if op.blocked]
    assert [op.id for op in blocked] == ["subscription:sub_usr_1", "subscription:sub_usr_2"]
    assert "declare a subscription for org 'org_acme'" in blocked[0].block.hint


def test_same_external_id_keeps_the_users_subscription_id(world):
    (world.root / "orgs.yaml").write_text(
        "orgs:\n  - external_id: org_acme\n    name: Acme\n    currency: EUR\n    migrate_from: [usr_1]\n"
        "    subscriptions:\n      - external_id: sub_usr_1\n        plan_code: pro\n")
    plan = world.plan()
    assert [op.id for op in plan.operations if "customer_move" in op.reasons] == ["subscription:sub_usr_1"]
    assert world.apply().ok
    rows = world.subs("org_acme")
    assert [(s["external_id"], s["status"]) for s in rows] == [("sub_usr_1", "active")]
    assert [s["status"] for s in world.subs("usr_1")] == ["terminated"]
    assert world.plan().operations == ()


def test_record_format():
    assert parse_record(format_record(["usr_2", "usr_1"], "2026-08-01")) == (["usr_1", "usr_2"], "2026-08-01")
    long = format_record([f"usr_{i:03d}" for i in range(30)], "2026-08-01")
    assert len(long) <= 100 and "+" in long


def test_moves_terminate_user_subscriptions_so_they_need_allow_destroy(world):
    from lagosync.applier import ApplyRefused

    with pytest.raises(ApplyRefused) as exc:
        world.apply(allow_destroy=False)
    msg = str(exc.value)
    assert "--allow-destroy" in msg
    assert "move subscription 'sub_usr_1' of user 'usr_1' to org 'org_acme'" in msg
    assert "sub_usr_2" in msg
    # nothing was written: the users keep their active subscriptions, the org does not exist
    assert [s["status"] for s in world.subs("usr_1")] == ["active"]
    assert world.subs("org_acme") == []


def test_interactive_confirmation_names_the_moves(world):
    asked: list[str] = []

    def confirm(text: str) -> bool:
        asked.append(text)
        return False

    from lagosync.applier import ApplyRefused

    with pytest.raises(ApplyRefused, match="cancelled"):
        apply(world.root, None, confirm=confirm, client_factory=world.factory(),
              out=lambda s: None, err=lambda s: None)
    assert len(asked) == 1
    assert "--allow-destroy: this plan destroys (deletes, terminations):\n" in asked[0] and "terminates subscription 'sub_usr_1' of 'usr_1' now" in asked[0]
    assert [s["status"] for s in world.subs("usr_1")] == ["active"]


def test_record_only_move_needs_no_allow_destroy(world):
    # the users' subscriptions were already terminated by hand: only the record is left to write
    for user in ("usr_1", "usr_2"):
        world.call("DELETE", f"/subscriptions/sub_{user}")
    moves = [op for op in world.plan().operations if "customer_move" in op.reasons]
    assert [(op.id, op.move.record_only) for op in moves] == [
        ("customer:usr_1", True), ("customer:usr_2", True)]
    result = world.apply(allow_destroy=False)
    assert result.ok, result.outcomes
    org = world.call("GET", "/customers/org_acme")["customer"]
    assert parse_record({m["key"]: m["value"] for m in org["metadata"]}["migrated_from"])[0] == ["usr_1", "usr_2"]
    assert world.plan().operations == ()


def test_rendered_plan_names_each_move_not_a_plan_change(world):
    from lagosync.render import render

    plan = world.plan()
    for fmt in ("text", "markdown"):
        out = render(plan, fmt)
        assert "move subscription 'sub_usr_1' of user 'usr_1' to org 'org_acme'" in out, fmt
        assert "plan 'None'" not in out, fmt
    for user in ("usr_1", "usr_2"):  # the users' subscriptions terminated by hand: record-only moves
        world.call("DELETE", f"/subscriptions/sub_{user}")
    text = render(world.plan(), "text")
    assert "record the move of customer 'usr_1' into org 'org_acme'" in text and "plan 'None'" not in text


def test_drift_lists_users_until_moved_then_is_clean(world):
    import json

    from lagosync.drift import run_drift

    def drift():
        text, code = run_drift(world.root, None, "json", client_factory=world.factory())
        return json.loads(text), code

    report, code = drift()
    assert code == 2
    assert [(u["external_id"], u["migrating_to"], [s["external_id"] for s in u["subscriptions"]])
            for u in report["user_customers"]] == [("usr_1", "org_acme", ["sub_usr_1"]),
                                                   ("usr_2", "org_acme", ["sub_usr_2"])]
    # named by migrate_from: a user customer is not also "unmanaged"
    assert not [u for u in report["unmanaged"] if u["kind"] == "customer"]
    assert world.apply().ok
    report, code = drift()
    assert code == 0, report
    assert report["user_customers"] == [] and report["unmanaged"] == []
    # the moved users (still in Lago, no active subscription) count as covered by the workspace
    assert report["coverage"]["by_kind"]["customer"] == {"declared": 3, "live": 3}
