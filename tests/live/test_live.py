"""read_live against the emulator: canonical state, raw objects, facts, plan versions, request budget."""

from __future__ import annotations

import math

import pytest
from live_helpers import read, workspace

from lagosync.model import canonical_state

MARKER = {"managed_by": "lagosync"}

TAX = {"code": "vat", "name": "VAT", "rate": "20"}
API_CALL = {"code": "api_call", "name": "API calls", "aggregation_type": "count_agg",
            "filters": [{"key": "endpoint", "values": ["/v1", "/embed"]}]}
TOKENS = {"code": "tokens", "name": "Tokens", "aggregation_type": "sum_agg", "field_name": "tokens"}


def plan_yaml(code: str, amount: int, **extra) -> dict:
    return {
        "code": code, "name": code.title(), "interval": "monthly", "amount_cents": amount,
        "amount_currency": "USD", "pay_in_advance": True, "tax_codes": ["vat"],
        "charges": [
            {"billable_metric_code": "api_call", "charge_model": "standard",
             "properties": {"amount": "0.0010"},
             "filters": [{"values": {"endpoint": ["/embed"]}, "properties": {"amount": "0.0005"}}]},
            {"billable_metric_code": "tokens", "charge_model": "graduated",
             "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
                 {"from_value": 1000, "to_value": None, "per_unit_amount": "0.0002", "flat_amount": "0"}]}},
        ],
        **extra,
    }


def plan_body(plan: dict, metric_ids: dict[str, str], metadata: dict | None = None) -> dict:
    body = {k: v for k, v in plan.items() if k != "charges"}
    body["charges"] = [
        {**{k: v for k, v in c.items() if k != "billable_metric_code"},
         "billable_metric_id": metric_ids[c["billable_metric_code"]]}
        for c in plan["charges"]
    ]
    if metadata is not None:
        body["metadata"] = metadata
    return {"plan": body}


def seed_catalog(seed, plans: list[tuple[dict, dict | None]]) -> dict[str, str]:
    results = seed(
        ("POST", "/taxes", {"tax": TAX}),
        ("POST", "/billable_metrics", {"billable_metric": API_CALL}),
        ("POST", "/billable_metrics", {"billable_metric": TOKENS}),
    )
    ids = {"api_call": results[1]["billable_metric"]["lago_id"], "tokens": results[2]["billable_metric"]["lago_id"]}
    seed(*(("POST", "/plans", plan_body(p, ids, md)) for p, md in plans))
    return ids


def customer(ext: str, **extra) -> dict:
    return {"external_id": ext, "name": f"Org {ext}", "currency": "USD",
            "metadata": [{"key": "managed_by", "value": "lagosync", "display_in_invoice": False},
                         {"key": "billing_type", "value": "organization", "display_in_invoice": False}],
            **extra}


def org_yaml(ext: str) -> dict:
    return {"external_id": ext, "name": f"Org {ext}", "currency": "USD",
            "metadata": {"billing_type": "organization"}}


def sub(ext_customer: str, plan: str, ext_id: str | None = None) -> tuple[str, str, dict]:
    return ("POST", "/subscriptions", {"subscription": {
        "external_customer_id": ext_customer, "plan_code": plan, "external_id": ext_id or f"sub_{ext_customer}",
        "name": "", "billing_time": "calendar"}})


# --------------------------------------------------------------------------- state and facts


def test_live_state_matches_the_desired_state_it_was_created_from(emulator, seed):
    pro = plan_yaml("professional", 4900)
    starter = plan_yaml("starter", 1900)
    seed_catalog(seed, [(pro, MARKER), (starter, MARKER)])
    seed(("POST", "/customers", {"customer": customer("org_1")}),
         ("POST", "/customers", {"customer": customer("org_2")}),
         sub("org_1", "professional"), sub("org_2", "starter"))
    desired = {
        "tax": {"vat": TAX}, "billable_metric": {"api_call": API_CALL, "tokens": TOKENS},
        "plan": {"professional": pro, "starter": starter},
        "customer": {"org_1": org_yaml("org_1"), "org_2": org_yaml("org_2")},
        "subscription": {
            "sub_org_1": {"external_id": "sub_org_1", "external_customer_id": "org_1",
                          "plan_code": "professional"},
            "sub_org_2": {"external_id": "sub_org_2", "external_customer_id": "org_2", "plan_code": "starter"},
        },
    }
    live, _ = read(emulator, workspace(**desired))

    assert live.state == canonical_state(desired)  # no perpetual diff on any kind
    facts = live.facts
    assert facts.plan_active_subscriptions == {"professional": 1, "starter": 1}
    assert facts.plan_has_had_subscriptions == {"professional", "starter"}
    assert facts.metrics_in_use == {"api_call", "tokens"}
    assert facts.managed["plan"] == {"professional", "starter"}
    assert facts.managed["customer"] == {"org_1", "org_2"}
    assert facts.managed["subscription"] == {"sub_org_1", "sub_org_2"}
    assert facts.plan_versions == {"professional": "professional", "starter": "starter"}
    assert facts.pending_downgrades == {}
    # raw objects keep the lago_ids the applier needs
    assert {c["code"]: bool(c["lago_id"]) for c in live.raw["plan"]["professional"]["charges"]} == {
        "api_call": True, "tokens": True}
    assert {m["key"] for m in live.raw["customer"]["org_1"]["metadata"]} == {"managed_by", "billing_type"}
    assert live.raw["subscription"]["sub_org_1"]["status"] == "active"


def test_unmanaged_objects_are_listed_under_their_live_key(emulator, seed):
    legacy = plan_yaml("legacy", 900)
    seed_catalog(seed, [(legacy, None)])
    seed(("POST", "/customers", {"customer": {"external_id": "hand_made", "name": "By hand"}}))
    live, _ = read(emulator, workspace())
    assert live.state["plan"]["legacy"]["amount_cents"] == 900
    assert live.state["customer"]["hand_made"]["name"] == "By hand"
    assert live.state["tax"]["vat"]["rate"] == "20"
    assert live.facts.managed["plan"] == set()  # no marker: never pruned
    assert live.facts.plan_has_had_subscriptions == set()


def test_terminated_subscription_still_locks_its_plan(emulator, seed):
    seed_catalog(seed, [(plan_yaml("starter", 1900), MARKER)])
    seed(("POST", "/customers", {"customer": customer("org_1")}), sub("org_1", "starter"))
    seed(("DELETE", "/subscriptions/sub_org_1", None))
    live, _ = read(emulator, workspace(plan={"starter": plan_yaml("starter", 1900)}))
    assert live.facts.plan_has_had_subscriptions == {"starter"}  # lago-behaviour#plan-locked-fields: any status
    assert live.facts.plan_active_subscriptions == {}
    assert "sub_org_1" not in live.state["subscription"]


def test_scheduled_downgrade_is_a_fact_not_the_state(emulator, seed):
    seed_catalog(seed, [(plan_yaml("professional", 4900), MARKER), (plan_yaml("starter", 1900), MARKER)])
    seed(("POST", "/customers", {"customer": customer("org_1")}), sub("org_1", "professional"))
    seed(sub("org_1", "starter"))  # cheaper: scheduled at period end (lago-behaviour#pending-downgrade)
    live, _ = read(emulator, workspace())
    assert live.state["subscription"]["sub_org_1"]["plan_code"] == "professional"
    assert live.facts.pending_downgrades == {"sub_org_1": "starter"}
    assert live.facts.plan_active_subscriptions == {"professional": 1}
    assert live.facts.plan_has_had_subscriptions == {"professional", "starter"}  # the pending row counts


def test_coupons_applied(emulator, seed):
    seed(("POST", "/coupons", {"coupon": {"code": "launch", "name": "Launch", "coupon_type": "percentage",
                                          "percentage_rate": "10", "frequency": "once", "expiration": "no_expiration"}}),
         ("POST", "/coupons", {"coupon": {"code": "unused", "name": "Unused", "coupon_type": "percentage",
                                          "percentage_rate": "5", "frequency": "once", "expiration": "no_expiration"}}),
         ("POST", "/customers", {"customer": customer("org_1")}),
         ("POST", "/applied_coupons", {"applied_coupon": {"external_customer_id": "org_1",
                                                          "coupon_code": "launch"}}))
    desired_coupons = {"launch": {}, "unused": {}}
    live, _ = read(emulator, workspace(coupon=desired_coupons))
    assert live.facts.coupons_applied == {"launch"}
    assert live.state["coupon"]["launch"]["percentage_rate"] == "10"
    # without declared coupons the applied-coupon list is not read at all
    live, _ = read(emulator, workspace())
    assert live.facts.coupons_applied == set()


# --------------------------------------------------------------------------- plan versions


def test_plan_versions_map_back_to_the_declared_code(emulator, seed):
    v1 = plan_yaml("pro", 4900, trial_period=0)
    v2 = plan_yaml("pro__v2", 4900, trial_period=14)
    seed_catalog(seed, [
        (v1, {**MARKER, "lagosync_superseded_by": "pro__v2"}),
        (v2, {**MARKER, "lagosync_code": "pro", "lagosync_version": "2", "tier": "top"}),
    ])
    seed(("POST", "/customers", {"customer": customer("org_1")}),
         ("POST", "/customers", {"customer": customer("org_2")}),
         sub("org_1", "pro__v2"),
         sub("org_2", "pro"))  # left on v1 by an interrupted apply
    live, _ = read(emulator, workspace(plan={"pro": plan_yaml("pro", 4900, trial_period=14)}))

    assert set(live.state["plan"]) == {"pro"}  # the superseded version is history, not state
    plan = live.state["plan"]["pro"]
    assert plan["code"] == "pro" and plan["trial_period"] == "14"
    assert plan["metadata"] == {"tier": "top"}  # markers removed
    assert live.facts.plan_versions == {"pro": "pro__v2"}
    assert live.raw["plan"]["pro"]["code"] == "pro__v2"
    assert live.state["subscription"]["sub_org_1"]["plan_code"] == "pro"
    # still on the old version: differs from the YAML so the next apply finishes the migration
    assert live.state["subscription"]["sub_org_2"]["plan_code"] == "pro__v1"
    # facts are about the current version
    assert live.facts.plan_active_subscriptions == {"pro": 1}
    assert live.facts.plan_has_had_subscriptions == {"pro"}
    assert live.facts.managed["plan"] == {"pro"}
    # the old version's yearly base amount, so moving off it is an upgrade or a downgrade (lago-behaviour#plan-yearly-amount)
    assert live.facts.superseded_yearly_amounts == {"pro__v1": 4900 * 12}


def test_plan_without_version_metadata_is_version_one(emulator, seed):
    seed_catalog(seed, [(plan_yaml("basic", 100), MARKER)])
    live, _ = read(emulator, workspace(plan={"basic": plan_yaml("basic", 100)}))
    assert live.facts.plan_versions == {"basic": "basic"}
    assert live.state["plan"]["basic"] == canonical_state({"plan": {"basic": plan_yaml("basic", 100)}})[
        "plan"]["basic"]


# --------------------------------------------------------------------------- request budget (issue 4)

N_ORGS = 1000


@pytest.fixture(scope="module")
def big_org():
    """An emulator with 1,000 managed orgs, each subscribed to `starter`, plus 3 plans."""
    from live_helpers import Emulator, Seeder

    emu = Emulator()
    seed = Seeder(emu)
    seed_catalog(seed, [(plan_yaml("starter", 1900), MARKER), (plan_yaml("professional", 4900), MARKER),
                        (plan_yaml("enterprise", 9900), MARKER)])
    seed.many([("POST", "/customers", {"customer": customer(f"org_{i:04d}")}) for i in range(N_ORGS)])
    seed.many([sub(f"org_{i:04d}", "starter") for i in range(N_ORGS)])
    yield emu
    emu.close()


def big_workspace(n: int):
    orgs = {f"org_{i:04d}": org_yaml(f"org_{i:04d}") for i in range(n)}
    subs = {f"sub_{k}": {"external_id": f"sub_{k}", "external_customer_id": k, "plan_code": "starter"}
            for k in orgs}
    plans = {c: plan_yaml(c, a) for c, a in (("starter", 1900), ("professional", 4900), ("enterprise", 9900))}
    return {"tax": {"vat": TAX}, "billable_metric": {"api_call": API_CALL, "tokens": TOKENS},
            "plan": plans, "customer": orgs, "subscription": subs}


ORGANIZATION = 1  # GET /organizations first: the key's organization, checked against the pin


def test_request_count_grows_with_pages_not_objects(big_org):
    desired = big_workspace(N_ORGS)
    live, count = read(big_org, workspace(**desired))

    pages = math.ceil(N_ORGS / 100)  # customers; subscriptions have as many
    catalog_lists = 5  # taxes, metrics, add-ons, plans, coupons: one page each here
    probes = 2  # total counts of customers and subscriptions
    assert count <= ORGANIZATION + catalog_lists + probes + 2 * pages
    assert count < N_ORGS / 10
    assert len(live.state["customer"]) == N_ORGS
    assert len(live.state["subscription"]) == N_ORGS
    assert live.facts.plan_active_subscriptions == {"starter": N_ORGS}
    assert live.state == canonical_state(desired)


def test_few_declared_orgs_are_fetched_one_by_one(big_org):
    desired = big_workspace(2)
    live, count = read(big_org, workspace(**desired))
    plans = 3
    # the organization, 5 catalogue lists + 2 probes + per org (GET + its subscriptions) + 2 count probes per plan
    assert count == ORGANIZATION + 5 + 2 + 2 * 2 + 2 * plans
    assert set(live.state["customer"]) == set(desired["customer"])
    assert set(live.state["subscription"]) == set(desired["subscription"])
    assert live.state == canonical_state(desired)
    # facts still count every subscriber in Lago, not only the declared ones
    assert live.facts.plan_active_subscriptions == {"starter": N_ORGS}
    assert live.facts.plan_has_had_subscriptions == {"starter"}


def test_prune_lists_everything(big_org):
    desired = big_workspace(3)
    live, count = read(big_org, workspace(**desired), prune=True)
    assert len(live.state["customer"]) == N_ORGS  # the managed orgs absent from the YAML are seen
    assert len(live.facts.managed["customer"]) == N_ORGS
    assert count <= ORGANIZATION + 5 + 2 + 2 * math.ceil(N_ORGS / 100)


def write_workspace(root, desired: dict) -> None:
    """Write ``desired`` as workspace files (lagosync.yaml, plans/catalog.yaml, orgs.yaml)."""
    import yaml

    (root / "plans").mkdir()
    (root / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    catalog = {"taxes": list(desired["tax"].values()),
               "billable_metrics": list(desired["billable_metric"].values()),
               "plans": list(desired["plan"].values())}
    (root / "plans" / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    orgs = []
    for org in desired["customer"].values():
        orgs.append({**{k: v for k, v in org.items() if k != "metadata"},
                     "metadata": [{"key": k, "value": v} for k, v in org["metadata"].items()],
                     "subscriptions": [{"plan_code": "starter"}]})
    (root / "orgs.yaml").write_text(yaml.safe_dump({"orgs": orgs}, sort_keys=False))


def test_request_count_with_the_real_workspace_loader(big_org, tmp_path):
    from lagosync.workspace import load_workspace

    write_workspace(tmp_path, big_workspace(N_ORGS))
    ws = load_workspace(tmp_path)
    assert len(ws.desired["customer"]) == N_ORGS and len(ws.desired["subscription"]) == N_ORGS
    live, count = read(big_org, ws)
    assert count <= ORGANIZATION + 5 + 2 + 2 * math.ceil(N_ORGS / 100)
    assert live.state == canonical_state(ws.desired)


def test_migrate_from_users_and_their_active_subscriptions(emulator, seed):
    """issue 6 facts: user customers named by migrate_from (or by user_id_prefix) and their subs."""
    from types import SimpleNamespace

    seed_catalog(seed, [(plan_yaml("starter", 1900), MARKER)])
    seed(("POST", "/customers", {"customer": {"external_id": "usr_1", "name": "Alice"}}),
         ("POST", "/customers", {"customer": {"external_id": "usr_2", "name": "Bob"}}),
         sub("usr_1", "starter", "sub_usr_1"))
    ws = workspace(customer={"org_1": {**org_yaml("org_1"), "migrate_from": ["usr_1", "usr_9"]}})
    ws.settings = SimpleNamespace(user_id_prefix="usr_")
    live, _ = read(emulator, ws)
    assert live.facts.migrate_from == {"usr_1": "org_1", "usr_9": "org_1"}
    assert set(live.facts.user_subscriptions) == {"usr_1", "usr_2"}  # usr_9 does not exist in Lago
    assert [s["external_id"] for s in live.facts.user_subscriptions["usr_1"]] == ["sub_usr_1"]
    assert live.facts.user_subscriptions["usr_2"] == []


def test_listed_customers_and_subscriptions_are_kept_sparse(big_org):
    # wide read: most of what a large read holds is one customer and one subscription per org, so
    # their null fields are not kept (obj.get answers None either way) and short strings are shared
    live, _ = read(big_org, workspace(**big_workspace(N_ORGS)))
    customers = list(live.raw["customer"].values())
    subscriptions = list(live.raw["subscription"].values())
    assert len(customers) == N_ORGS and len(subscriptions) == N_ORGS

    def nulls(value) -> int:
        if isinstance(value, dict):
            return sum(v is None or nulls(v) for v in value.values())
        if isinstance(value, list):
            return sum(nulls(v) for v in value)
        return 0
    assert sum(nulls(obj) for obj in customers + subscriptions) == 0
    assert customers[0].get("legal_name") is None and customers[0]["currency"] == "USD"
    assert customers[0]["currency"] is customers[-1]["currency"]  # one str for every org's "USD"
    assert subscriptions[0]["status"] is subscriptions[-1]["status"]
    assert subscriptions[0].get("ending_at") is None and subscriptions[0]["plan_code"] == "starter"
    assert {m["key"] for m in customers[0]["metadata"]} == {"managed_by", "billing_type"}
    assert all(m.get("lago_id") for m in customers[0]["metadata"])  # the ids the applier re-sends


def test_the_fields_the_sparse_read_drops_are_read_nowhere():
    # a field dropped from raw customers and subscriptions must stay unread: a module that named one
    # would get None for it; outside the emulator (which makes them), no module may name them
    import re
    from pathlib import Path

    from lagosync.live import _Sparse

    package = Path(__file__).resolve().parents[2] / "lagosync"
    named: dict[str, list[str]] = {}
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).as_posix()
        if rel.startswith("emulator/"):
            continue
        text = path.read_text()
        if rel == "live.py":  # its own list
            text = re.sub(r"NOT_READ = frozenset\(\{.*?\}\)", "", text, flags=re.S)
        for field in _Sparse.NOT_READ:
            if re.search(rf"[\"']{field}[\"']", text):
                named.setdefault(field, []).append(rel)
    assert named == {}
    assert {"lago_id", "metadata", "taxes", "plan_code", "next_plan_code", "status", "created_at",
            "current_billing_period_ending_at", "downgrade_plan_date"}.isdisjoint(_Sparse.NOT_READ)


def test_objects_in_sync_are_shared_with_the_desired_state(big_org):
    # read_and_plan passes the canonical desired state: a live customer or subscription equal to its
    # desired one is that very object (one copy held, not two), one that differs is Lago's own
    desired = big_workspace(N_ORGS)
    canonical = canonical_state(desired)
    changed = "org_0003"
    canonical["customer"][changed] = {**canonical["customer"][changed], "name": "Renamed in the YAML"}
    live, _ = read(big_org, workspace(**desired), share=canonical)
    customers, subscriptions = live.state["customer"], live.state["subscription"]
    assert all(customers[k] is canonical["customer"][k] for k in customers if k != changed)
    assert all(subscriptions[k] is canonical["subscription"][k] for k in subscriptions)
    assert customers[changed] is not canonical["customer"][changed]
    assert customers[changed]["name"] == f"Org {changed}"  # what Lago has
    # equal for Python (True == 1) is not equal for the planner: such an object is not shared
    from lagosync.live import _shared
    live_obj, desired_obj = {"a": True}, {"a": 1}
    assert _shared(live_obj, "customer", "x", {"customer": {"x": desired_obj}}) is live_obj
    assert _shared(live_obj, "customer", "x", {"customer": {"x": {"a": True}}}) is not live_obj
    without, _ = read(big_org, workspace(**desired))
    assert without.state == live.state  # the same values either way
    assert not any(without.state["customer"][k] is canonical["customer"].get(k) for k in customers)


# --------------------------------------------------------------------------- read ahead (issue 16)

def _read_ahead(emulator, ws, read_ahead_for: int):
    """read_live with ``first_reads`` started first, as workflow.opened starts it before the workspace
    has loaded: (LiveState, requests, the tasks of the pages read ahead)."""
    import asyncio

    from live_helpers import make_client

    from lagosync.live import first_reads, read_live

    async def run():
        async with make_client(emulator) as client:
            first = asyncio.ensure_future(first_reads(client, read_ahead_for=read_ahead_for))
            reads = await first
            tasks = [*reads.customer_pages.values(), *reads.subscription_pages.values()]
            live = await read_live(client, ws, first=first)
            assert reads.customer_pages == {} and reads.subscription_pages == {}  # let go once read
            return live, client.request_count, tasks
    return asyncio.run(run())


def test_the_pages_read_ahead_make_the_same_live_state_with_no_extra_request(big_org):
    ws = workspace(**big_workspace(N_ORGS))
    plain, plain_count = read(big_org, ws)
    ahead, count, tasks = _read_ahead(big_org, ws, read_ahead_for=N_ORGS)
    assert len(tasks) == 2 * (math.ceil(N_ORGS / 100) - 1)  # every page but the size probes
    assert all(t.done() and not t.cancelled() for t in tasks)
    assert count == plain_count
    assert ahead.state == plain.state and ahead.facts == plain.facts
    assert ahead.raw == plain.raw


def test_pages_read_ahead_for_a_read_that_turns_out_narrow_are_dropped(big_org):
    ws = workspace(**big_workspace(2))  # 2 declared orgs: fetched one by one
    plain, plain_count = read(big_org, ws)
    ahead, count, tasks = _read_ahead(big_org, ws, read_ahead_for=N_ORGS)  # the estimate said "list them"
    assert tasks and all(t.done() for t in tasks)  # none left running
    assert count <= plain_count + len(tasks)  # at most the pages read ahead, for nothing
    assert ahead.state == plain.state and ahead.facts == plain.facts


def test_no_page_is_read_ahead_for_few_declared_orgs(big_org):
    ws = workspace(**big_workspace(2))
    plain, plain_count = read(big_org, ws)
    ahead, count, tasks = _read_ahead(big_org, ws, read_ahead_for=2)
    assert tasks == [] and count == plain_count
    assert ahead.state == plain.state
