"""Plans, their charges, charge filters and metadata (lago-behaviour#plan-response,
lago-behaviour#plan-charges-reconciled, lago-behaviour#charge-filters,
lago-behaviour#plan-metadata-replace)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..common import Request, iso
from ..errors import bad_request, not_found
from ..rules import (
    ALL_FILTER_VALUES,
    CHARGE_MODELS,
    PAY_IN_ADVANCE_AGGS,
    PLAN_INTERVALS,
    Errors,
    as_bool,
    as_float,
    as_int,
    blank,
    check_currency,
    filter_properties,
    validate_properties,
)
from .base import BM, PLAN, SUB
from .fixed_charges import FixedChargesMixin


class PlansMixin(FixedChargesMixin):
    # ======== plans (lago-behaviour#plan-response, lago-behaviour#plan-locked-fields, lago-behaviour#plan-charges-reconciled)
    if TYPE_CHECKING:  # defined by SubscriptionsMixin (subscriptions.py), which builds on this class
        def _reevaluate_plan_changes(self, plan: dict) -> None: ...

    @staticmethod
    def _plan_fresh() -> dict:
        return {"name": None, "invoice_display_name": None, "created_at": None, "code": None, "interval": None,
                "description": None, "amount_cents": None, "amount_currency": None, "trial_period": None,
                # lago-behaviour#plan-intervals: pay_in_advance is required on create (no default)
                "pay_in_advance": None, "bill_charges_monthly": None, "bill_fixed_charges_monthly": None,
                "pending_deletion": False, "_charges": [], "_tax_codes": [], "_metadata": None}

    def _plan_after_update(self, before: dict, plan: dict) -> None:
        if plan["amount_cents"] != before["amount_cents"]:
            self._reevaluate_plan_changes(plan)  # lago-behaviour#plan-amount-change-reevaluates

    def _plan_prepare_destroy(self, plan: dict) -> None:
        # lago-behaviour#plan-delete-async: never refused; pending_deletion now, Plans::DestroyJob later (see Emulator docs)
        plan["pending_deletion"] = True
        plan_id = plan["lago_id"]
        self.emu.enqueue(lambda: self._plan_destroy_job(plan_id))

    def _plan_has_had_subscriptions(self, plan: dict) -> bool:
        """lago-behaviour#plan-locked-fields: attached_to_subscriptions? = any subscription, any status."""
        return bool(self.store.find(SUB, "_plan_id", plan["lago_id"]))

    def _charge_out(self, plan: dict, c: dict, taxes: bool = True) -> dict:
        bm = self.store.get(BM, c["_bm_id"])
        out = {
            "lago_id": c["lago_id"], "lago_billable_metric_id": c["_bm_id"], "code": c["code"],
            "invoice_display_name": c["invoice_display_name"],
            "billable_metric_code": bm["code"] if bm else None, "created_at": c["created_at"],
            "charge_model": c["charge_model"], "invoiceable": c["invoiceable"],
            "regroup_paid_fees": c["regroup_paid_fees"], "pay_in_advance": c["pay_in_advance"],
            "prorated": c["prorated"], "min_amount_cents": c["min_amount_cents"],
            "accepts_target_wallet": False, "properties": copy.deepcopy(c["properties"]),
            "applied_pricing_unit": None, "lago_parent_id": None,
            "filters": [self._filter_out(c, f) for f in c["filters"]],
        }
        if taxes:
            out["taxes"] = self._taxes_for(c["_tax_codes"])
        return out

    @staticmethod
    def _filter_out(c: dict, f: dict) -> dict:
        """lago-behaviour#charge-response: charge filter {lago_id, charge_code, invoice_display_name, properties, values}."""
        return {"lago_id": f["lago_id"], "charge_code": c["code"], "invoice_display_name": f["invoice_display_name"],
                "properties": copy.deepcopy(f["properties"]), "values": copy.deepcopy(f["values"])}

    def _plan_out(self, plan: dict, single: bool = True) -> dict:
        out = {k: plan[k] for k in (
            "lago_id", "name", "invoice_display_name", "created_at", "code", "interval", "description",
            "amount_cents", "amount_currency", "trial_period", "pay_in_advance", "bill_charges_monthly",
            "bill_fixed_charges_monthly")}
        out.update(customers_count=0, active_subscriptions_count=0, draft_invoices_count=0)
        out["parent_id"] = None
        out["pending_deletion"] = plan["pending_deletion"]
        out["charges"] = [self._charge_out(plan, c) for c in plan["_charges"]]
        if single:
            # lago-behaviour#plan-list-no-fixed-charges: the list endpoint does not include fixed_charges
            out["fixed_charges"] = self._fixed_charges_out(plan)
        out["usage_thresholds"] = []
        out["applicable_usage_thresholds"] = []
        out["taxes"] = self._taxes_for(plan["_tax_codes"])
        out["entitlements"] = []
        if plan.get("_metadata") is not None:
            out["metadata"] = dict(plan["_metadata"])
        return out

    def _bm_by_id(self, bm_id) -> dict | None:
        bm = self.store.get(BM, str(bm_id)) if isinstance(bm_id, str) else None
        return bm if bm and not bm.get("_deleted_at") else None

    def _check_chargeables(self, charges) -> None:
        """lago-behaviour#plan-unknown-metric: unknown billable_metric_id anywhere → 404 billable_metrics_not_found first."""
        for c in charges:
            if isinstance(c, dict) and "billable_metric_id" in c and self._bm_by_id(c["billable_metric_id"]) is None:
                raise not_found("billable_metrics")

    def _filter_values(self, bm: dict, values, errors: Errors) -> dict:
        """lago-behaviour#charge-filters: non-empty {key: [values]}; every key/value one of the metric filter's (or ALL alone)."""
        if not isinstance(values, dict) or not values:
            errors.add("values", "value_is_mandatory")
            return {}
        bm_filters = {f["key"]: set(f["values"]) for f in bm["filters"]}
        clean = {}
        for k, vs in values.items():
            vs = vs if isinstance(vs, list) else [vs]
            # lago-behaviour#charge-filter-all-values: ALL_FILTER_VALUES only alone, else every value declared
            if k not in bm_filters or (vs != [ALL_FILTER_VALUES] and any(v not in bm_filters[k] for v in vs)):
                errors.add("values", "value_is_invalid")
                continue
            clean[k] = [str(v) for v in vs]
        return clean

    def _filter_properties(self, model: str, props, errors: Errors) -> dict:
        """lago-behaviour#charge-grouping-keys: a filter's properties use the charge model's keys (presentation_group_keys stripped)."""
        out = filter_properties(model, props, for_filter=True)
        validate_properties(model, out, errors)
        return out

    def _charge_filters(self, model: str, bm: dict, value, errors: Errors, existing: list[dict]) -> list[dict]:
        """lago-behaviour#charge-filters: filters reconciled by exact values hash; values must be metric filter values."""
        if not isinstance(value, list):
            errors.add("filters", "value_is_invalid")
            return existing
        by_values = {_values_key(f["values"]): f for f in existing}
        out = []
        for f in value:
            if not isinstance(f, dict):
                errors.add("filters", "value_is_invalid")
                continue
            clean = self._filter_values(bm, f.get("values"), errors)
            if not clean:
                continue
            props = self._filter_properties(model, f.get("properties"), errors)
            prev = by_values.get(_values_key(clean))
            out.append({
                "lago_id": prev["lago_id"] if prev else self.emu.new_id(),
                "invoice_display_name": f.get("invoice_display_name"),
                "properties": props, "values": clean,
            })
        return out

    def _charge_build(self, plan: dict, p: dict, errors: Errors, existing: dict | None, locked: bool) -> dict:
        """Create (existing None) or update a charge; per-charge update is a full replace (lago-behaviour#charge-full-replace)."""
        c = copy.deepcopy(existing) if existing else {
            "lago_id": self.emu.new_id(), "code": None, "_bm_id": None, "invoice_display_name": None,
            "created_at": iso(self.emu.now()), "charge_model": None, "invoiceable": True,
            "regroup_paid_fees": None, "pay_in_advance": False, "prorated": False, "min_amount_cents": 0,
            "properties": {}, "filters": [], "_tax_codes": [],
        }
        new = existing is None
        if new or not locked:
            if "billable_metric_id" in p or new:
                c["_bm_id"] = p.get("billable_metric_id")
            if "code" in p and not blank(p["code"]):
                c["code"] = p["code"]
            if "pay_in_advance" in p:
                c["pay_in_advance"] = bool(as_bool(p["pay_in_advance"], False))
            if "prorated" in p:
                c["prorated"] = bool(as_bool(p["prorated"], False))
            if self.emu.premium:
                # lago-behaviour#premium-ignored-fields: kept only with a license; omitted means 0
                c["min_amount_cents"] = p.get("min_amount_cents") or 0
        bm = self._bm_by_id(c["_bm_id"])
        if bm is None:
            if c["_bm_id"] is None:
                errors.add("billable_metric", "value_is_mandatory")
                return c
            raise not_found("billable_metrics")
        if new or not locked:
            # lago-behaviour#charge-locked-fields: charge_model is ignored once the plan has subscriptions
            c["charge_model"] = p.get("charge_model")
        # lago-behaviour#charge-full-replace: invoice_display_name always assigned (omitted ⇒ cleared)
        c["invoice_display_name"] = p.get("invoice_display_name")
        model = c["charge_model"]
        if model is None:
            errors.add("charge_model", "value_is_mandatory")
            return c
        if model not in CHARGE_MODELS:
            errors.add("charge_model", "value_is_invalid")
            return c
        if model == "graduated_percentage" and not self.emu.premium:
            # lago-behaviour#graduated-percentage-premium: graduated_percentage needs a premium license
            errors.add("charge_model", "graduated_percentage_requires_premium_license")
        agg = bm["aggregation_type"]
        if (model == "dynamic" and agg != "sum_agg") or (model == "custom" and agg != "custom_agg") or (
            model in ("percentage", "graduated_percentage") and agg == "latest_agg"
        ):
            errors.add("charge_model", "invalid_aggregation_type_or_charge_model")
        # lago-behaviour#charge-full-replace: properties always replaced (omitted/empty ⇒ model defaults)
        c["properties"] = filter_properties(model, p.get("properties"))
        validate_properties(model, c["properties"], errors)
        if "filters" in p:
            c["filters"] = self._charge_filters(model, bm, p["filters"], errors, c["filters"])
        if "tax_codes" in p:
            c["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])
        if c["pay_in_advance"] and (as_int(c["min_amount_cents"]) or 0) > 0:
            errors.add("min_amount_cents", "not_compatible_with_pay_in_advance")  # lago-behaviour#charge-min-amount
        if c["pay_in_advance"] and (model == "volume" or agg not in PAY_IN_ADVANCE_AGGS):
            # lago-behaviour#charge-pay-in-advance
            errors.add("pay_in_advance", "invalid_aggregation_type_or_charge_model")
        if c["prorated"]:
            # lago-behaviour#charge-prorated: prorated only for recurring metrics with standard (advance) or
            # standard/volume/graduated (arrears), never weighted_sum_agg
            ok_models = ("standard",) if c["pay_in_advance"] else ("standard", "volume", "graduated")
            if not bm["recurring"] or agg == "weighted_sum_agg" or model not in ok_models:
                errors.add("prorated", "invalid_billable_metric_or_charge_model")
        if blank(c["code"]):
            c["code"] = self._auto_charge_code(plan, bm["code"])
        return c

    @staticmethod
    def _auto_charge_code(plan: dict, bm_code: str) -> str:
        """lago-behaviour#charge-code-default: code auto-generated from the metric when omitted.

        The emulator uses the metric code itself (docs/ARCHITECTURE.md "Kinds"), so a
        second charge of the same metric without an explicit code clashes (value_already_exist),
        like re-sending an existing charge without its id (lago-behaviour#plan-charge-code-clash).
        """
        return bm_code

    def _plan_charges(self, plan: dict, charges, errors: Errors, locked: bool) -> None:
        """lago-behaviour#plan-charges-reconciled: charges matched by id; unmatched created; existing not referenced deleted.

        Creation runs before deletion, so a charge re-sent without its id while its code exists
        → 422 {"code": ["value_already_exist"]} and the whole request is rolled back.
        """
        if not isinstance(charges, list):
            errors.add("charges", "value_is_invalid")
            return
        self._check_chargeables(charges)
        existing = {c["lago_id"]: c for c in plan["_charges"]}
        kept_ids = set()
        updated: list[dict] = []
        created: list[dict] = []
        for p in charges:
            if not isinstance(p, dict):
                errors.add("charges", "value_is_invalid")
                continue
            cid = p.get("id")
            if cid is not None and cid in existing:
                kept_ids.add(cid)
                updated.append(self._charge_build(plan, p, errors, existing[cid], locked))
            else:
                created.append(p)
        # apply updates in place (keep order), then create (code clash checked against all live charges)
        result = [next((u for u in updated if u["lago_id"] == c["lago_id"]), c) for c in plan["_charges"]]
        plan["_charges"] = result
        for p in created:
            c = self._charge_build(plan, p, errors, None, locked)
            if any(x["code"] == c["code"] for x in plan["_charges"]):
                errors.add("code", "value_already_exist")
                continue
            plan["_charges"].append(c)
            kept_ids.add(c["lago_id"])
        plan["_charges"] = [c for c in plan["_charges"] if c["lago_id"] in kept_ids]

    def _plan_apply(self, plan: dict, p: dict, errors: Errors, *, create: bool) -> None:
        locked = not create and self._plan_has_had_subscriptions(plan)
        # lago-behaviour#plan-locked-fields: always editable
        for key in ("name", "invoice_display_name", "description"):
            if key in p:
                plan[key] = p[key]
        if "amount_cents" in p:
            plan["amount_cents"] = as_int(p["amount_cents"], p["amount_cents"])
        if not locked:
            # lago-behaviour#plan-locked-fields: locked once the plan has any subscription (silently ignored)
            if "code" in p:
                plan["code"] = p["code"]
            if "interval" in p:
                plan["interval"] = p["interval"]
            if "amount_currency" in p:
                plan["amount_currency"] = p["amount_currency"]
            if "pay_in_advance" in p:
                plan["pay_in_advance"] = as_bool(p["pay_in_advance"], p["pay_in_advance"])
            if "trial_period" in p:
                tp = as_float(p["trial_period"])
                if tp is None and p["trial_period"] is not None:
                    errors.add("trial_period", "value_is_invalid")
                plan["trial_period"] = tp
            # lago-behaviour#plan-bill-charges-monthly: bill_charges_monthly only stored when the interval *in the same
            # request* is yearly/semiannual; otherwise null (omitting interval resets it)
            for key in ("bill_charges_monthly", "bill_fixed_charges_monthly"):
                if p.get("interval") in ("yearly", "semiannual"):
                    plan[key] = as_bool(p.get(key), None) if p.get(key) is not None else None
                else:
                    plan[key] = None
        if isinstance(p.get("charges"), list):
            self._check_chargeables(p["charges"])  # before anything is saved (lago-behaviour#plan-unknown-metric)
        # validations (lago-behaviour#plan-intervals)
        if blank(plan.get("name")):
            errors.add("name", "value_is_mandatory")
        self._check_code(PLAN, plan, errors)
        if plan.get("interval") not in PLAN_INTERVALS:
            errors.add("interval", "value_is_invalid")
        if not isinstance(plan.get("amount_cents"), int) or isinstance(plan.get("amount_cents"), bool):
            errors.add("amount_cents", "value_is_mandatory" if plan.get("amount_cents") is None else "value_is_invalid")
        elif plan["amount_cents"] < 0:
            errors.add("amount_cents", "value_is_out_of_range")
        check_currency(plan.get("amount_currency"), "amount_currency", errors)
        if plan.get("pay_in_advance") not in (True, False):
            errors.add("pay_in_advance", "value_is_invalid")
        if plan.get("trial_period") is not None and plan["trial_period"] < 0:
            errors.add("trial_period", "value_is_out_of_range")
        # lago-behaviour#plan-save-first: the plan is saved (and validated) before its metadata, taxes and
        # charges are processed, so an invalid plan field is reported alone
        errors.raise_if_any()
        if "metadata" in p:
            # lago-behaviour#plan-metadata-replace: key present ⇒ replace whole object; null ⇒ delete
            plan["_metadata"] = self._plan_metadata(p["metadata"], errors) if p["metadata"] is not None else None
            errors.raise_if_any()
        if "tax_codes" in p:
            plan["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])  # lago-behaviour#tax-codes-replace: replace
        if "charges" in p:
            self._plan_charges(plan, p["charges"], errors, locked)
        if "fixed_charges" in p:  # lago-behaviour#fixed-charge-reconcile: reconciled like charges
            self._plan_fixed_charges(plan, p["fixed_charges"], errors, locked)

    @staticmethod
    def _plan_metadata(value, errors: Errors) -> dict | None:
        """lago-behaviour#plan-metadata-shape: flat {str(≤100): str(≤255)|null}, ≤50 keys."""
        if not isinstance(value, dict):
            errors.add("metadata", "value_is_invalid")
            return None
        if len(value) > 50:
            errors.add("metadata", "invalid_count")
        out = {}
        for k, v in value.items():
            if len(str(k)) > 100 or (v is not None and (not isinstance(v, str) or len(v) > 255)):
                errors.add("metadata", "value_is_invalid")
                continue
            out[str(k)] = v
        return out

    def _plan_destroy_job(self, plan_id: str) -> None:
        """lago-behaviour#plan-delete-async: terminates active subscriptions, cancels pending ones, soft-deletes the plan."""
        plan = self.store.get(PLAN, plan_id)
        if plan is None or plan.get("_deleted_at"):
            return
        now = iso(self.emu.now())
        self._end_subscriptions("_plan_id", plan_id, now)
        plan = self.store.edit(PLAN, plan_id)
        plan["_deleted_at"] = now

    # -- plan metadata (lago-behaviour#plan-metadata-shape, lago-behaviour#plan-metadata-replace) --
    def _meta_body(self, req: Request) -> dict:
        body = req.body
        if not isinstance(body, dict) or "metadata" not in body:
            raise bad_request("param is missing or the value is empty or invalid: metadata")
        errors = Errors()
        value = self._plan_metadata(body["metadata"], errors)
        errors.raise_if_any()
        return value or {}

    def plan_meta_replace(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        plan["_metadata"] = self._meta_body(req)
        return {"metadata": plan["_metadata"]}

    def plan_meta_merge(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        plan["_metadata"] = {**(plan["_metadata"] or {}), **self._meta_body(req)}
        return {"metadata": plan["_metadata"]}

    def plan_meta_delete_all(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        plan["_metadata"] = None
        return {"metadata": None}

    def plan_meta_delete_key(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        meta = dict(plan["_metadata"] or {})
        meta.pop(req.params["key"], None)
        plan["_metadata"] = meta or None
        return {"metadata": plan["_metadata"]}

    # -- charges sub-resource (lago-behaviour#plan-charges-subresource) --
    def _charge_by_code(self, plan: dict, code: str) -> dict:
        for c in plan["_charges"]:
            if c["code"] == code:
                return c
        raise not_found("charge")

    def charge_list(self, req: Request):
        plan = self._by_code(PLAN, req.params["code"])
        rows = sorted(plan["_charges"], key=lambda c: c["created_at"], reverse=True)
        return self.emu.paginate(req, rows, "charges", lambda c: self._charge_out(plan, c))

    def charge_get(self, req: Request):
        plan = self._by_code(PLAN, req.params["code"])
        return {"charge": self._charge_out(plan, self._charge_by_code(plan, req.params["charge_code"]))}

    def charge_create(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        p = req.root("charge")
        self._check_chargeables([p])
        errors = Errors()
        c = self._charge_build(plan, p, errors, None, self._plan_has_had_subscriptions(plan))
        if any(x["code"] == c["code"] for x in plan["_charges"]):
            errors.add("code", "value_already_exist")
        errors.raise_if_any()
        plan["_charges"].append(c)
        return {"charge": self._charge_out(plan, c)}

    def charge_update(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        old = self._charge_by_code(plan, req.params["charge_code"])
        p = req.root("charge")
        self._check_chargeables([p])
        errors = Errors()
        c = self._charge_build(plan, p, errors, old, self._plan_has_had_subscriptions(plan))
        if any(x["code"] == c["code"] and x["lago_id"] != c["lago_id"] for x in plan["_charges"]):
            errors.add("code", "value_already_exist")
        errors.raise_if_any()
        plan["_charges"] = [c if x["lago_id"] == c["lago_id"] else x for x in plan["_charges"]]
        return {"charge": self._charge_out(plan, c)}

    def charge_delete(self, req: Request):
        plan = self._edit(PLAN, self._by_code(PLAN, req.params["code"]))
        c = self._charge_by_code(plan, req.params["charge_code"])
        plan["_charges"] = [x for x in plan["_charges"] if x["lago_id"] != c["lago_id"]]
        return {"charge": self._charge_out(plan, c)}

    # -- charge filters sub-resource (lago-behaviour#plan-charges-subresource): /plans/{code}/charges/{charge_code}/filters[/{filter_id}]
    def _filter_ctx(self, req: Request, edit: bool):
        plan = self._by_code(PLAN, req.params["code"])
        if edit:
            plan = self._edit(PLAN, plan)
        charge = self._charge_by_code(plan, req.params["charge_code"])
        return plan, charge

    @staticmethod
    def _filter_by_id(charge: dict, filter_id: str) -> dict:
        for f in charge["filters"]:
            if f["lago_id"] == filter_id:
                return f
        raise not_found("charge_filter")

    def filter_list(self, req: Request):
        _, charge = self._filter_ctx(req, edit=False)
        return self.emu.paginate(req, charge["filters"], "filters", lambda f: self._filter_out(charge, f))

    def filter_get(self, req: Request):
        _, charge = self._filter_ctx(req, edit=False)
        return {"filter": self._filter_out(charge, self._filter_by_id(charge, req.params["filter_id"]))}

    def filter_create(self, req: Request):
        _, charge = self._filter_ctx(req, edit=True)
        p = req.root("filter")
        bm = self._bm_by_id(charge["_bm_id"])
        assert bm is not None  # a metric's DELETE drops the charges using it (_bm_destroy)
        errors = Errors()
        values = self._filter_values(bm, p.get("values"), errors)
        props = self._filter_properties(charge["charge_model"], p.get("properties"), errors)
        if values and any(_values_key(f["values"]) == _values_key(values) for f in charge["filters"]):
            # filters are identified by their values hash (lago-behaviour#charge-filters): a second filter with the same
            # values would be ambiguous; Lago v1.51.0 does not check this, refusing it is a lagosync choice
            # (lago-behaviour#emulator-duplicate-charge-filter).
            errors.add("values", "value_already_exist")
        errors.raise_if_any()
        f = {"lago_id": self.emu.new_id(), "invoice_display_name": p.get("invoice_display_name"),
             "properties": props, "values": values}
        charge["filters"].append(f)
        return {"filter": self._filter_out(charge, f)}

    def filter_update(self, req: Request):
        _, charge = self._filter_ctx(req, edit=True)
        f = self._filter_by_id(charge, req.params["filter_id"])
        p = req.root("filter")
        errors = Errors()
        # partial update: only the keys present are applied
        if "invoice_display_name" in p:
            f["invoice_display_name"] = p["invoice_display_name"]
        if "properties" in p:
            f["properties"] = self._filter_properties(charge["charge_model"], p["properties"], errors)
        if "values" in p:
            bm = self._bm_by_id(charge["_bm_id"])
            assert bm is not None  # a metric's DELETE drops the charges using it (_bm_destroy)
            f["values"] = self._filter_values(bm, p["values"], errors)
            if any(o is not f and _values_key(o["values"]) == _values_key(f["values"]) for o in charge["filters"]):
                errors.add("values", "value_already_exist")
        errors.raise_if_any()
        return {"filter": self._filter_out(charge, f)}

    def filter_delete(self, req: Request):
        _, charge = self._filter_ctx(req, edit=True)
        f = self._filter_by_id(charge, req.params["filter_id"])
        charge["filters"] = [o for o in charge["filters"] if o is not f]
        return {"filter": self._filter_out(charge, f)}


def _values_key(values: dict) -> tuple:
    return tuple(sorted((k, tuple(v)) for k, v in values.items()))
