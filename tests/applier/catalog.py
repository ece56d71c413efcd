"""Workspace objects (as written in YAML, Lago field names) used by the applier tests."""

from __future__ import annotations


def charge(metric, model, properties, **kw):
    return {"billable_metric_code": metric, "charge_model": model, "properties": properties, **kw}


def catalog(n_orgs: int = 3) -> dict:
    taxes = {"vat": {"code": "vat", "name": "VAT", "rate": "20"},
             "gst": {"code": "gst", "name": "GST", "rate": "5.5", "description": "Goods and services"}}
    metrics = {
        "api_call": {"code": "api_call", "name": "API calls", "aggregation_type": "count_agg",
                     "filters": [{"key": "region", "values": ["eu", "us"]}]},
        "tokens": {"code": "tokens", "name": "Tokens", "aggregation_type": "sum_agg", "field_name": "tokens"},
        "seats": {"code": "seats", "name": "Seats", "aggregation_type": "unique_count_agg", "field_name": "user_id"},
        "storage": {"code": "storage", "name": "Storage", "aggregation_type": "max_agg", "field_name": "gb"},
        "spend": {"code": "spend", "name": "Spend", "aggregation_type": "sum_agg", "field_name": "amount"},
    }
    add_ons = {"setup": {"code": "setup", "name": "Setup", "amount_cents": 5000, "amount_currency": "USD",
                         "tax_codes": ["vat"]}}
    plans = {
        "starter": {
            "code": "starter", "name": "Starter", "interval": "monthly", "amount_cents": 1900,
            "amount_currency": "USD", "pay_in_advance": True, "tax_codes": ["vat"],
            "metadata": {"tier": "1"},
            "charges": [
                charge("api_call", "standard", {"amount": "0.0010"},
                       filters=[{"invoice_display_name": "EU calls", "values": {"region": ["eu"]},
                                 "properties": {"amount": "0.002"}}]),
                charge("tokens", "package", {"amount": "1.50", "package_size": 1000, "free_units": 100}),
            ],
        },
        "professional": {
            "code": "professional", "name": "Professional", "interval": "monthly", "amount_cents": 4900,
            "amount_currency": "USD", "pay_in_advance": False, "trial_period": 14,
            "charges": [
                charge("tokens", "graduated", {"graduated_ranges": [
                    {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
                    {"from_value": 1001, "to_value": None, "per_unit_amount": "0.002", "flat_amount": "1"}]}),
                charge("seats", "volume", {"volume_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "0"},
                    {"from_value": 11, "to_value": None, "per_unit_amount": "4", "flat_amount": "0"}]}),
                charge("spend", "percentage", {"rate": "2.5", "fixed_amount": "0.30"}, tax_codes=["gst"]),
            ],
        },
        "enterprise": {
            "code": "enterprise", "name": "Enterprise", "interval": "yearly", "amount_cents": 99000,
            "amount_currency": "USD", "pay_in_advance": True, "bill_charges_monthly": True,
            "charges": [
                charge("spend", "dynamic", {}),
                charge("storage", "standard", {"amount": "0.1"}, invoice_display_name="Storage (GB)"),
            ],
        },
    }
    coupons = {
        "welcome": {"code": "welcome", "name": "Welcome", "coupon_type": "percentage", "percentage_rate": "10",
                    "frequency": "recurring", "frequency_duration": 3, "expiration": "no_expiration",
                    "applies_to": {"plan_codes": ["starter"]}},
        "credit": {"code": "credit", "name": "Credit", "coupon_type": "fixed_amount", "amount_cents": 1000,
                   "amount_currency": "USD", "frequency": "once", "expiration": "no_expiration"},
    }
    customers, subs = {}, {}
    plan_cycle = ["starter", "professional", "enterprise"]
    for i in range(n_orgs):
        ext = f"org_{i}"
        customers[ext] = {"external_id": ext, "name": f"Org {i}", "email": f"billing{i}@example.com",
                          "currency": "USD",
                          "metadata": [{"key": "billing_type", "value": "organization"},
                                       {"key": "created_by_user_id", "value": f"user_{i}",
                                        "display_in_invoice": True}]}
        subs[f"sub_{ext}"] = {"external_id": f"sub_{ext}", "external_customer_id": ext,
                              "plan_code": plan_cycle[i % 3], "name": f"Org {i} plan"}
    return {"tax": taxes, "billable_metric": metrics, "add_on": add_ons, "plan": plans, "coupon": coupons,
            "customer": customers, "subscription": subs}
