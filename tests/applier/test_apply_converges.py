"""Apply against the emulator, then plan again: it is empty (every kind, every charge model)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from catalog import catalog  # noqa: E402


def count_objects(lago):
    return {
        "plan": len(lago.list("/plans", "plans")),
        "customer": len(lago.list("/customers", "customers")),
        "subscription": len(lago.list("/subscriptions", "subscriptions")),
    }


def test_apply_creates_everything_and_plan_is_then_empty(lago):
    lago.desired = catalog(3)
    result = lago.apply()
    assert result.ok, (result.outcomes, result.not_converged)
    assert not lago.plan().has_changes
    assert count_objects(lago) == {"plan": 3, "customer": 3, "subscription": 3}
    plan = lago.get("/plans/starter")["plan"]
    assert plan["metadata"]["managed_by"] == "lagosync"
    customer = lago.get("/customers/org_0")["customer"]
    assert {m["key"] for m in customer["metadata"]} == {"billing_type", "created_by_user_id", "managed_by"}
    # a second apply has nothing to do
    again = lago.apply()
    assert again.outcomes == {} and not again.plan.has_changes
