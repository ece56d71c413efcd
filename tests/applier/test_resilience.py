"""Crash after every write index, and random faults: apply again converges, nothing exists twice."""

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from catalog import catalog  # noqa: E402
from conftest import KEY, Env  # noqa: E402

from lagosync.emulator import Emulator, EmulatorCrash, Faults  # noqa: E402
from lagosync.errors import LagosyncError  # noqa: E402

N_ORGS = 18  # 13 catalogue objects + 18 customers + 18 subscriptions = 49 objects, 49 writes


def assert_converged_without_duplicates(lago: Env, desired: dict) -> None:
    plan = lago.plan()
    assert not plan.has_changes, [op.describe() for op in plan.operations]
    plans = lago.list("/plans", "plans")
    codes = Counter(p["code"] for p in plans)
    assert codes == Counter(list(desired["plan"])), codes
    for p in plans:
        charge_codes = Counter(c["code"] for c in p["charges"])
        assert all(n == 1 for n in charge_codes.values()), (p["code"], charge_codes)
        assert len(p["charges"]) == len(desired["plan"][p["code"]]["charges"])
    customers = Counter(c["external_id"] for c in lago.list("/customers", "customers"))
    assert customers == Counter(list(desired["customer"])), customers
    subs = lago.list("/subscriptions", "subscriptions",
                     [("status[]", s) for s in ("active", "pending", "terminated", "canceled")])
    assert Counter(s["external_id"] for s in subs) == Counter(list(desired["subscription"]))
    for kind, path, root in (("billable_metric", "/billable_metrics", "billable_metrics"),
                             ("tax", "/taxes", "taxes"), ("coupon", "/coupons", "coupons"),
                             ("add_on", "/add_ons", "add_ons")):
        assert Counter(o["code"] for o in lago.list(path, root)) == Counter(list(desired[kind]))
    for c in lago.list("/customers", "customers"):
        keys = Counter(m["key"] for m in c["metadata"])
        assert all(n == 1 for n in keys.values()), keys


def fresh(tmp_path, k) -> Env:
    root = tmp_path / f"run{k}"
    root.mkdir()
    lago = Env(root=root, emulator=Emulator(":memory:", api_key=KEY))
    lago.desired = catalog(N_ORGS)
    return lago


def test_crash_after_each_write_then_apply_again_converges(tmp_path):
    total = None
    k = 1
    while True:
        lago = fresh(tmp_path, k)
        faults = Faults(crash_after_writes=k)
        try:
            result = lago.apply(faults)
        except EmulatorCrash:
            pass
        else:
            # no crash happened: k is past the last write of a complete apply
            assert result.ok
            total = k - 1
            break
        assert faults.writes >= k
        result = lago.apply()
        assert result.ok, (k, {i: o for i, o in result.outcomes.items() if o.status != "done"})
        assert_converged_without_duplicates(lago, lago.desired)
        k += 1
    assert total is not None and total >= 49  # every write index was crashed at


@pytest.mark.parametrize("seed", range(12))
def test_random_faults_converge_without_duplicates(tmp_path, seed):
    lago = fresh(tmp_path, seed)
    faults = Faults(seed=seed, p429=0.04, p500=0.02, p503=0.04, p_drop=0.04, p_commit_drop=0.05)
    for _attempt in range(12):
        try:
            result = lago.apply(faults)
        except LagosyncError:
            continue
        if result.ok:
            break
    else:
        pytest.fail(f"seed {seed}: apply did not finish in 12 runs; faults: {faults.log[-5:]}")
    assert faults.log, "the faults must actually have fired"
    assert_converged_without_duplicates(lago, lago.desired)


def change_everything(desired: dict) -> None:
    d = desired
    d["tax"]["vat"]["rate"] = "19"
    d["plan"]["starter"]["amount_cents"] = 2900                    # re-prices its subscribers
    d["plan"]["professional"]["interval"] = "quarterly"           # locked: new version + migration
    d["plan"]["professional"]["amount_cents"] = 14700
    d["plan"]["enterprise"]["charges"][1]["properties"] = {"amount": "0.2"}
    d["subscription"]["sub_org_0"]["plan_code"] = "enterprise"     # upgrade
    d["subscription"]["sub_org_2"]["name"] = "Renamed"
    d["customer"]["org_1"]["metadata"] = [{"key": "billing_type", "value": "org"}, {"key": "tier", "value": "gold"}]
    d["coupon"]["credit"] = {"code": "credit", "ensure": "absent"}


def test_crash_at_each_write_of_an_update_apply_converges(tmp_path):
    k = 1
    while True:
        lago = Env(root=tmp_path / f"u{k}", emulator=Emulator(":memory:", api_key=KEY))
        lago.root.mkdir()
        lago.desired = catalog(6)
        assert lago.apply().ok
        change_everything(lago.desired)
        faults = Faults(crash_after_writes=k)
        try:
            result = lago.apply(faults, allow_reprice=True, allow_destroy=True)
        except EmulatorCrash:
            pass
        else:
            assert result.ok
            break
        result = lago.apply(allow_reprice=True, allow_destroy=True)
        assert result.ok, (k, {i: o for i, o in result.outcomes.items() if o.status != "done"}, result.not_converged)
        plan = lago.plan()
        assert not plan.has_changes, (k, [op.describe() for op in plan.operations])
        codes = Counter(p["code"] for p in lago.list("/plans", "plans"))
        assert codes == Counter(["starter", "professional", "professional__v2", "enterprise"]), (k, codes)
        on_pro = [s for s in lago.list("/subscriptions", "subscriptions") if s["plan_code"].startswith("professional")]
        assert {s["plan_code"] for s in on_pro} == {"professional__v2"}, (k, on_pro)
        k += 1
    assert k > 10
