"""Taxes (lago-behaviour#tax-response, lago-behaviour#tax-editable, lago-behaviour#tax-delete-detaches), and
the tax codes other resources refer to."""

from __future__ import annotations

from ..common import iso
from ..errors import not_found, unprocessable
from ..rules import Errors, as_bool, as_float, blank
from .base import ADD_ON, CUSTOMER, PLAN, TAX, ResourceBase, _public


class TaxesMixin(ResourceBase):
    # ======================================= taxes (lago-behaviour#tax-response, lago-behaviour#tax-editable)
    @staticmethod
    def _tax_fresh() -> dict:
        return {"name": None, "code": None, "rate": None, "description": None,
                "applied_to_organization": False}

    def _tax_after_update(self, before: dict, tax: dict) -> None:
        if tax["code"] != before["code"]:
            self._rename_tax(before["code"], tax["code"])  # lago-behaviour#tax-editable: code editable

    def _tax_destroy(self, tax: dict) -> None:
        tax["_deleted_at"] = iso(self.emu.now())
        # lago-behaviour#tax-delete-detaches: DELETE detaches the tax from customers, plans, charges, add-ons
        self._rename_tax(tax["code"], None)

    def _tax_out(self, tax: dict) -> dict:
        out = _public(tax)
        out["rate"] = float(tax["rate"])  # lago-behaviour#tax-response: rate is a float in responses
        # lago-behaviour#tax-response: counters add_ons_count…commitments_count, all 0
        out.update(add_ons_count=0, charges_count=0, customers_count=0, plans_count=0, commitments_count=0)
        return out

    def _tax_apply(self, tax: dict, p: dict, errors: Errors, *, create: bool) -> None:
        for key in ("code", "name", "description"):
            if key in p:
                tax[key] = p[key]
        if "applied_to_organization" in p:
            tax["applied_to_organization"] = bool(as_bool(p["applied_to_organization"], False))
        if "rate" in p:
            rate = as_float(p["rate"])
            if rate is None:
                errors.add("rate", "value_is_invalid")
            else:
                tax["rate"] = rate
        if tax.get("rate") is None:
            errors.add("rate", "value_is_mandatory")
        if blank(tax.get("name")):
            errors.add("name", "value_is_mandatory")
        self._check_code(TAX, tax, errors)

    def _rename_tax(self, old: str, new: str | None) -> None:
        """Tax references are kept by code here; follow a code change (or a delete when new is None)."""

        def fix(codes):
            return [c for c in (new if c == old else c for c in codes) if c is not None]

        for kind in (PLAN, ADD_ON, CUSTOMER):
            for obj in self._live(kind):
                touched = old in obj.get("_tax_codes", []) or any(
                    old in c.get("_tax_codes", []) for c in obj.get("_charges", []) + obj.get("_fixed_charges", [])
                )
                if not touched:
                    continue
                obj = self._edit(kind, obj)
                obj["_tax_codes"] = fix(obj.get("_tax_codes", []))
                for c in obj.get("_charges", []) + obj.get("_fixed_charges", []):  # fixed charges: lago-behaviour#tax-delete-detaches
                    c["_tax_codes"] = fix(c.get("_tax_codes", []))

    def _taxes_for(self, codes) -> list[dict]:
        out = []
        for code in codes or []:
            tax = self._find_code(TAX, code)
            if tax:
                out.append(self._tax_out(tax))
        return out

    def _resolve_tax_codes(self, codes) -> list[str]:
        """Unknown tax code → 404 tax_not_found (lago-behaviour#tax-codes-replace)."""
        if codes is None:
            return []
        if not isinstance(codes, list):
            raise unprocessable({"tax_codes": ["value_is_invalid"]})
        result = []
        for code in codes:
            if self._find_code(TAX, code) is None:
                raise not_found("tax")
            if code not in result:
                result.append(code)
        return result
