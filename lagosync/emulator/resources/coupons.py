"""Coupons (lago-behaviour#coupon-fields, lago-behaviour#coupon-applies-to,
lago-behaviour#coupon-locked-fields)."""

from __future__ import annotations

from ..common import iso
from ..errors import method_not_allowed, not_found
from ..rules import Errors, as_bool, as_int, blank, check_currency, ruby_decimal
from .base import APPLIED, BM, COUPON, PLAN, ResourceBase, _parse_time, _public


class CouponsMixin(ResourceBase):
    # ============================ coupons (lago-behaviour#coupon-fields, lago-behaviour#coupon-locked-fields)
    @staticmethod
    def _coupon_fresh() -> dict:
        return {"name": None, "code": None, "description": None, "coupon_type": None, "amount_cents": None,
                "amount_currency": None, "percentage_rate": None, "frequency": None, "frequency_duration": None,
                "reusable": True, "limited_plans": False, "limited_billable_metrics": False, "created_at": None,
                "expiration": None, "expiration_at": None, "terminated_at": None, "_plan_ids": [], "_bm_ids": []}

    def _coupon_destroy(self, cp: dict) -> None:
        now = iso(self.emu.now())
        cp["_deleted_at"] = now
        cp["terminated_at"] = cp["terminated_at"] or now
        # lago-behaviour#coupon-delete: DELETE terminates all active applied coupons
        for a in self.store.find(APPLIED, "_coupon_id", cp["lago_id"]):
            if a["status"] == "active":
                self.store.edit(APPLIED, a["lago_id"]).update(status="terminated", terminated_at=now)

    def _coupon_out(self, cp: dict) -> dict:
        out = _public(cp)
        out["plan_codes"] = [p["code"] for pid in cp["_plan_ids"] if (p := self.store.get(PLAN, pid))]
        out["billable_metric_codes"] = [b["code"] for bid in cp["_bm_ids"] if (b := self.store.get(BM, bid))]
        out["limited_plans"] = cp["limited_plans"]
        out["limited_billable_metrics"] = cp["limited_billable_metrics"]
        return out

    def _coupon_applied_ever(self, cp: dict) -> bool:
        return bool(self.store.find(APPLIED, "_coupon_id", cp["lago_id"]))

    def _coupon_apply(self, cp: dict, p: dict, errors: Errors, *, create: bool) -> None:
        # lago-behaviour#coupon-locked-fields: always editable
        for key in ("name", "description", "expiration", "expiration_at"):
            if key in p:
                cp[key] = p[key]
        locked = not create and self._coupon_applied_ever(cp)
        if not locked:
            # lago-behaviour#coupon-locked-fields: everything else silently ignored once the coupon has been applied
            for key in ("code", "coupon_type", "amount_currency", "frequency"):
                if key in p:
                    cp[key] = p[key]
            if "amount_cents" in p:
                cp["amount_cents"] = as_int(p["amount_cents"], p["amount_cents"])
            if "percentage_rate" in p:
                cp["percentage_rate"] = ruby_decimal(p["percentage_rate"])
            if "frequency_duration" in p:
                cp["frequency_duration"] = as_int(p["frequency_duration"], p["frequency_duration"])
            if "reusable" in p:
                cp["reusable"] = bool(as_bool(p["reusable"], True))
            # lago-behaviour#coupon-put-applies-to: a PUT without applies_to empties the targets, limited_* unchanged
            applies: dict = p["applies_to"] if isinstance(p.get("applies_to"), dict) else {}
            plan_codes = applies.get("plan_codes") or []
            bm_codes = applies.get("billable_metric_codes") or []
            if plan_codes and bm_codes:
                # lago-behaviour#coupon-applies-to: plan codes or metric codes, not both → 405
                raise method_not_allowed("only_one_limitation_type_per_coupon_allowed")
            plan_ids = []
            for code in plan_codes:
                plan = self._find_code(PLAN, code)
                if plan is None:
                    raise not_found("plans")
                plan_ids.append(plan["lago_id"])
            bm_ids = []
            for code in bm_codes:
                bm = self._find_code(BM, code)
                if bm is None:
                    raise not_found("billable_metrics")
                bm_ids.append(bm["lago_id"])
            cp["_plan_ids"], cp["_bm_ids"] = plan_ids, bm_ids
            if create or "applies_to" in p:
                cp["limited_plans"] = bool(plan_ids)
                cp["limited_billable_metrics"] = bool(bm_ids)
        if blank(cp.get("name")):
            errors.add("name", "value_is_mandatory")
        self._check_code(COUPON, cp, errors)
        if cp.get("coupon_type") not in ("fixed_amount", "percentage"):
            errors.add("coupon_type", "value_is_invalid")
        if cp.get("frequency") not in ("once", "recurring", "forever"):
            errors.add("frequency", "value_is_invalid")
        if cp.get("expiration") not in ("no_expiration", "time_limit"):
            errors.add("expiration", "value_is_invalid")
        if cp.get("coupon_type") == "fixed_amount":
            if not isinstance(cp.get("amount_cents"), int) or cp["amount_cents"] <= 0:
                errors.add("amount_cents", "value_is_out_of_range" if isinstance(cp.get("amount_cents"), int)
                           else "value_is_mandatory")
            check_currency(cp.get("amount_currency"), "amount_currency", errors)
        if cp.get("coupon_type") == "percentage" and cp.get("percentage_rate") is None:
            errors.add("percentage_rate", "value_is_mandatory")
        if cp.get("frequency") == "recurring" and (
            not isinstance(cp.get("frequency_duration"), int) or cp["frequency_duration"] <= 0
        ):
            errors.add("frequency_duration", "value_is_out_of_range")
        if cp.get("expiration_at") is not None:
            at = _parse_time(cp["expiration_at"])
            if at is None or at <= self.emu.now():
                errors.add("expiration_at", "invalid_date")
            else:
                cp["expiration_at"] = iso(at)
