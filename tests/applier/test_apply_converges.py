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


def test_graduated_percentage_without_a_premium_license_is_refused_before_any_write(lago):
    """lago-behaviour#graduated-percentage-premium: graduated_percentage needs a premium license; the plan
    blocks it (the environment declares no license), so preflight refuses the apply and nothing is written."""
    import pytest

    from lagosync.applier import ApplyRefused

    lago.desired = catalog(1)
    lago.desired["plan"]["premium"] = {
        "code": "premium", "name": "Premium", "interval": "monthly", "amount_cents": 100, "amount_currency": "USD",
        "charges": [{"billable_metric_code": "spend", "charge_model": "graduated_percentage", "properties": {
            "graduated_percentage_ranges": [
                {"from_value": 0, "to_value": None, "rate": "1", "flat_amount": "0"}]}}]}
    with pytest.raises(ApplyRefused, match="plan 'premium': cannot change charges.spend.charge_model: this Lago "
                       "has no premium license, so it refuses the graduated_percentage charge model"):
        lago.apply()
    assert lago.list("/plans", "plans") == [] and lago.list("/billable_metrics", "billable_metrics") == []
