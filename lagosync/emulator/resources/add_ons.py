"""Add-ons (lago-behaviour#add-on-amount-positive, lago-behaviour#add-on-editable); their DELETE hook
(lago-behaviour#add-on-delete) is in fixed_charges.py."""

from __future__ import annotations

from ..rules import Errors, as_int, blank, check_currency
from .base import ADD_ON, _public
from .taxes import TaxesMixin


class AddOnsMixin(TaxesMixin):
    # ================================= add-ons (lago-behaviour#add-on-editable, lago-behaviour#add-on-delete)
    @staticmethod
    def _addon_fresh() -> dict:
        return {"name": None, "invoice_display_name": None, "code": None, "amount_cents": None,
                "amount_currency": None, "created_at": None, "description": None, "_tax_codes": []}

    def _addon_out(self, a: dict) -> dict:
        out = _public(a)
        out["taxes"] = self._taxes_for(a["_tax_codes"])
        return out

    def _addon_apply(self, a: dict, p: dict, errors: Errors, *, create: bool) -> None:
        # lago-behaviour#add-on-editable: all fields editable at any time; tax_codes key ⇒ replace
        # (lago-behaviour#tax-codes-replace)
        for key in ("name", "invoice_display_name", "code", "description", "amount_currency"):
            if key in p:
                a[key] = p[key]
        if "amount_cents" in p:
            a["amount_cents"] = as_int(p["amount_cents"], p["amount_cents"])
        if "tax_codes" in p:
            a["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])
        if blank(a.get("name")):
            errors.add("name", "value_is_mandatory")
        if not isinstance(a.get("amount_cents"), int) or a["amount_cents"] <= 0:
            # lago-behaviour#add-on-amount-positive: amount_cents must be > 0
            errors.add("amount_cents", "value_is_out_of_range" if isinstance(a.get("amount_cents"), int)
                       else "value_is_mandatory")
        check_currency(a.get("amount_currency"), "amount_currency", errors)
        self._check_code(ADD_ON, a, errors)
