"""Execution order, bounded concurrency and partial failure, with a scripted fake client."""

import asyncio

from lagosync.applier import AuditLog, run_all
from lagosync.applier.execute import Context, dependencies
from lagosync.client.errors import LagoValidationError
from lagosync.planner import Operation, order_operations


class FakeClient:
    def __init__(self, fail=()):
        self.calls = []
        self.fail = set(fail)
        self.active = 0
        self.max_active = 0

    async def _call(self, name, ident, body=None):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.active -= 1
        self.calls.append((name, ident))
        if ident in self.fail:
            raise LagoValidationError(f"{ident} rejected (validation_errors)", status=422,
                                      code="validation_errors", error_details={"name": ["value_is_invalid"]})
        return {**(body or {}), "lago_id": f"id-{ident}", "code": ident}

    def __getattr__(self, name):
        if name.startswith("create_"):
            return lambda body: self._call(name, body.get("code") or body.get("external_id"), body)
        if name.startswith("update_"):
            return lambda ident, body: self._call(name, ident, body)
        if name.startswith("delete_") or name.startswith("terminate_"):
            return lambda ident, **kw: self._call(name, ident)
        raise AttributeError(name)


def tax(code):
    return {"code": code, "name": code, "rate": "10", "description": None, "applied_to_organization": False}


def metric(code):
    return {"code": code, "name": code, "description": None, "aggregation_type": "count_agg", "field_name": None,
            "recurring": False, "weighted_interval": None, "rounding_function": None,
            "rounding_precision": None, "expression": None, "filters": {}}


def plan(code, metric_code, tax_code):
    return {"code": code, "name": code, "invoice_display_name": None, "description": None, "interval": "monthly",
            "amount_cents": 100, "amount_currency": "USD", "trial_period": "0", "pay_in_advance": False,
            "bill_charges_monthly": None, "tax_codes": [tax_code], "metadata": {},
            "charges": {metric_code: {"code": metric_code, "billable_metric_code": metric_code,
                                      "charge_model": "standard", "invoice_display_name": None,
                                      "pay_in_advance": False, "prorated": False, "min_amount_cents": 0,
                                      "properties": {"amount": "1"}, "filters": [], "tax_codes": []}}}


def create(kind, key, after):
    return Operation("create", kind, key, ("new",), (), None, after)


def ctx_for(client, tmp_path):
    raw = {k: {} for k in ("tax", "billable_metric", "add_on", "plan", "coupon", "customer", "subscription")}
    return Context(client, AuditLog(tmp_path / "audit.jsonl", "test"), raw, {})


def test_dependants_run_after_and_are_skipped_when_a_dependency_fails(tmp_path):
    ops = [create("tax", "vat", tax("vat")), create("tax", "gst", tax("gst")),
           create("billable_metric", "m1", metric("m1")), create("billable_metric", "m2", metric("m2")),
           create("plan", "p1", plan("p1", "m1", "vat")), create("plan", "p2", plan("p2", "m2", "gst"))]
    client = FakeClient(fail={"gst"})
    # the planner derives depends_on from references (once); the applier only follows it
    outcomes = asyncio.run(run_all(order_operations(ops), ctx_for(client, tmp_path), concurrency=3))
    assert outcomes["tax:gst"].status == "failed" and "rejected" in outcomes["tax:gst"].message
    assert outcomes["plan:p2"].status == "skipped" and "tax:gst" in outcomes["plan:p2"].message
    assert outcomes["plan:p1"].status == "done" and outcomes["billable_metric:m2"].status == "done"
    order = [ident for _, ident in client.calls]
    assert order.index("p1") > max(order.index("vat"), order.index("m1"))
    assert "p2" not in order
    # the plan got the lago_id of the metric created in the same run
    assert client.max_active <= 3


def test_concurrency_is_bounded_and_independent_ops_overlap(tmp_path):
    ops = [create("tax", f"t{i}", tax(f"t{i}")) for i in range(10)]
    client = FakeClient()
    asyncio.run(run_all(ops, ctx_for(client, tmp_path), concurrency=2))
    assert client.max_active == 2
    client = FakeClient()
    asyncio.run(run_all(ops, ctx_for(client, tmp_path), concurrency=1))
    assert client.max_active == 1


def test_deletes_follow_other_operations_in_reverse_kind_order():
    ops = order_operations([
        Operation("delete", "tax", "vat", ("removed",)), Operation("delete", "plan", "old", ("removed",)),
        Operation("delete", "subscription", "s1", ("removed",)), create("tax", "new", tax("new"))])
    hard, soft = dependencies(ops)
    assert "plan:old" in hard["tax:vat"] and "subscription:s1" in hard["plan:old"]
    assert "tax:new" in soft["tax:vat"] and not hard["tax:new"]
