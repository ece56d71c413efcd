"""Applied coupons test helpers: reuse the applier's in-memory emulator environment (tests/applier/conftest.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from lagosync.emulator import Emulator

_spec = importlib.util.spec_from_file_location("applier_conftest", Path(__file__).parents[1] / "applier" / "conftest.py")
_applier = sys.modules.get("applier_conftest") or importlib.util.module_from_spec(_spec)
if "applier_conftest" not in sys.modules:
    sys.modules["applier_conftest"] = _applier
    _spec.loader.exec_module(_applier)
KEY, Env = _applier.KEY, _applier.Env


def catalogue(reusable: bool = True, fixed: bool = False) -> dict:
    """One plan, one percentage coupon ``launch`` (or fixed ``ten_off``), one org subscribed."""
    coupon = {"code": "launch", "name": "Launch", "coupon_type": "percentage", "percentage_rate": "20",
              "frequency": "recurring", "frequency_duration": 3, "reusable": reusable,
              "applies_to": {"plan_codes": ["pro"]}}
    if fixed:
        coupon = {"code": "launch", "name": "Ten off", "coupon_type": "fixed_amount", "amount_cents": 1000,
                  "amount_currency": "USD", "frequency": "once", "reusable": reusable}
    return {
        "tax": {}, "billable_metric": {}, "add_on": {},
        "plan": {"pro": {"code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 1000,
                         "amount_currency": "USD"}},
        "coupon": {"launch": coupon},
        "customer": {
            "org_a": {"external_id": "org_a", "name": "A", "currency": "USD", "coupons": [{"coupon_code": "launch"}]},
            "org_b": {"external_id": "org_b", "name": "B", "currency": "USD"},
        },
        "subscription": {"sub_org_a": {"external_id": "sub_org_a", "external_customer_id": "org_a",
                                       "plan_code": "pro"}},
        "applied_coupon": {"org_a/launch": {"external_customer_id": "org_a", "coupon_code": "launch"}},
    }


def set_coupons(desired: dict, org: str, items: list[dict] | None) -> None:
    """What the workspace loader does with an org's ``coupons:`` list (None: no key)."""
    desired["customer"][org].pop("coupons", None)
    desired["applied_coupon"] = {k: v for k, v in desired["applied_coupon"].items()
                                 if not k.startswith(org + "/")}
    if items is None:
        return
    desired["customer"][org]["coupons"] = items
    for item in items:
        desired["applied_coupon"][f"{org}/{item['coupon_code']}"] = {"external_customer_id": org, **item}


def new_env(root) -> Env:
    env = Env(root=root, emulator=Emulator(":memory:", api_key=KEY))
    env.desired = catalogue()
    return env
