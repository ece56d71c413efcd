"""Applied coupons (lago-behaviour#applied-coupon-overrides-default, lago-behaviour#applied-coupon-no-update,
lago-behaviour#coupon-reusable)."""

from __future__ import annotations

from ..common import Request, iso
from ..errors import method_not_allowed, not_found, unprocessable
from ..rules import Errors, as_int, ruby_decimal
from .base import APPLIED, COUPON, CUSTOMER, _desc_created, _public
from .customers import CustomersMixin


class AppliedCouponsMixin(CustomersMixin):
    # ======== applied coupons (lago-behaviour#applied-coupon-overrides-default, lago-behaviour#coupon-reusable)
    def _applied_out(self, a: dict) -> dict:
        cp = self._ref(COUPON, a["_coupon_id"])
        out = _public(a)
        out.update(
            lago_coupon_id=cp["lago_id"], coupon_code=cp["code"], coupon_name=cp["name"],
            coupon_description=cp["description"],
            coupon_status="terminated" if cp.get("_deleted_at") else "active",
            coupon_deleted_at=cp.get("_deleted_at"), expiration_at=cp["expiration_at"],
        )
        return out

    def applied_coupon_create(self, req: Request):
        p = req.root("applied_coupon")
        customer = self._find_customer(str(p.get("external_customer_id") or ""))
        if customer is None:
            raise not_found("customer")
        cp = self._find_code(COUPON, p.get("coupon_code"))
        if cp is None or cp.get("terminated_at"):
            raise not_found("coupon")
        mine = self.store.find(APPLIED, "_customer_id", customer["lago_id"])
        if not cp["reusable"] and any(a["_coupon_id"] == cp["lago_id"] for a in mine):
            # lago-behaviour#coupon-reusable: non-reusable coupons can be applied once per customer ever
            raise unprocessable({"coupon": ["coupon_is_not_reusable"]})
        targets = set(cp["_plan_ids"]) | set(cp["_bm_ids"])
        for a in mine:
            if a["status"] != "active":
                continue
            other = self._ref(COUPON, a["_coupon_id"])
            if targets and targets & (set(other["_plan_ids"]) | set(other["_bm_ids"])):
                raise method_not_allowed("plan_overlapping")  # lago-behaviour#applied-coupon-errors
        errors = Errors()
        amount_currency = p.get("amount_currency", cp["amount_currency"])
        if cp["coupon_type"] == "fixed_amount" and customer["currency"] not in (None, amount_currency):
            errors.add("currency", "currencies_does_not_match")  # lago-behaviour#applied-coupon-currency
        errors.raise_if_any()
        if cp["coupon_type"] == "fixed_amount" and customer["currency"] is None:
            self._edit(CUSTOMER, customer)["currency"] = amount_currency
        # lago-behaviour#applied-coupon-overrides-default: unset values default to the coupon's
        amount = as_int(p.get("amount_cents"), cp["amount_cents"]) if cp["coupon_type"] == "fixed_amount" else None
        freq_dur = as_int(p.get("frequency_duration"), cp["frequency_duration"])
        a = {
            "lago_id": self.emu.new_id(), "lago_customer_id": customer["lago_id"],
            "external_customer_id": customer["external_id"], "status": "active",
            "amount_cents": amount, "amount_cents_remaining": amount if cp["frequency"] == "once" else None,
            "amount_currency": amount_currency if cp["coupon_type"] == "fixed_amount" else None,
            "percentage_rate": ruby_decimal(p["percentage_rate"]) if p.get("percentage_rate") is not None
            else cp["percentage_rate"],
            "frequency": p.get("frequency", cp["frequency"]), "frequency_duration": freq_dur,
            "frequency_duration_remaining": freq_dur, "created_at": iso(self.emu.now()),
            "terminated_at": None, "_customer_id": customer["lago_id"], "_coupon_id": cp["lago_id"],
        }
        self._new(APPLIED, a)
        return {"applied_coupon": self._applied_out(a)}

    def _applied_list(self, req: Request, customer_id: str | None = None):
        status = req.q("status")
        ext = req.q("external_customer_id")
        codes = req.qlist("coupon_code")
        rows = []
        for a in self.store.all(APPLIED):
            if customer_id and a["_customer_id"] != customer_id:
                continue
            if status and a["status"] != status:
                continue
            if ext is not None and a["external_customer_id"] != ext:
                continue
            if codes and self._ref(COUPON, a["_coupon_id"])["code"] not in codes:
                continue
            rows.append(a)
        # the list adds `credits` (AppliedCouponObjectExtended); the emulator never bills, so it is []
        return self.emu.paginate(req, _desc_created(rows), "applied_coupons",
                                 lambda a: {**self._applied_out(a), "credits": []})

    def applied_coupon_list(self, req: Request):
        return self._applied_list(req)

    def applied_coupon_delete(self, req: Request):
        customer = self._customer_by_ext(req.params["external_customer_id"])
        a = self.store.get(APPLIED, req.params["applied_coupon_id"])
        if a is None or a["_customer_id"] != customer["lago_id"] or a["status"] != "active":
            raise not_found("applied_coupon")
        a = self.store.edit(APPLIED, a["lago_id"])
        a.update(status="terminated", terminated_at=iso(self.emu.now()))
        return {"applied_coupon": self._applied_out(a)}

    # -- GET /customers/{external_customer_id}/applied_coupons --
    def customer_applied_coupons(self, req: Request):
        c = self._customer_by_ext(req.params["external_customer_id"])
        return self._applied_list(req, customer_id=c["lago_id"])
