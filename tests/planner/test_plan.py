"""Ordering, depends_on, purity, fingerprints, staleness and the JSON document of a plan."""

from __future__ import annotations

import copy
import json

import pytest

from lagosync import model
from lagosync.planner import Change, Operation, Plan, make_plan, stale_objects
from lagosync.planner.diff import diff, same

T0 = "2025-01-01T00:00:00+00:00"


def empty_live(b):
    return b.live({k: {} for k in b.RAW})


def test_full_creation_is_in_dependency_order_with_depends_on(builders):
    plan = make_plan(builders.full_state(), empty_live(builders), created_at=T0)
    ids = [op.id for op in plan.operations]
    assert ids == [
        "tax:vat", "billable_metric:api_calls", "billable_metric:storage", "add_on:setup",
        "plan:basic", "plan:pro", "coupon:welcome", "customer:acme", "subscription:sub_acme",
    ]
    deps = {op.id: op.depends_on for op in plan.operations}
    assert deps["plan:pro"] == ("billable_metric:api_calls", "billable_metric:storage", "tax:vat")
    assert deps["subscription:sub_acme"] == ("customer:acme", "plan:pro")
    assert deps["tax:vat"] == ()
    assert plan.counts["create"] == 9 and plan.unchanged == 0
    # every dependency comes earlier in the plan
    for i, op in enumerate(plan.operations):
        assert all(d in ids[:i] for d in op.depends_on)


def test_deletes_come_last_in_reverse_order_and_wait_for_their_users(builders):
    desired = {kind: {key: {"ensure": "absent"} for key in objs} for kind, objs in builders.RAW.items()}
    desired["tax"]["gst"] = model.from_yaml("tax", {"code": "gst", "name": "GST", "rate": "5"})
    plan = make_plan(desired, builders.live(builders.full_state()), created_at=T0)
    ids = [op.id for op in plan.operations]
    assert ids[0] == "tax:gst"  # creates first
    assert ids[1:] == [
        "subscription:sub_acme", "customer:acme", "coupon:welcome", "plan:basic", "plan:pro",
        "add_on:setup", "billable_metric:api_calls", "billable_metric:storage", "tax:vat",
    ]
    deps = {op.id: op.depends_on for op in plan.operations}
    # a delete waits for the objects that referred to it and for the deletes of the kinds after its own
    # (the planner derives this order once; the applier trusts depends_on)
    assert deps["plan:pro"] == ("coupon:welcome", "customer:acme", "subscription:sub_acme")
    assert deps["billable_metric:storage"] == (
        "add_on:setup", "coupon:welcome", "customer:acme", "plan:basic", "plan:pro", "subscription:sub_acme")
    assert deps["tax:vat"] == (
        "add_on:setup", "billable_metric:api_calls", "billable_metric:storage", "coupon:welcome", "customer:acme",
        "plan:basic", "plan:pro", "subscription:sub_acme")
    assert deps["subscription:sub_acme"] == ()
    for i, op in enumerate(plan.operations):
        assert all(d in ids[:i] for d in op.depends_on)


def test_make_plan_does_not_mutate_its_inputs(builders):
    desired = builders.full_state()
    desired["plan"]["pro"] = builders.canon("plan", "pro", amount_cents=1)
    desired["tax"]["vat"] = {"ensure": "absent"}
    live = builders.live(builders.full_state(), plan_active_subscriptions={"pro": 2}, managed={"plan": {"pro"}})
    d0, s0, f0 = copy.deepcopy(desired), copy.deepcopy(live.state), copy.deepcopy(live.facts)
    plan = make_plan(desired, live, prune=True, created_at=T0)
    assert desired == d0 and live.state == s0 and live.facts == f0
    # operations hold copies: changing them does not touch the inputs
    plan.operations[0].after["name"] = "mutated"
    assert desired == d0 and live.state == s0


def test_fingerprints_cover_every_live_object_read(builders):
    live = builders.live(builders.full_state())
    plan = make_plan(builders.full_state(), live, created_at=T0)
    assert not plan.has_changes and plan.unchanged == 9
    expected = {f"{k}:{key}": model.fingerprint(obj) for k, objs in live.state.items() for key, obj in objs.items()}
    assert plan.fingerprints == expected


def test_desired_digests_are_taken_only_for_a_live_object_that_is_the_desired_one(builders):
    """``desired_digests`` (computed where the workspace loaded) stand for the live objects that are
    the desired ones (read_live's share); an equal copy, or another object, is fingerprinted itself."""
    from lagosync.planner.stale import digests_of

    desired = builders.full_state()
    live = builders.live(builders.full_state())
    live.state["customer"]["acme"] = desired["customer"]["acme"]  # shared: in sync
    digests = digests_of(desired)
    assert "applied_coupon" not in digests  # its fingerprint holds Lago's own fields too
    assert digests["customer"]["acme"] == model.fingerprint_digest(desired["customer"]["acme"])
    plan = make_plan(desired, live, created_at=T0, desired_digests=digests)
    assert plan.fingerprints == make_plan(desired, live, created_at=T0).fingerprints
    # taken, not recomputed: a (wrong) digest shows where it is used
    odd = {kind: {key: b"\0" * 32 for key in objs} for kind, objs in digests.items()}
    prints = make_plan(desired, live, created_at=T0, desired_digests=odd).fingerprints
    assert prints["customer:acme"] == "00" * 32
    assert [key for key, value in prints.items() if value == "00" * 32] == ["customer:acme"]


def test_fingerprints_are_held_by_kind_as_digests_and_written_as_hex(builders):
    from lagosync.planner.ops import Fingerprints

    live = builders.live(builders.full_state())
    prints = make_plan(builders.full_state(), live, created_at=T0).fingerprints
    assert isinstance(prints, Fingerprints)
    customer = live.state["customer"]["acme"]
    assert prints["customer:acme"] == model.fingerprint(customer) == model.fingerprint_digest(customer).hex()
    assert "customer:nobody" not in prints and prints.get("nosuchkind:acme") is None
    written = json.loads(json.dumps(make_plan(builders.full_state(), live, created_at=T0).to_dict()))
    assert written["fingerprints"] == dict(prints) and len(written["fingerprints"]) == len(prints) == 9
    # read back from a plan document: the same prints; one that is not hex is kept as written
    assert Fingerprints.read(written["fingerprints"]) == prints
    odd = Fingerprints.read({"customer:acme": "not hex", "plan:pro": prints["plan:pro"], "tax:vat": None})
    assert odd["customer:acme"] == "not hex" and odd["plan:pro"] == prints["plan:pro"] and odd["tax:vat"] is None
    assert sorted(odd) == ["customer:acme", "plan:pro", "tax:vat"]


def test_stale_objects_detects_changed_deleted_and_created(builders):
    desired = builders.full_state()
    desired["tax"]["vat"] = builders.canon("tax", "vat", rate="21")
    desired["plan"]["pro"] = builders.canon("plan", "pro", name="Professional")
    live_state = builders.full_state()
    del live_state["add_on"]["setup"]
    plan = make_plan(desired, builders.live(live_state), created_at=T0)
    assert stale_objects(plan, builders.live(copy.deepcopy(live_state))) == []
    later = copy.deepcopy(live_state)
    later["tax"]["vat"] = builders.canon("tax", "vat", rate="19")
    del later["plan"]["pro"]
    later["add_on"]["setup"] = builders.canon("add_on", "setup")
    assert stale_objects(plan, builders.live(later)) == [
        "tax:vat was changed in Lago since the plan was made",
        "add_on:setup now exists in Lago (the plan would create it)",
        "plan:pro was deleted in Lago since the plan was made",
    ]


def test_json_round_trip_is_exact_and_ignores_unknown_keys(builders):
    desired = builders.full_state()
    desired["plan"]["pro"] = builders.canon("plan", "pro", interval="yearly")
    desired["billable_metric"]["storage"] = {"ensure": "absent"}
    live_state = builders.full_state()
    live_state["plan"]["old"] = builders.canon("plan", "basic", code="old")
    live = builders.live(live_state, plan_has_had_subscriptions={"pro"}, plan_active_subscriptions={"pro": 1})
    plan = make_plan(desired, live, environment="staging", lago_url="https://lago.test", workspace_digest="d1",
                     created_at=T0)
    text = plan.to_json()
    assert Plan.from_json(text) == plan
    doc = json.loads(text)
    assert doc["format_version"] == 2
    assert doc["summary"]["replace"] == 1 and doc["summary"]["delete"] == 1
    assert doc["unmanaged"] == [{"kind": "plan", "key": "old"}]
    op = doc["operations"][0]
    assert set(op) >= {"id", "action", "kind", "key", "reasons", "changes", "details", "depends_on", "description"}
    doc["some_future_key"] = {"x": 1}
    doc["operations"][0]["future_field"] = 3
    assert Plan.from_dict(doc) == plan
    doc["format_version"] = 3
    with pytest.raises(ValueError, match="format_version 3 was written by a newer lagosync"):
        Plan.from_dict(doc)
    doc["format_version"] = 1  # a plan saved before operations were typed (actions, blocks, versions)
    with pytest.raises(ValueError, match="format_version 1 was written by an older lagosync.*plan --out"):
        Plan.from_dict(doc)


def test_differ_paths_and_type_strictness():
    assert same(True, True) and not same(True, 1) and not same(0, False) and same(1, 1.0)
    assert diff({"a": {"b": 1}}, {"a": {"b": 2}}) == [Change("a.b", 1, 2)]
    ranges_old = {"r": [{"from": 0, "amount": "1"}, {"from": 10, "amount": "2"}]}
    ranges_new = {"r": [{"from": 0, "amount": "1"}, {"from": 10, "amount": "3"}]}
    assert diff(ranges_old, ranges_new) == [Change("r[1].amount", "2", "3")]
    assert diff({"t": ["a"]}, {"t": ["a", "b"]}) == [Change("t", ["a"], ["a", "b"])]
    assert diff({"x": True}, {"x": 1}) == [Change("x", True, 1)]


def test_describe_states_the_blast_radius():
    op = Operation("update", "plan", "professional", ("changed", "reprices_subscribers"),
                   details={"active_subscriptions": 37})
    assert op.describe() == "update plan 'professional': re-prices 37 active subscriptions on 'professional'"
    op = Operation("delete", "plan", "legacy", ("removed", "terminates_subscriptions"),
                   details={"active_subscriptions": 3})
    assert op.impacts() == ["terminates 3 active subscriptions (deletes plan 'legacy')"]
    op = Operation("delete", "billable_metric", "x", ("removed", "destroys_events"), details={})
    assert op.impacts() == ["deletes metric 'x' and its events"]
