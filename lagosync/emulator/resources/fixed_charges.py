"""Plan fixed charges (lago-behaviour#fixed-charges): an add-on priced on a plan, mixed into ``Resources``.

Stored on the plan row as ``_fixed_charges``: ``{lago_id, code, _add_on_id, invoice_display_name,
units (decimal string), charge_model, pay_in_advance, prorated, properties, _tax_codes, created_at}``.
Rules modelled:
- ``PUT /plans`` with a ``fixed_charges`` key reconciles like charges (lago-behaviour#fixed-charge-reconcile: the same
  id matching and delete-if-absent semantics as charges): an item whose ``id`` is an existing fixed charge's
  ``lago_id`` updates it, an item without a matching id is created (code clash → 422
  ``value_already_exist``), existing ones not listed are deleted. No key: untouched.
- The add-on is ``add_on_id`` (its lago_id) or ``add_on_code`` (spec FixedChargeInput: either);
  an unknown one → 404 ``add_on_not_found`` (Lago answers ``add_ons_not_found``,
  lago-behaviour#fixed-charge-unknown-add-on; the emulator's code differs).
- ``code`` defaults to the add-on code (spec: "generated based on the add-on code").
- Once the plan has had subscriptions, ``code``, the add-on, ``charge_model``, ``pay_in_advance``
  and ``prorated`` are kept (lago-behaviour#fixed-charge-update, modelled like lago-behaviour#charge-locked-fields).
- Responses (spec FixedChargeObject) add ``lago_add_on_id, add_on_code, lago_parent_id``; ``units``
  is a number. Single-object plan responses carry ``fixed_charges``; the plan LIST does not (lago-behaviour#plan-list-no-fixed-charges).
- Add-on DELETE soft-deletes every fixed charge using it (lago-behaviour#add-on-delete).
"""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation

from ..common import Request, iso
from ..errors import not_found
from ..rules import MODEL_KEYS, Errors, as_bool, blank, filter_properties, validate_properties
from .base import ADD_ON, PLAN
from .taxes import TaxesMixin

FIXED_CHARGE_MODELS = ("standard", "graduated", "volume")


def _units_str(value, errors: Errors) -> str:
    if value is None:
        return "0"  # spec PlanCreateInput: units defaults to 0
    if isinstance(value, bool):
        errors.add("units", "value_is_invalid")
        return "0"
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add("units", "value_is_invalid")
        return "0"
    if not dec.is_finite() or dec < 0:
        errors.add("units", "value_is_invalid")
        return "0"
    return format(dec.normalize(), "f") if dec != dec.to_integral_value() else str(int(dec))


def _units_out(units: str):
    dec = Decimal(units or "0")
    return int(dec) if dec == dec.to_integral_value() else float(dec)


class FixedChargesMixin(TaxesMixin):
    """Methods of ``Resources`` for plan fixed charges (see the module docstring)."""

    def _fixed_charge_out(self, plan: dict, fc: dict) -> dict:
        add_on = self.store.get(ADD_ON, fc["_add_on_id"])
        return {
            "lago_id": fc["lago_id"], "lago_add_on_id": fc["_add_on_id"], "code": fc["code"],
            "invoice_display_name": fc["invoice_display_name"] or "",
            "add_on_code": add_on["code"] if add_on else "", "created_at": fc["created_at"],
            "charge_model": fc["charge_model"], "pay_in_advance": fc["pay_in_advance"],
            "prorated": fc["prorated"], "properties": copy.deepcopy(fc["properties"]),
            "units": _units_out(fc["units"]), "lago_parent_id": None,
            "taxes": self._taxes_for(fc["_tax_codes"]),
        }

    def _fixed_charges_out(self, plan: dict) -> list[dict]:
        return [self._fixed_charge_out(plan, fc) for fc in plan.get("_fixed_charges") or []]

    def _fixed_add_on(self, p: dict) -> dict | None:
        if p.get("add_on_id") is not None:
            add_on = self.store.get(ADD_ON, str(p["add_on_id"]))
            return add_on if add_on and not add_on.get("_deleted_at") else None
        if p.get("add_on_code") is not None:
            return self._find_code(ADD_ON, p["add_on_code"])
        return None

    def _fixed_charge_build(self, p: dict, errors: Errors, existing: dict | None, locked: bool) -> dict:
        fc = copy.deepcopy(existing) if existing else {
            "lago_id": self.emu.new_id(), "code": None, "_add_on_id": None, "invoice_display_name": None,
            "units": "0", "charge_model": None, "pay_in_advance": False, "prorated": False,
            "properties": {}, "_tax_codes": [], "created_at": iso(self.emu.now()),
        }
        new = existing is None
        if new or not locked:
            if new or "add_on_id" in p or "add_on_code" in p:
                add_on = self._fixed_add_on(p)
                if add_on is None:
                    if p.get("add_on_id") is None and p.get("add_on_code") is None:
                        errors.add("add_on", "value_is_mandatory")
                        return fc
                    raise not_found("add_on")
                fc["_add_on_id"] = add_on["lago_id"]
            if "code" in p and not blank(p["code"]):
                fc["code"] = p["code"]
            if "charge_model" in p or new:
                fc["charge_model"] = p.get("charge_model")
            if "pay_in_advance" in p:
                fc["pay_in_advance"] = bool(as_bool(p["pay_in_advance"], False))
            if "prorated" in p:
                fc["prorated"] = bool(as_bool(p["prorated"], False))
        if "invoice_display_name" in p:
            fc["invoice_display_name"] = p["invoice_display_name"]
        if "units" in p or new:
            fc["units"] = _units_str(p.get("units"), errors)
        model = fc["charge_model"]
        if model is None:
            errors.add("charge_model", "value_is_mandatory")
            return fc
        if model not in FIXED_CHARGE_MODELS:
            errors.add("charge_model", "value_is_invalid")
            return fc
        if "properties" in p or new:
            props = filter_properties(model, p.get("properties"))
            fc["properties"] = {k: v for k, v in props.items() if k in MODEL_KEYS[model]}
            validate_properties(model, fc["properties"], errors)
        if "tax_codes" in p:
            fc["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])
        if fc["prorated"] and fc["pay_in_advance"] and model == "graduated":
            # spec PlanCreateInput.fixed_charges.prorated: not allowed with graduated + pay_in_advance
            errors.add("prorated", "invalid_charge_model")
        if blank(fc["code"]):
            add_on = self.store.get(ADD_ON, fc["_add_on_id"]) if fc["_add_on_id"] else None
            fc["code"] = add_on["code"] if add_on else None
        return fc

    def _plan_fixed_charges(self, plan: dict, items, errors: Errors, locked: bool) -> None:
        """``fixed_charges`` of PUT/POST /plans: id-matched, unmatched created, unlisted deleted."""
        if not isinstance(items, list):
            errors.add("fixed_charges", "value_is_invalid")
            return
        current = list(plan.get("_fixed_charges") or [])
        existing = {fc["lago_id"]: fc for fc in current}
        kept: set[str] = set()
        updated: dict[str, dict] = {}
        created: list[dict] = []
        for p in items:
            if not isinstance(p, dict):
                errors.add("fixed_charges", "value_is_invalid")
                continue
            if p.get("id") is not None and p["id"] in existing:
                kept.add(p["id"])
                updated[p["id"]] = self._fixed_charge_build(p, errors, existing[p["id"]], locked)
            else:
                created.append(p)
        result = [updated.get(fc["lago_id"], fc) for fc in current]
        for p in created:  # creation runs before deletion (lago-behaviour#fixed-charge-reconcile), so a clash is a 422
            fc = self._fixed_charge_build(p, errors, None, locked)
            if any(x["code"] == fc["code"] for x in result):
                errors.add("code", "value_already_exist")
                continue
            result.append(fc)
            kept.add(fc["lago_id"])
        plan["_fixed_charges"] = [fc for fc in result if fc["lago_id"] in kept]

    def _addon_destroy(self, add_on: dict) -> None:
        """lago-behaviour#add-on-delete: DELETE discards the add-on and soft-deletes every fixed charge using it."""
        add_on["_deleted_at"] = iso(self.emu.now())
        for plan in self._live(PLAN):
            if any(fc["_add_on_id"] == add_on["lago_id"] for fc in plan.get("_fixed_charges") or []):
                plan = self._edit(PLAN, plan)
                plan["_fixed_charges"] = [fc for fc in plan["_fixed_charges"] if fc["_add_on_id"] != add_on["lago_id"]]

    # -- sub-resource GET /plans/{code}/fixed_charges[/{fixed_charge_code}] (lago-behaviour#plan-charges-subresource) --
    def fixed_charge_list(self, req: Request):
        plan = self._by_code(PLAN, req.params["code"])
        rows = sorted(plan.get("_fixed_charges") or [], key=lambda fc: fc["created_at"], reverse=True)
        return self.emu.paginate(req, rows, "fixed_charges", lambda fc: self._fixed_charge_out(plan, fc))

    def fixed_charge_get(self, req: Request):
        plan = self._by_code(PLAN, req.params["code"])
        for fc in plan.get("_fixed_charges") or []:
            if fc["code"] == req.params["fixed_charge_code"]:
                return {"fixed_charge": self._fixed_charge_out(plan, fc)}
        raise not_found("fixed_charge")


__all__ = ["FIXED_CHARGE_MODELS", "FixedChargesMixin"]
