"""Lago resources: validation, storage and serialisation, per ../shared/LAGO-API-NOTES.md.

Stored objects are the serialised shape plus private fields prefixed with ``_`` (ids of related
objects, soft-delete stamps, creation order); ``_public()`` strips them.
"""

from __future__ import annotations

import calendar
import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .errors import ApiError, bad_request, forbidden, method_not_allowed, not_found, unprocessable
from .rules import (
    AGGREGATION_TYPES,
    ALL_FILTER_VALUES,
    CHARGE_MODELS,
    NON_RECURRING_AGGS,
    PAY_IN_ADVANCE_AGGS,
    PLAN_INTERVALS,
    YEARLY_FACTOR,
    Errors,
    as_bool,
    as_float,
    as_int,
    blank,
    check_currency,
    filter_properties,
    ruby_decimal,
    validate_properties,
)

if TYPE_CHECKING:
    from .core import Emulator, Request

from .core import LAGO_VERSION, iso
from .fixed_charges import FixedChargesMixin

BM, PLAN, TAX, ADD_ON, COUPON, CUSTOMER, SUB, APPLIED, EVENT, ORG = (
    "billable_metric", "plan", "tax", "add_on", "coupon", "customer", "subscription",
    "applied_coupon", "event", "organization",
)


def _public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _desc_created(rows: list[dict]) -> list[dict]:
    """notes §1.4: default order created_at DESC, id ASC (ties broken by id)."""
    rows = sorted(rows, key=lambda r: r["lago_id"])
    return sorted(rows, key=lambda r: r["_created"], reverse=True)


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            dt = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _add_months(d: date, months: int, day: int | None = None) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = day or d.day
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


# ==================================================================== code-keyed catalogue CRUD
@dataclass(frozen=True)
class Catalog:
    """One code-keyed catalogue resource (notes §2): POST /<plural>, GET /<plural> (list),
    GET/PUT/DELETE /<plural>/{code}. Each resource states only its own rules in the callables."""

    kind: str
    root: str  # singular envelope key (notes §1.2)
    plural: str  # path segment and list root
    fresh: Callable[[], dict]  # the serialised defaults of a new object
    apply: Callable[..., None]  # (obj, params, errors, *, create) -> None: assign + validate
    out: Callable[[dict], dict]  # write / list responses
    out_get: Callable[[dict], dict] | None = None  # GET /<plural>/{code} if it differs
    out_list: Callable[[dict], dict] | None = None  # list items if they differ
    after_update: Callable[[dict, dict], None] | None = None  # (before, after) side effects
    delete: Callable[[dict], None] | None = None  # mark deleted + side effects (default soft-delete)


class Resources(FixedChargesMixin):  # fixed charges: lagosync/emulator/fixed_charges.py
    def __init__(self, emu: Emulator):
        self.emu = emu
        self.store = emu.store
        self._due: datetime | None = None  # earliest time-driven subscription change (see tick)
        self._due_scan = True  # scan once after start (state may come from a db file)

    # ================================================================ routing
    def routes(self):
        r = [
            ("GET", "/organizations", self.org_get),
            ("PUT", "/organizations", self.org_update),
            *(route for cat in self.catalog for route in self._crud_routes(cat)),
            ("POST", "/plans/{code}/metadata", self.plan_meta_replace),
            ("PATCH", "/plans/{code}/metadata", self.plan_meta_merge),
            ("DELETE", "/plans/{code}/metadata", self.plan_meta_delete_all),
            ("DELETE", "/plans/{code}/metadata/{key}", self.plan_meta_delete_key),
            ("GET", "/plans/{code}/charges", self.charge_list),
            ("POST", "/plans/{code}/charges", self.charge_create),
            ("GET", "/plans/{code}/charges/{charge_code}", self.charge_get),
            ("PUT", "/plans/{code}/charges/{charge_code}", self.charge_update),
            ("DELETE", "/plans/{code}/charges/{charge_code}", self.charge_delete),
            ("GET", "/plans/{code}/charges/{charge_code}/filters", self.filter_list),
            ("POST", "/plans/{code}/charges/{charge_code}/filters", self.filter_create),
            ("GET", "/plans/{code}/charges/{charge_code}/filters/{filter_id}", self.filter_get),
            ("PUT", "/plans/{code}/charges/{charge_code}/filters/{filter_id}", self.filter_update),
            ("DELETE", "/plans/{code}/charges/{charge_code}/filters/{filter_id}", self.filter_delete),
            ("GET", "/plans/{code}/fixed_charges", self.fixed_charge_list),
            ("GET", "/plans/{code}/fixed_charges/{fixed_charge_code}", self.fixed_charge_get),
            ("POST", "/customers", self.customer_upsert),
            ("GET", "/customers", self.customer_list),
            ("GET", "/customers/{external_customer_id}", self.customer_get),
            ("DELETE", "/customers/{external_customer_id}", self.customer_delete),
            ("GET", "/customers/{external_customer_id}/subscriptions", self.customer_subscriptions),
            ("GET", "/customers/{external_customer_id}/applied_coupons", self.customer_applied_coupons),
            ("DELETE", "/customers/{external_customer_id}/applied_coupons/{applied_coupon_id}",
             self.applied_coupon_delete),
            ("GET", "/customers/{external_customer_id}/invoices", self.customer_invoices),
            ("POST", "/subscriptions", self.sub_create),
            ("GET", "/subscriptions", self.sub_list),
            ("GET", "/subscriptions/{external_id}", self.sub_get),
            ("PUT", "/subscriptions/{external_id}", self.sub_update),
            ("DELETE", "/subscriptions/{external_id}", self.sub_terminate),
            ("POST", "/applied_coupons", self.applied_coupon_create),
            ("GET", "/applied_coupons", self.applied_coupon_list),
            ("POST", "/events/batch", self.event_batch),
            ("POST", "/events", self.event_create),
            ("GET", "/events", self.event_list),
            ("GET", "/events/{transaction_id}", self.event_get),
            ("GET", "/invoices", self.invoice_list),
        ]
        return r

    # ================================================================ catalogue CRUD (shared logic)
    @property
    def catalog(self) -> tuple[Catalog, ...]:
        return (
            Catalog(BM, "billable_metric", "billable_metrics", self._bm_fresh, self._bm_apply, self._bm_out,
                    out_get=lambda bm: self._bm_out(bm, counters=False), delete=self._bm_destroy),
            Catalog(TAX, "tax", "taxes", self._tax_fresh, self._tax_apply, self._tax_out,
                    after_update=self._tax_after_update, delete=self._tax_destroy),
            Catalog(ADD_ON, "add_on", "add_ons", self._addon_fresh, self._addon_apply, self._addon_out,
                    delete=self._addon_destroy),  # notes §4.4: soft-deletes its fixed charges
            Catalog(PLAN, "plan", "plans", self._plan_fresh, self._plan_apply, self._plan_out,
                    out_list=lambda plan: self._plan_out(plan, single=False),
                    after_update=self._plan_after_update, delete=self._plan_prepare_destroy),
            Catalog(COUPON, "coupon", "coupons", self._coupon_fresh, self._coupon_apply, self._coupon_out,
                    delete=self._coupon_destroy),
        )

    def _crud_routes(self, cat: Catalog):
        base, one = f"/{cat.plural}", f"/{cat.plural}/{{code}}"

        def create(req: Request):
            obj = {"lago_id": self.emu.new_id(), **cat.fresh(), "created_at": iso(self.emu.now())}
            errors = Errors()
            cat.apply(obj, req.root(cat.root), errors, create=True)
            errors.raise_if_any()
            self._new(cat.kind, obj)
            return {cat.root: cat.out(obj)}

        def list_(req: Request):
            # notes §1.4: created_at DESC; deleted rows hidden (pending_deletion plans listed, §4.2)
            return self.emu.paginate(req, _desc_created(self._live(cat.kind)), cat.plural, cat.out_list or cat.out)

        def get(req: Request):
            return {cat.root: (cat.out_get or cat.out)(self._by_code(cat.kind, req.params["code"]))}

        def update(req: Request):
            obj = self._edit(cat.kind, self._by_code(cat.kind, req.params["code"]))
            before = dict(obj)
            errors = Errors()
            cat.apply(obj, req.root(cat.root), errors, create=False)
            errors.raise_if_any()  # nothing is written on error (unit of work rolled back)
            if cat.after_update:
                cat.after_update(before, obj)
            return {cat.root: cat.out(obj)}

        def delete(req: Request):
            obj = self._edit(cat.kind, self._by_code(cat.kind, req.params["code"]))
            if cat.delete:
                cat.delete(obj)
            else:
                obj["_deleted_at"] = iso(self.emu.now())
            return {cat.root: cat.out(obj)}

        return [("POST", base, create), ("GET", base, list_), ("GET", one, get), ("PUT", one, update),
                ("DELETE", one, delete)]

    def _check_code(self, kind: str, obj: dict, errors: Errors) -> None:
        """code required and unique among non-deleted objects of the kind (notes §1.5 value_already_exist)."""
        if blank(obj.get("code")):
            errors.add("code", "value_is_mandatory")
            return
        other = self._find_code(kind, obj["code"])
        if other is not None and other["lago_id"] != obj["lago_id"]:
            errors.add("code", "value_already_exist")

    # ---------------------------------------------------------------- per-kind defaults and hooks
    @staticmethod
    def _bm_fresh() -> dict:
        return {"name": None, "code": None, "description": None, "aggregation_type": None,
                "weighted_interval": None, "recurring": False, "rounding_function": None,
                "rounding_precision": None, "created_at": None, "field_name": None, "expression": None,
                "filters": []}

    def _bm_destroy(self, bm: dict) -> None:
        bm["_deleted_at"] = iso(self.emu.now())
        # notes §4.1: DELETE has no guard; soft-deletes every charge using it on every plan
        for plan in self._live(PLAN):
            if any(c["_bm_id"] == bm["lago_id"] for c in plan["_charges"]):
                plan = self._edit(PLAN, plan)
                plan["_charges"] = [c for c in plan["_charges"] if c["_bm_id"] != bm["lago_id"]]

    @staticmethod
    def _tax_fresh() -> dict:
        return {"name": None, "code": None, "rate": None, "description": None,
                "applied_to_organization": False}

    def _tax_after_update(self, before: dict, tax: dict) -> None:
        if tax["code"] != before["code"]:
            self._rename_tax(before["code"], tax["code"])  # notes §4.4: code editable

    def _tax_destroy(self, tax: dict) -> None:
        tax["_deleted_at"] = iso(self.emu.now())
        # notes §4.4: DELETE detaches the tax from customers, plans, charges, add-ons
        self._rename_tax(tax["code"], None)

    @staticmethod
    def _addon_fresh() -> dict:
        return {"name": None, "invoice_display_name": None, "code": None, "amount_cents": None,
                "amount_currency": None, "created_at": None, "description": None, "_tax_codes": []}

    @staticmethod
    def _plan_fresh() -> dict:
        return {"name": None, "invoice_display_name": None, "created_at": None, "code": None, "interval": None,
                "description": None, "amount_cents": None, "amount_currency": None, "trial_period": None,
                "pay_in_advance": False, "bill_charges_monthly": None, "bill_fixed_charges_monthly": None,
                "pending_deletion": False, "_charges": [], "_tax_codes": [], "_metadata": None}

    def _plan_after_update(self, before: dict, plan: dict) -> None:
        if plan["amount_cents"] != before["amount_cents"]:
            self._reevaluate_plan_changes(plan)  # notes §4.2

    def _plan_prepare_destroy(self, plan: dict) -> None:
        # notes §4.2: never refused; pending_deletion now, Plans::DestroyJob later (see Emulator docs)
        plan["pending_deletion"] = True
        plan_id = plan["lago_id"]
        self.emu.enqueue(lambda: self._plan_destroy_job(plan_id))

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
        # notes §4.3: DELETE terminates all active applied coupons
        for a in self.store.find(APPLIED, "_coupon_id", cp["lago_id"]):
            if a["status"] == "active":
                self.store.edit(APPLIED, a["lago_id"]).update(status="terminated", terminated_at=now)

    # ================================================================ lookups
    def _live(self, kind: str) -> list[dict]:
        return [o for o in self.store.all(kind) if not o.get("_deleted_at")]

    def _by_code(self, kind: str, code: str, resource: str | None = None) -> dict:
        found = self._find_code(kind, code)
        if found is None:
            raise not_found(resource or kind)
        return found

    def _find_code(self, kind: str, code) -> dict | None:
        for o in self.store.find(kind, "code", code):
            if not o.get("_deleted_at"):
                return o
        return None

    def _edit(self, kind: str, obj: dict) -> dict:
        return self.store.edit(kind, obj["lago_id"])

    def _new(self, kind: str, obj: dict) -> dict:
        obj.setdefault("lago_id", self.emu.new_id())
        obj["_created"] = self.emu.stamp()
        obj.setdefault("created_at", iso(self.emu.now()))
        return self.store.put(kind, obj["lago_id"], obj)

    def _taxes_for(self, codes) -> list[dict]:
        out = []
        for code in codes or []:
            tax = self._find_code(TAX, code)
            if tax:
                out.append(self._tax_out(tax))
        return out

    def _resolve_tax_codes(self, codes) -> list[str]:
        """Unknown tax code → 404 tax_not_found (notes §3.2)."""
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

    # ================================================================ health / organization
    def health(self) -> dict:
        # notes §1.1: GET /health returns {version, github_url, message}
        return {"version": LAGO_VERSION, "github_url": "https://github.com/getlago/lago-api", "message": "Success"}

    def _org(self) -> dict:
        for o in self.store.all(ORG):
            return o
        org = {
            "lago_id": self.emu.new_id(), "name": "Lago emulator", "slug": "lago-emulator",
            "created_at": iso(self.emu.now()), "default_currency": "USD", "webhook_url": None,
            "webhook_urls": [], "country": None, "address_line1": None, "address_line2": None,
            "state": None, "zipcode": None, "email": None, "city": None, "legal_name": None,
            "legal_number": None, "timezone": "UTC", "net_payment_term": 0, "email_settings": [],
            "document_numbering": "per_customer", "document_number_prefix": "LAG-1234",
            "tax_identification_number": None, "finalize_zero_amount_invoice": True,
            "billing_configuration": {"invoice_footer": None, "invoice_grace_period": 0, "document_locale": "en"},
            "_created": self.emu.stamp(),
        }
        return self.store.put(ORG, org["lago_id"], org)

    def _org_out(self, org: dict) -> dict:
        out = _public(org)
        out["taxes"] = [self._tax_out(t) for t in self._live(TAX) if t.get("applied_to_organization")]
        return out

    def org_get(self, req: Request):
        # notes §6: GET /organizations exists but is undocumented
        return {"organization": self._org_out(self._org())}

    def org_update(self, req: Request):
        # notes §3.14
        params = req.root("organization")
        org = self.store.edit(ORG, self._org()["lago_id"])
        errors = Errors()
        for key in ("country", "default_currency", "address_line1", "address_line2", "state", "zipcode",
                    "email", "city", "legal_name", "legal_number", "net_payment_term",
                    "tax_identification_number", "timezone", "webhook_url", "document_numbering",
                    "document_number_prefix", "finalize_zero_amount_invoice", "email_settings"):
            if key in params:
                org[key] = params[key]
        if "default_currency" in params:
            check_currency(params["default_currency"], "default_currency", errors)
        if params.get("document_numbering") not in (None, "per_customer", "per_organization"):
            errors.add("document_numbering", "value_is_invalid")
        if isinstance(params.get("billing_configuration"), dict):
            bc = params["billing_configuration"]
            for key in ("invoice_footer", "invoice_grace_period", "document_locale"):
                if key in bc:
                    org["billing_configuration"][key] = bc[key]
        errors.raise_if_any()
        return {"organization": self._org_out(org)}

    # ================================================================ billable metrics (§3.1, §4.1)
    def _bm_out(self, bm: dict, counters: bool = True) -> dict:
        out = _public(bm)
        # notes §3.1: filters with sorted values; deprecated counters always 0
        out["filters"] = [{"key": f["key"], "values": sorted(f["values"])} for f in bm["filters"]]
        if counters:
            out.update(active_subscriptions_count=0, draft_invoices_count=0, plans_count=0)
        return out

    def _bm_in_use(self, bm: dict) -> bool:
        """notes §4.1: used by a charge of any non-deleted plan (pending_deletion plans count)."""
        return any(c["_bm_id"] == bm["lago_id"] for p in self._live(PLAN) for c in p["_charges"])

    def _bm_filters(self, value, errors: Errors) -> list[dict]:
        if not isinstance(value, list):
            errors.add("filters", "value_is_invalid")
            return []
        out: dict[str, list] = {}
        for f in value:
            if not isinstance(f, dict) or blank(f.get("key")):
                errors.add("filters", "value_is_invalid")
                continue
            values = f.get("values")
            if not isinstance(values, list) or not values:
                # notes §4.1: every filter must have non-empty values
                errors.add("values", "value_is_mandatory")
                continue
            out[str(f["key"])] = [str(v) for v in dict.fromkeys(values)]
        return [{"key": k, "values": v} for k, v in out.items()]

    def _bm_apply(self, bm: dict, p: dict, errors: Errors, *, create: bool) -> None:
        locked = not create and self._bm_in_use(bm)
        for key in ("name", "description"):
            if key in p:
                bm[key] = p[key]
        if "filters" in p:
            # notes §4.1: filters replaced by key (listed keys upserted, others dropped); []=delete all
            self._bm_set_filters(bm, self._bm_filters(p["filters"], errors))
        if locked:
            # notes §4.1: once used by a plan charge, the other fields are silently ignored
            return
        for key in ("code", "aggregation_type", "weighted_interval", "field_name", "expression",
                    "rounding_function", "rounding_precision"):
            if key in p:
                bm[key] = p[key]
        if "recurring" in p:
            bm["recurring"] = bool(as_bool(p["recurring"], False))
        agg = bm.get("aggregation_type")
        if agg not in AGGREGATION_TYPES:
            errors.add("aggregation_type", "value_is_invalid")
            bm["aggregation_type"] = None
        elif agg == "custom_agg":
            # notes §3.1: custom_agg needs the org's custom_aggregation flag → 403
            raise forbidden("feature_unavailable")
        if agg == "count_agg":
            bm["field_name"] = None  # notes §3.1: forced to null for count_agg
        elif agg in AGGREGATION_TYPES and blank(bm.get("field_name")):
            errors.add("field_name", "value_is_mandatory")
        if bm.get("recurring") and agg in NON_RECURRING_AGGS:
            errors.add("recurring", "not_compatible_with_aggregation_type")
        if agg == "weighted_sum_agg" and bm.get("weighted_interval") != "seconds":
            # notes §3.1: weighted_interval only "seconds", required for weighted_sum_agg
            errors.add("weighted_interval", "value_is_invalid")
        if bm.get("rounding_function") not in (None, "round", "ceil", "floor"):
            errors.add("rounding_function", "value_is_invalid")
        if bm.get("rounding_precision") is not None and as_int(bm["rounding_precision"]) is None:
            errors.add("rounding_precision", "value_is_invalid")
        if blank(bm.get("name")):
            errors.add("name", "value_is_mandatory")
        self._check_code(BM, bm, errors)

    def _bm_set_filters(self, bm: dict, filters: list[dict]) -> None:
        old = {f["key"]: set(f["values"]) for f in bm.get("filters", [])}
        bm["filters"] = filters
        new = {f["key"]: set(f["values"]) for f in filters}
        if old == new or not bm.get("lago_id"):
            return
        # notes §4.1: values removed from a key are trimmed out of charge filters; empty ones dropped
        for plan in self._live(PLAN):
            if not any(c["_bm_id"] == bm["lago_id"] and c["filters"] for c in plan["_charges"]):
                continue
            plan = self._edit(PLAN, plan)
            for c in plan["_charges"]:
                if c["_bm_id"] != bm["lago_id"]:
                    continue
                kept = []
                for f in c["filters"]:
                    values = {}
                    for k, vs in f["values"].items():
                        if k not in new:
                            continue
                        vs = [v for v in vs if v == ALL_FILTER_VALUES or v in new[k]]
                        if vs:
                            values[k] = vs
                    if values:
                        f["values"] = values
                        kept.append(f)
                c["filters"] = kept

    # ================================================================ taxes (§3.7)
    def _tax_out(self, tax: dict) -> dict:
        out = _public(tax)
        out["rate"] = float(tax["rate"])  # notes §3.7/§6: rate is a float in responses
        # notes §3.7: counters add_ons_count…commitments_count, all 0
        out.update(add_ons_count=0, charges_count=0, customers_count=0, plans_count=0, commitments_count=0)
        out["applied_to_billing_entities_codes"] = []
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
                for c in obj.get("_charges", []) + obj.get("_fixed_charges", []):  # fixed charges: notes §4.4
                    c["_tax_codes"] = fix(c.get("_tax_codes", []))

    # ================================================================ add-ons (§3.5, §4.4)
    def _addon_out(self, a: dict) -> dict:
        out = _public(a)
        out["taxes"] = self._taxes_for(a["_tax_codes"])
        return out

    def _addon_apply(self, a: dict, p: dict, errors: Errors, *, create: bool) -> None:
        # notes §4.4: all fields editable at any time; tax_codes key ⇒ replace
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
            # notes §3.5: amount_cents must be > 0
            errors.add("amount_cents", "value_is_out_of_range" if isinstance(a.get("amount_cents"), int)
                       else "value_is_mandatory")
        check_currency(a.get("amount_currency"), "amount_currency", errors)
        self._check_code(ADD_ON, a, errors)

    # ================================================================ plans (§3.2, §3.3, §4.2)
    def _plan_has_had_subscriptions(self, plan: dict) -> bool:
        """notes §4.2: attached_to_subscriptions? = any subscription, any status."""
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
        """notes §3.3: charge filter {lago_id, charge_code, invoice_display_name, properties, values}."""
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
            # notes §3.2: the list endpoint does not include fixed_charges
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
        """notes §4.2: unknown billable_metric_id anywhere → 404 billable_metrics_not_found first."""
        for c in charges:
            if isinstance(c, dict) and "billable_metric_id" in c and self._bm_by_id(c["billable_metric_id"]) is None:
                raise not_found("billable_metrics")

    def _filter_values(self, bm: dict, values, errors: Errors) -> dict:
        """notes §3.3: non-empty {key: [values]}; every key/value one of the metric filter's (or ALL)."""
        if not isinstance(values, dict) or not values:
            errors.add("values", "value_is_mandatory")
            return {}
        bm_filters = {f["key"]: set(f["values"]) for f in bm["filters"]}
        clean = {}
        for k, vs in values.items():
            vs = vs if isinstance(vs, list) else [vs]
            if k not in bm_filters or any(v != ALL_FILTER_VALUES and v not in bm_filters[k] for v in vs):
                errors.add("values", "value_is_invalid")
                continue
            clean[k] = [str(v) for v in vs]
        return clean

    def _filter_properties(self, model: str, props, errors: Errors) -> dict:
        """notes §3.3: a filter's properties use the charge model's keys (presentation_group_keys stripped)."""
        out = filter_properties(model, props, for_filter=True)
        validate_properties(model, out, errors)
        return out

    def _charge_filters(self, model: str, bm: dict, value, errors: Errors, existing: list[dict]) -> list[dict]:
        """notes §3.3/§4.2: filters reconciled by exact values hash; values must be metric filter values."""
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
        """Create (existing None) or update a charge; per-charge update is a full replace (notes §4.2)."""
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
        bm = self._bm_by_id(c["_bm_id"])
        if bm is None:
            if c["_bm_id"] is None:
                errors.add("billable_metric", "value_is_mandatory")
                return c
            raise not_found("billable_metrics")
        if new or not locked:
            # notes §4.2: charge_model is ignored once the plan has subscriptions
            c["charge_model"] = p.get("charge_model")
        # notes §4.2: invoice_display_name always assigned (omitted ⇒ cleared)
        c["invoice_display_name"] = p.get("invoice_display_name")
        model = c["charge_model"]
        if model is None:
            errors.add("charge_model", "value_is_mandatory")
            return c
        if model not in CHARGE_MODELS:
            errors.add("charge_model", "value_is_invalid")
            return c
        if model == "graduated_percentage":
            # notes §4.9: graduated_percentage needs a premium license
            errors.add("charge_model", "graduated_percentage_requires_premium_license")
        agg = bm["aggregation_type"]
        if (model == "dynamic" and agg != "sum_agg") or (model == "custom" and agg != "custom_agg") or (
            model in ("percentage", "graduated_percentage") and agg == "latest_agg"
        ):
            errors.add("charge_model", "invalid_aggregation_type_or_charge_model")
        # notes §4.2: properties always replaced (omitted/empty ⇒ model defaults)
        c["properties"] = filter_properties(model, p.get("properties"))
        validate_properties(model, c["properties"], errors)
        if "filters" in p:
            c["filters"] = self._charge_filters(model, bm, p["filters"], errors, c["filters"])
        if "tax_codes" in p:
            c["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])
        if c["pay_in_advance"] and (model == "volume" or agg not in PAY_IN_ADVANCE_AGGS):
            # notes §3.3
            errors.add("pay_in_advance", "invalid_aggregation_type_or_charge_model")
        if c["prorated"]:
            # notes §3.3: prorated only for recurring metrics with standard (advance) or
            # standard/volume/graduated (arrears), never weighted_sum_agg
            ok_models = ("standard",) if c["pay_in_advance"] else ("standard", "volume", "graduated")
            if not bm["recurring"] or agg == "weighted_sum_agg" or model not in ok_models:
                errors.add("prorated", "invalid_billable_metric_or_charge_model")
        if blank(c["code"]):
            c["code"] = self._auto_charge_code(plan, bm["code"])
        return c

    @staticmethod
    def _auto_charge_code(plan: dict, bm_code: str) -> str:
        """notes §3.3: code auto-generated from the metric when omitted.

        The emulator uses the metric code itself (docs/ARCHITECTURE.md "Kinds and identity"), so a
        second charge of the same metric without an explicit code clashes (value_already_exist),
        like re-sending an existing charge without its id (notes §4.2).
        """
        return bm_code

    def _plan_charges(self, plan: dict, charges, errors: Errors, locked: bool) -> None:
        """notes §4.2: charges matched by id; unmatched created; existing not referenced deleted.

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
        # notes §4.2: always editable
        for key in ("name", "invoice_display_name", "description"):
            if key in p:
                plan[key] = p[key]
        if "amount_cents" in p:
            plan["amount_cents"] = as_int(p["amount_cents"], p["amount_cents"])
        if not locked:
            # notes §4.2: locked once the plan has any subscription (silently ignored)
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
            # notes §3.2/§4.2 pitfall: bill_charges_monthly only stored when the interval *in the same
            # request* is yearly/semiannual; otherwise null (omitting interval resets it)
            for key in ("bill_charges_monthly", "bill_fixed_charges_monthly"):
                if p.get("interval") in ("yearly", "semiannual"):
                    plan[key] = as_bool(p.get(key), None) if p.get(key) is not None else None
                else:
                    plan[key] = None
        if "tax_codes" in p:
            plan["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])  # notes §4.2: replace
        if "metadata" in p:
            # notes §4.2: key present ⇒ replace whole object; null ⇒ delete
            plan["_metadata"] = self._plan_metadata(p["metadata"], errors) if p["metadata"] is not None else None
        # validations (notes §3.2)
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
        if "charges" in p:
            self._plan_charges(plan, p["charges"], errors, locked)
        if "fixed_charges" in p:  # notes §3.4: reconciled like charges
            self._plan_fixed_charges(plan, p["fixed_charges"], errors, locked)

    @staticmethod
    def _plan_metadata(value, errors: Errors) -> dict | None:
        """notes §3.2: flat {str(≤100): str(≤255)|null}, ≤50 keys."""
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
        """notes §4.2: terminates active subscriptions, cancels pending ones, soft-deletes the plan."""
        plan = self.store.get(PLAN, plan_id)
        if plan is None or plan.get("_deleted_at"):
            return
        now = iso(self.emu.now())
        for s in self.store.find(SUB, "_plan_id", plan_id):
            if s["status"] in ("active", "pending"):
                s = self.store.edit(SUB, s["lago_id"])
                if s["status"] == "active":
                    s.update(status="terminated", terminated_at=now)
                else:
                    s.update(status="canceled", canceled_at=now)
        plan = self.store.edit(PLAN, plan_id)
        plan["_deleted_at"] = now

    # -- plan metadata (notes §3.2 / §4.2) --
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

    # -- charges sub-resource (notes §2, §4.2) --
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

    # -- charge filters sub-resource (notes §1.3, §2): /plans/{code}/charges/{charge_code}/filters[/{filter_id}]
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
        errors = Errors()
        values = self._filter_values(bm, p.get("values"), errors)
        props = self._filter_properties(charge["charge_model"], p.get("properties"), errors)
        if values and any(_values_key(f["values"]) == _values_key(values) for f in charge["filters"]):
            # filters are identified by their values hash (notes §1.3): a second filter with the same
            # values would be ambiguous. Lago's exact code here is not in the notes (choice, see report).
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
            f["values"] = self._filter_values(self._bm_by_id(charge["_bm_id"]), p["values"], errors)
            if any(o is not f and _values_key(o["values"]) == _values_key(f["values"]) for o in charge["filters"]):
                errors.add("values", "value_already_exist")
        errors.raise_if_any()
        return {"filter": self._filter_out(charge, f)}

    def filter_delete(self, req: Request):
        _, charge = self._filter_ctx(req, edit=True)
        f = self._filter_by_id(charge, req.params["filter_id"])
        charge["filters"] = [o for o in charge["filters"] if o is not f]
        return {"filter": self._filter_out(charge, f)}

    # ================================================================ coupons (§3.6, §4.3)
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
        # notes §4.3: always editable
        for key in ("name", "description", "expiration", "expiration_at"):
            if key in p:
                cp[key] = p[key]
        locked = not create and self._coupon_applied_ever(cp)
        if not locked:
            # notes §4.3: everything else silently ignored once the coupon has been applied
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
            # notes §4.3 pitfall: a PUT without applies_to empties the targets, limited_* unchanged
            applies = p.get("applies_to") if isinstance(p.get("applies_to"), dict) else {}
            plan_codes = applies.get("plan_codes") or []
            bm_codes = applies.get("billable_metric_codes") or []
            if plan_codes and bm_codes:
                # notes §3.6: plan codes or metric codes, not both → 405
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

    # ================================================================ customers (§3.8, §4.5)
    CUSTOMER_FIELDS = (
        "account_type", "name", "firstname", "lastname", "customer_type", "country", "address_line1",
        "address_line2", "state", "zipcode", "email", "city", "url", "phone", "logo_url", "legal_name",
        "legal_number", "tax_identification_number", "net_payment_term", "external_salesforce_id",
        "finalize_zero_amount_invoice", "skip_invoice_custom_sections",
    )
    BILLING_CONFIG_FIELDS = (
        "invoice_grace_period", "payment_provider", "payment_provider_code", "document_locale",
        "subscription_invoice_issuing_date_anchor", "subscription_invoice_issuing_date_adjustment",
        "provider_customer_id", "provider_payment_methods", "sync", "sync_with_provider",
    )

    def _customer_out(self, c: dict, single: bool = True) -> dict:
        out = _public(c)
        out["updated_at"] = c["updated_at"]
        out["metadata"] = [dict(m) for m in c["_metadata"]]
        out["taxes"] = self._taxes_for(c["_tax_codes"])
        out["integration_customers"] = []
        if single:
            out["applicable_invoice_custom_sections"] = []
        return out

    def _customer_by_ext(self, ext: str) -> dict:
        for c in self.store.find(CUSTOMER, "external_id", ext):
            if not c.get("_deleted_at"):
                return c
        raise not_found("customer")

    def _find_customer(self, ext: str) -> dict | None:
        try:
            return self._customer_by_ext(ext)
        except ApiError:
            return None

    def _new_customer(self, ext: str) -> dict:
        now = iso(self.emu.now())
        seq = self.store.count(CUSTOMER) + 1
        c = {
            "lago_id": self.emu.new_id(), "billing_entity_code": "default", "external_id": ext,
            "account_type": "customer", "name": None, "firstname": None, "lastname": None,
            "customer_type": None, "sequential_id": seq, "slug": f"LAG-{seq:04d}", "created_at": now,
            "updated_at": now, "country": None, "address_line1": None, "address_line2": None, "state": None,
            "zipcode": None, "email": None, "city": None, "url": None, "phone": None, "logo_url": None,
            "legal_name": None, "legal_number": None, "currency": None, "tax_identification_number": None,
            "timezone": None, "applicable_timezone": "UTC", "net_payment_term": None,
            "external_salesforce_id": None, "finalize_zero_amount_invoice": "inherit",
            "skip_invoice_custom_sections": False,
            "billing_configuration": {
                "invoice_grace_period": None, "payment_provider": None, "payment_provider_code": None,
                "provider_customer_id": None, "sync": False, "sync_with_provider": False,
                "document_locale": None, "provider_payment_methods": [],
                "subscription_invoice_issuing_date_anchor": "next_period_start",
                "subscription_invoice_issuing_date_adjustment": "align_with_finalization_date",
            },
            "shipping_address": {"address_line1": None, "address_line2": None, "city": None, "zipcode": None,
                                 "state": None, "country": None},
            "_metadata": [], "_tax_codes": [],
        }
        return self._new(CUSTOMER, c)

    def _customer_editable(self, c: dict) -> bool:
        """notes §4.5 [≤v1.51.0]: editable = no subscriptions, no currency-bearing applied coupons."""
        if self.store.find(SUB, "_customer_id", c["lago_id"]):
            return False
        return not any(a.get("amount_currency") for a in self.store.find(APPLIED, "_customer_id", c["lago_id"]))

    def _customer_metadata(self, c: dict, items, errors: Errors) -> None:
        """notes §4.5: id-based reconciliation; create before delete; max 5 entries."""
        if not isinstance(items, list):
            errors.add("metadata", "value_is_invalid")
            return
        if len(items) > 5:
            errors.add("metadata", "invalid_count")
            return
        current = {m["lago_id"]: m for m in c["_metadata"]}
        result: list[dict] = []
        keep_ids = set()
        created = []
        for item in items:
            if not isinstance(item, dict):
                errors.add("metadata", "value_is_invalid")
                continue
            if item.get("id") in current:
                m = dict(current[item["id"]])
                for k in ("key", "value"):
                    if k in item:
                        m[k] = item[k]
                if "display_in_invoice" in item:
                    m["display_in_invoice"] = bool(as_bool(item["display_in_invoice"], False))
                keep_ids.add(m["lago_id"])
                result.append(m)
            else:
                created.append(item)
        # creation precedes deletion: a new key equal to ANY existing key clashes (value_already_exist)
        existing_keys = {m["key"] for m in c["_metadata"]} | {m["key"] for m in result}
        new_items = []
        for item in created:
            key, value = item.get("key"), item.get("value")
            if blank(key) or blank(value):
                errors.add("key" if blank(key) else "value", "value_is_mandatory")
                continue
            if len(str(key)) > 20 or len(str(value)) > 100:
                errors.add("key" if len(str(key)) > 20 else "value", "value_is_too_long")
                continue
            if key in existing_keys:
                errors.add("key", "value_already_exist")
                continue
            existing_keys.add(key)
            new_items.append({
                "lago_id": self.emu.new_id(), "key": key, "value": value,
                "display_in_invoice": bool(as_bool(item.get("display_in_invoice"), False)),
                "created_at": iso(self.emu.now()),
            })
        c["_metadata"] = [m for m in c["_metadata"] if m["lago_id"] in keep_ids]
        c["_metadata"] = [next(r for r in result if r["lago_id"] == m["lago_id"]) for m in c["_metadata"]]
        c["_metadata"] += new_items

    def customer_upsert(self, req: Request):
        p = req.root("customer")
        errors = Errors()
        ext = p.get("external_id")
        if blank(ext):
            errors.add("external_id", "value_is_mandatory")
            errors.raise_if_any()
        ext = str(ext)
        # notes §4.5: find_or_initialize_by(external_id); only keys present are applied
        existing = self._find_customer(ext)
        c = self._edit(CUSTOMER, existing) if existing else self._new_customer(ext)
        for key in self.CUSTOMER_FIELDS:
            if key in p:
                c[key] = p[key]
        if "timezone" in p:
            pass  # notes §3.8: timezone is premium-only, silently ignored
        if "billing_entity_code" in p and p["billing_entity_code"] not in (None, "default") and not existing:
            raise not_found("billing_entity")
        if "currency" in p and p["currency"] != c["currency"]:
            check_currency(p["currency"], "currency", errors, required=False)
            if existing and c["currency"] is not None and not self._customer_editable(c):
                # notes §4.5 [≤v1.51.0]: currency only changeable while the customer is editable
                errors.add("currency", "currencies_does_not_match")
            else:
                c["currency"] = p["currency"]
        if isinstance(p.get("billing_configuration"), dict):
            bc = p["billing_configuration"]
            for key in self.BILLING_CONFIG_FIELDS:
                if key in bc and key != "invoice_grace_period":  # premium-only (notes §3.8)
                    c["billing_configuration"][key] = bc[key]
        if isinstance(p.get("shipping_address"), dict):
            for key, value in p["shipping_address"].items():
                if key in c["shipping_address"]:
                    c["shipping_address"][key] = value
        if "tax_codes" in p:
            c["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])  # notes §4.5: replace
        if "metadata" in p:
            self._customer_metadata(c, p["metadata"] if p["metadata"] is not None else [], errors)
        if c.get("customer_type") not in (None, "company", "individual"):
            errors.add("customer_type", "value_is_invalid")
        if c.get("finalize_zero_amount_invoice") not in ("inherit", "skip", "finalize"):
            errors.add("finalize_zero_amount_invoice", "value_is_invalid")
        if c.get("net_payment_term") is not None and (as_int(c["net_payment_term"]) is None or as_int(c["net_payment_term"]) < 0):
            errors.add("net_payment_term", "value_is_invalid")
        if c.get("name") is not None and len(str(c["name"])) > 255:
            errors.add("name", "value_is_too_long")
        if c.get("email") and "@" not in str(c["email"]):
            errors.add("email", "invalid_email_format")
        errors.raise_if_any()
        c["updated_at"] = iso(self.emu.now())
        return {"customer": self._customer_out(c)}

    def customer_list(self, req: Request):
        return self.emu.paginate(req, _desc_created(self._live(CUSTOMER)), "customers",
                                 lambda c: self._customer_out(c, single=False))

    def customer_get(self, req: Request):
        return {"customer": self._customer_out(self._customer_by_ext(req.params["external_customer_id"]))}

    def customer_delete(self, req: Request):
        c = self._edit(CUSTOMER, self._customer_by_ext(req.params["external_customer_id"]))
        now = iso(self.emu.now())
        c["_deleted_at"] = now
        # notes §4.5: terminates active subscriptions, cancels pending ones, terminates applied
        # coupons (run synchronously here)
        for s in self.store.find(SUB, "_customer_id", c["lago_id"]):
            if s["status"] in ("active", "pending"):
                s = self.store.edit(SUB, s["lago_id"])
                if s["status"] == "active":
                    s.update(status="terminated", terminated_at=now)
                else:
                    s.update(status="canceled", canceled_at=now)
        for a in self.store.find(APPLIED, "_customer_id", c["lago_id"]):
            if a["status"] == "active":
                self.store.edit(APPLIED, a["lago_id"]).update(status="terminated", terminated_at=now)
        return {"customer": self._customer_out(c)}

    def customer_subscriptions(self, req: Request):
        c = self._customer_by_ext(req.params["external_customer_id"])
        return self._sub_list(req, customer_id=c["lago_id"])

    def customer_applied_coupons(self, req: Request):
        c = self._customer_by_ext(req.params["external_customer_id"])
        return self._applied_list(req, customer_id=c["lago_id"])

    def customer_invoices(self, req: Request):
        self._customer_by_ext(req.params["external_customer_id"])
        return self.emu.paginate(req, [], "invoices", dict)

    # ================================================================ subscriptions (§3.9, §4.6)
    def _period(self, s: dict, plan: dict, now: datetime) -> tuple[datetime, datetime]:
        """Current billing period [start, end] for calendar/anniversary billing."""
        interval = plan["interval"]
        today = now.date()
        anchor = (_parse_time(s["subscription_at"]) or now).date()
        months = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}.get(interval)
        if interval == "weekly":
            if s["billing_time"] == "anniversary":
                delta = (today - anchor).days % 7
                start = today - timedelta(days=delta)
            else:
                start = today - timedelta(days=today.weekday())
            end = start + timedelta(days=6)
        elif s["billing_time"] == "anniversary":
            total = (today.year - anchor.year) * 12 + today.month - anchor.month
            k = total // months
            start = _add_months(anchor, k * months, anchor.day)
            if start > today:
                start = _add_months(anchor, (k - 1) * months, anchor.day)
            end = _add_months(anchor, (total // months + 1) * months, anchor.day) - timedelta(days=1)
            if end < start:
                end = _add_months(start, months) - timedelta(days=1)
        else:
            first_month = ((today.month - 1) // months) * months + 1
            start = date(today.year, first_month, 1)
            end = _add_months(start, months) - timedelta(days=1)
        start_dt = datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc)
        end_dt = datetime.combine(end, datetime.max.time().replace(microsecond=0), tzinfo=timezone.utc)
        return start_dt, end_dt

    def _next_sub(self, s: dict) -> dict | None:
        for n in self.store.find(SUB, "_previous_id", s["lago_id"]):
            if n["status"] in ("pending", "active"):
                return n
        return None

    def _sub_out(self, s: dict, single: bool = True) -> dict:
        plan = self.store.get(PLAN, s["_plan_id"])
        prev = self.store.get(SUB, s["_previous_id"]) if s.get("_previous_id") else None
        prev_plan = self.store.get(PLAN, prev["_plan_id"]) if prev else None
        nxt = self._next_sub(s)
        next_plan = self.store.get(PLAN, nxt["_plan_id"]) if nxt else None
        out = _public(s)
        out["plan_code"] = plan["code"]
        out["plan_amount_cents"] = plan["amount_cents"]
        out["plan_amount_currency"] = plan["amount_currency"]
        out["previous_plan_code"] = prev_plan["code"] if prev_plan else None
        out["next_plan_code"] = next_plan["code"] if next_plan else None
        out["downgrade_plan_date"] = None
        out["current_billing_period_started_at"] = None
        out["current_billing_period_ending_at"] = None
        if s["status"] == "active":
            start, end = self._period(s, plan, self.emu.now())
            out["current_billing_period_started_at"] = iso(start)
            out["current_billing_period_ending_at"] = iso(end)
            if nxt is not None and nxt["status"] == "pending":
                # notes §4.6/A.6: downgrade happens at the end of the billing period it was scheduled in
                at = _parse_time(nxt.get("_downgrade_at")) or end + timedelta(seconds=1)
                out["downgrade_plan_date"] = at.date().isoformat()
        out["payment_method"] = {"payment_method_id": None, "payment_method_type": "provider"}
        out["activation_rules"] = []
        if single:
            # notes §3.9: single-object responses embed the plan; list items do not
            out["plan"] = self._plan_out(plan)
            out["entitlements"] = []
            out["applicable_usage_thresholds"] = []
            out["applied_invoice_custom_sections"] = []
        return out

    def _sub_rows(self, ext: str, status: str | None) -> dict:
        status = status or "active"
        rows = [s for s in self.store.find(SUB, "external_id", ext) if s["status"] == status]
        if not rows:
            raise not_found("subscription")
        rows.sort(key=lambda s: s["_created"], reverse=True)
        return rows[0]

    def _sub_list(self, req: Request, customer_id: str | None = None):
        # notes §4.6: only active unless status[] is given
        statuses = req.qlist("status") or ["active"]
        ext_cust = req.q("external_customer_id")
        plan_code = req.q("plan_code")
        ext_id = req.q("external_id")
        rows = []
        if customer_id:
            source = self.store.find(SUB, "_customer_id", customer_id)
        elif ext_id is not None:
            source = self.store.find(SUB, "external_id", ext_id)
        elif ext_cust is not None:
            source = [s for c in self.store.find(CUSTOMER, "external_id", ext_cust)
                      for s in self.store.find(SUB, "_customer_id", c["lago_id"])]
        else:
            source = self.store.all(SUB)
        for s in source:
            if s["status"] not in statuses:
                continue
            if customer_id and s["_customer_id"] != customer_id:
                continue
            if ext_cust is not None and s["external_customer_id"] != ext_cust:
                continue
            if ext_id is not None and s["external_id"] != ext_id:
                continue
            if plan_code is not None:
                plan = self.store.get(PLAN, s["_plan_id"])
                if plan["code"] != plan_code:
                    continue
            rows.append(s)
        # notes §1.4: subscriptions ordered by subscription_at DESC NULLS LAST, created_at DESC
        rows.sort(key=lambda s: s["_created"], reverse=True)
        rows.sort(key=lambda s: s["subscription_at"] or "", reverse=True)
        return self.emu.paginate(req, rows, "subscriptions", lambda s: self._sub_out(s, single=False))

    def sub_list(self, req: Request):
        return self._sub_list(req)

    def sub_get(self, req: Request):
        # notes §4.6: GET defaults to status=active; ?status= selects another
        return {"subscription": self._sub_out(self._sub_rows(req.params["external_id"], req.q("status")))}

    @staticmethod
    def _yearly(plan: dict) -> int:
        # notes §4.6: base fee normalised to a year, charges ignored
        return plan["amount_cents"] * YEARLY_FACTOR[plan["interval"]]

    def _check_sub_currency(self, customer: dict, plan: dict, errors: Errors) -> None:
        """notes §4.5 [≤v1.51.0]: customer currency set from the first plan; other currency → 422."""
        if customer["currency"] is None:
            return
        if customer["currency"] != plan["amount_currency"]:
            errors.add("currency", "currencies_does_not_match")

    def sub_create(self, req: Request):
        p = req.root("subscription")
        errors = Errors()
        ext_cust = p.get("external_customer_id")
        if blank(ext_cust):
            errors.add("external_customer_id", "value_is_mandatory")
        errors.raise_if_any()
        if "plan_overrides" in p:
            raise forbidden("feature_unavailable")  # notes §4.6: premium only
        plan = self._find_code(PLAN, p.get("plan_code"))  # includes pending_deletion plans
        if plan is None:
            raise not_found("plan")
        ext_id = p.get("external_id")
        if blank(ext_id):
            errors.add("external_id", "value_is_mandatory")
        billing_time = p.get("billing_time", "calendar") or "calendar"
        if billing_time not in ("calendar", "anniversary"):
            errors.add("billing_time", "value_is_invalid")
        errors.raise_if_any()
        ext_cust, ext_id = str(ext_cust), str(ext_id)
        now = self.emu.now()
        # notes §4.5: POST /subscriptions creates the customer implicitly
        customer = self._find_customer(ext_cust)
        if customer is None:
            customer = self._new_customer(ext_cust)
        # notes §4.6: current subscription searched within the customer: active, or pending in future
        current = None
        same_ext = sorted(self.store.find(SUB, "external_id", ext_id), key=lambda s: s["_created"])
        for s in same_ext:
            if s["_customer_id"] == customer["lago_id"]:
                if s["status"] == "active":
                    current = s
                    break
                if s["status"] == "pending" and not s.get("_previous_id"):
                    current = s
        name = str(p.get("name") or "").strip()
        if current is None:
            if any(s["status"] == "active" for s in same_ext):
                errors.add("external_id", "value_already_exist")
                errors.raise_if_any()
            sub_at = _parse_time(p.get("subscription_at")) if p.get("subscription_at") else now
            if p.get("subscription_at") and sub_at is None:
                errors.add("subscription_at", "invalid_date")
            ending_at = self._ending_at(p, sub_at or now, now, errors)
            self._check_sub_currency(customer, plan, errors)
            errors.raise_if_any()
            self._set_customer_currency(customer, plan)
            future = sub_at > now
            s = self._new_sub(customer, plan, ext_id, name or None, billing_time, sub_at, p, ending_at)
            if future:
                s["status"] = "pending"
                self._note_due(s["subscription_at"])  # activated when it starts (see tick)
            else:
                s.update(status="active", started_at=iso(sub_at), activated_at=iso(now))
            return {"subscription": self._sub_out(s)}
        cur_plan = self.store.get(PLAN, current["_plan_id"])
        if cur_plan["lago_id"] == plan["lago_id"]:
            # notes §4.6: same plan → existing subscription returned unchanged
            return {"subscription": self._sub_out(current)}
        self._check_sub_currency(customer, plan, errors)
        errors.raise_if_any()
        if current["status"] == "pending":
            # notes §4.6: a pending (future) subscription swaps plan and name in place
            cur = self.store.edit(SUB, current["lago_id"])
            cur["_plan_id"], cur["name"] = plan["lago_id"], name
            return {"subscription": self._sub_out(cur)}
        if self._yearly(plan) >= self._yearly(cur_plan):
            ending_at = self._ending_at(p, now, now, errors) if "ending_at" in p else current["ending_at"]
            errors.raise_if_any()
            return {"subscription": self._sub_out(self._upgrade_now(current, plan, name, p, ending_at))}
        # notes §4.6 downgrade: pending next subscription; earlier pending one canceled
        self._cancel_next(current)
        new = self._new_sub(customer, plan, ext_id, name, current["billing_time"],
                            _parse_time(current["subscription_at"]), p, current["ending_at"])
        _, end = self._period(current, cur_plan, now)
        downgrade_at = iso(end + timedelta(seconds=1))  # next period start
        new.update(status="pending", _previous_id=current["lago_id"], _downgrade_at=downgrade_at)
        self._note_due(downgrade_at)
        return {"subscription": self._sub_out(self.store.get(SUB, current["lago_id"]))}

    # -- the passing of time (Lago's clock/billing jobs, notes §4.6) --
    def _note_due(self, when) -> None:
        """Remember the earliest moment a subscription changes by itself (start, end, downgrade)."""
        at = _parse_time(when) if isinstance(when, str) else when
        if at is not None and (self._due is None or at < self._due):
            self._due = at

    def tick(self) -> bool:
        """Apply the subscription transitions Lago's clock jobs make once their time has come.

        Run by the core before each authenticated request (its own unit of work); cheap when nothing is
        due. notes §4.6: a pending subscription starting in the future is activated at subscription_at;
        a scheduled downgrade is executed at the end of the billing period (old row terminated, pending
        row active); an active subscription with ending_at in the past is terminated (its pending
        successor canceled). Returns True if anything changed.
        """
        now = self.emu.now()
        if not self._due_scan and (self._due is None or self._due > now):
            return False
        self._due_scan, self._due = False, None
        changed = False
        for s in list(self.store.all(SUB)):
            if s["status"] == "pending" and not s.get("_previous_id"):
                at = _parse_time(s["subscription_at"])
                if at is not None and at <= now:
                    self.store.edit(SUB, s["lago_id"]).update(
                        status="active", started_at=s["subscription_at"], activated_at=iso(now))
                    changed = True
                else:
                    self._note_due(at)
        for s in list(self.store.all(SUB)):
            if s["status"] == "pending" and s.get("_previous_id"):
                at = _parse_time(s.get("_downgrade_at"))
                prev = self.store.get(SUB, s["_previous_id"])
                if at is None or prev is None or prev["status"] != "active":
                    continue
                if at <= now:
                    self.store.edit(SUB, prev["lago_id"]).update(status="terminated", terminated_at=iso(at))
                    self.store.edit(SUB, s["lago_id"]).update(status="active", started_at=iso(at),
                                                              activated_at=iso(now))
                    changed = True
                else:
                    self._note_due(at)
        for s in list(self.store.all(SUB)):
            if s["status"] == "active" and s.get("ending_at"):
                at = _parse_time(s["ending_at"])
                if at is not None and at <= now:
                    self._cancel_next(s)
                    self.store.edit(SUB, s["lago_id"]).update(status="terminated", terminated_at=s["ending_at"])
                    changed = True
                else:
                    self._note_due(at)
        return changed

    def _cancel_next(self, current: dict) -> None:
        """Cancel the pending next (downgrade) subscription of ``current``, if any (notes §4.6)."""
        pending = self._next_sub(current)
        if pending is not None and pending["status"] == "pending":
            self.store.edit(SUB, pending["lago_id"]).update(status="canceled", canceled_at=iso(self.emu.now()))

    def _upgrade_now(self, current: dict, plan: dict, name, p: dict, ending_at) -> dict:
        """notes §4.6 upgrade: a new active row now (same external_id; subscription_at and billing_time
        copied from the old row, the request's are ignored); any pending downgrade canceled; the old
        row terminated. Returns the new row."""
        now_iso = iso(self.emu.now())
        self._cancel_next(current)
        old = self.store.edit(SUB, current["lago_id"])
        old.update(status="terminated", terminated_at=now_iso)
        customer = self.store.get(CUSTOMER, current["_customer_id"])
        new = self._new_sub(customer, plan, current["external_id"], name, current["billing_time"],
                            _parse_time(current["subscription_at"]), p, ending_at)
        new.update(status="active", started_at=now_iso, activated_at=now_iso, _previous_id=old["lago_id"])
        return new

    def _reevaluate_plan_changes(self, plan: dict) -> None:
        """notes §4.2 "amount_cents change re-evaluates scheduled plan changes" (update_service.rb:332-364).

        1. active subscriptions on this plan whose pending downgrade target is now *more* expensive
           (yearly amount, notes §4.6) get that pending subscription canceled;
        2. pending (downgrade) subscriptions *targeting* this plan whose new yearly amount is >= the
           current plan's are executed now as upgrades (new active row, name from the pending row).
        """
        yearly = self._yearly(plan)
        for s in self.store.find(SUB, "_plan_id", plan["lago_id"]):
            if s["status"] == "active":
                nxt = self._next_sub(s)
                if nxt is not None and nxt["status"] == "pending" and nxt["_plan_id"] != plan["lago_id"]:
                    if self._yearly(self.store.get(PLAN, nxt["_plan_id"])) > yearly:
                        self._cancel_next(s)
        for s in self.store.find(SUB, "_plan_id", plan["lago_id"]):
            if s["status"] != "pending" or not s.get("_previous_id"):
                continue
            current = self.store.get(SUB, s["_previous_id"])
            if current is None or current["status"] != "active":
                continue
            if yearly >= self._yearly(self.store.get(PLAN, current["_plan_id"])):
                self._upgrade_now(current, plan, s["name"], {}, current["ending_at"])

    def _set_customer_currency(self, customer: dict, plan: dict) -> None:
        if customer["currency"] is None:
            self._edit(CUSTOMER, customer)["currency"] = plan["amount_currency"]

    def _ending_at(self, p: dict, start: datetime, now: datetime, errors: Errors) -> str | None:
        if p.get("ending_at") is None:
            return None
        at = _parse_time(p["ending_at"])
        # notes §3.9: ending_at must be after today and after subscription_at
        if at is None or at <= now or at <= start:
            errors.add("ending_at", "invalid_date")
            return None
        return iso(at)

    def _new_sub(self, customer, plan, ext_id, name, billing_time, sub_at, p, ending_at) -> dict:
        s = {
            "lago_id": self.emu.new_id(), "external_id": ext_id, "lago_customer_id": customer["lago_id"],
            "external_customer_id": customer["external_id"], "name": name, "status": "pending",
            "billing_time": billing_time, "subscription_at": iso(sub_at), "started_at": None,
            "trial_ended_at": None, "ending_at": ending_at, "terminated_at": None, "canceled_at": None,
            "created_at": iso(self.emu.now()), "on_termination_credit_note": None,
            "on_termination_invoice": "generate",
            "progressive_billing_disabled": bool(as_bool(p.get("progressive_billing_disabled"), False)),
            "consolidate_invoice": bool(as_bool(p.get("consolidate_invoice"), True)),
            "purchase_order_number": None, "cancellation_reason": None, "activated_at": None,
            "_customer_id": customer["lago_id"], "_plan_id": plan["lago_id"], "_previous_id": None,
        }
        if plan["pay_in_advance"]:
            s["on_termination_credit_note"] = "credit"
        self._note_due(ending_at)
        return self._new(SUB, s)

    def sub_update(self, req: Request):
        s = self._sub_rows(req.params["external_id"], req.q("status"))
        p = req.root("subscription")
        s = self.store.edit(SUB, s["lago_id"])
        errors = Errors()
        now = self.emu.now()
        if "name" in p:
            s["name"] = p["name"]
        if "ending_at" in p:
            start = _parse_time(s["subscription_at"]) or now
            s["ending_at"] = self._ending_at(p, start, now, errors)  # null clears
            self._note_due(s["ending_at"])
        if "subscription_at" in p and s["status"] == "pending":
            at = _parse_time(p["subscription_at"])
            if at is None:
                errors.add("subscription_at", "invalid_date")
            else:
                s["subscription_at"] = iso(at)
                self._note_due(s["subscription_at"])
        for key in ("progressive_billing_disabled", "consolidate_invoice"):
            if key in p:
                s[key] = bool(as_bool(p[key], s[key]))
        if "on_termination_invoice" in p:
            if p["on_termination_invoice"] not in ("generate", "skip"):
                errors.add("on_termination_invoice", "value_is_invalid")
            else:
                s["on_termination_invoice"] = p["on_termination_invoice"]
        if "on_termination_credit_note" in p:
            if p["on_termination_credit_note"] not in (None, "credit", "skip", "refund", "offset"):
                errors.add("on_termination_credit_note", "value_is_invalid")
            elif self.store.get(PLAN, s["_plan_id"])["pay_in_advance"]:
                s["on_termination_credit_note"] = p["on_termination_credit_note"]
        if "plan_overrides" in p:
            raise forbidden("feature_unavailable")
        errors.raise_if_any()
        return {"subscription": self._sub_out(s)}

    def sub_terminate(self, req: Request):
        # notes §4.6: DELETE targets the active row, or the pending row with ?status=pending
        status = req.q("status") or "active"
        if status not in ("active", "pending"):
            raise not_found("subscription")
        s = self.store.edit(SUB, self._sub_rows(req.params["external_id"], status)["lago_id"])
        now = iso(self.emu.now())
        inv = req.q("on_termination_invoice")
        if inv is not None:
            if inv not in ("generate", "skip"):
                raise unprocessable({"on_termination_invoice": ["value_is_invalid"]})
            s["on_termination_invoice"] = inv
        if s["status"] == "pending":
            s.update(status="canceled", canceled_at=now)
        else:
            nxt = self._next_sub(s)
            if nxt is not None and nxt["status"] == "pending":
                self.store.edit(SUB, nxt["lago_id"]).update(status="canceled", canceled_at=now)
            s.update(status="terminated", terminated_at=now)
        return {"subscription": self._sub_out(s)}

    # ================================================================ applied coupons (§3.10, §4.7)
    def _applied_out(self, a: dict) -> dict:
        cp = self.store.get(COUPON, a["_coupon_id"])
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
            # notes §4.7: non-reusable coupons can be applied once per customer ever
            raise unprocessable({"coupon": ["coupon_is_not_reusable"]})
        targets = set(cp["_plan_ids"]) | set(cp["_bm_ids"])
        for a in mine:
            if a["status"] != "active":
                continue
            other = self.store.get(COUPON, a["_coupon_id"])
            if targets and targets & (set(other["_plan_ids"]) | set(other["_bm_ids"])):
                raise method_not_allowed("plan_overlapping")  # notes §3.10
        errors = Errors()
        amount_currency = p.get("amount_currency", cp["amount_currency"])
        if cp["coupon_type"] == "fixed_amount" and customer["currency"] not in (None, amount_currency):
            errors.add("currency", "currencies_does_not_match")  # notes §3.10
        errors.raise_if_any()
        if cp["coupon_type"] == "fixed_amount" and customer["currency"] is None:
            self._edit(CUSTOMER, customer)["currency"] = amount_currency
        # notes §3.10: unset values default to the coupon's
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
            if codes and self.store.get(COUPON, a["_coupon_id"])["code"] not in codes:
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

    # ================================================================ events (§1.6, §3.13)
    def _event_build(self, p: dict, errors: Errors, batch_seen: set | None = None) -> dict | None:
        for key in ("transaction_id", "code", "external_subscription_id"):
            if blank(p.get(key)):
                errors.add(key, "value_is_mandatory")
        ts = p.get("timestamp")
        if ts is None:
            when = self.emu.now()
        else:
            f = as_float(ts)
            if f is None:
                errors.add("timestamp", "invalid_format")
                return None
            when = datetime.fromtimestamp(f, tz=timezone.utc)
        if errors.details:
            return None
        key = (str(p["external_subscription_id"]), str(p["transaction_id"]))
        # notes §1.6: deduplicated by (organization, external_subscription_id, transaction_id)
        if self.store.get(EVENT, "|".join(key)) is not None or (batch_seen is not None and key in batch_seen):
            errors.add("transaction_id", "value_already_exist")
            return None
        if batch_seen is not None:
            batch_seen.add(key)
        # notes §3.13: the subscription is not checked at ingestion; lago_customer_id/lago_subscription_id
        # are null in the response (processing is asynchronous)
        return {
            "lago_id": self.emu.new_id(), "transaction_id": key[1], "lago_customer_id": None,
            "code": p["code"], "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "precise_total_amount_cents": p.get("precise_total_amount_cents"),
            "properties": p.get("properties") or {}, "lago_subscription_id": None,
            "external_subscription_id": key[0], "created_at": iso(self.emu.now()),
            "_id": "|".join(key),
        }

    def _event_store(self, ev: dict) -> None:
        ev["_created"] = self.emu.stamp()
        self.store.put(EVENT, ev["_id"], ev)

    def event_create(self, req: Request):
        p = req.root("event")
        errors = Errors()
        ev = self._event_build(p, errors)
        errors.raise_if_any()
        self._event_store(ev)
        return {"event": _public(ev)}

    def event_batch(self, req: Request):
        body = req.body
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise bad_request("param is missing or the value is empty or invalid: events")
        if not events:
            raise unprocessable({"events": ["no_events"]})
        if len(events) > 100:
            raise unprocessable({"events": ["too_many_events"]})
        details, built, seen = {}, [], set()
        for i, p in enumerate(events):
            errors = Errors()
            ev = self._event_build(p if isinstance(p, dict) else {}, errors, seen)
            if errors.details:
                details[str(i)] = errors.details  # notes §1.5: batch error_details keyed by index
            else:
                built.append(ev)
        if details:
            raise unprocessable(details)
        for ev in built:
            self._event_store(ev)
        return {"events": [_public(ev) for ev in built]}

    def event_get(self, req: Request):
        tid = req.params["transaction_id"]
        for ev in self.store.find(EVENT, "transaction_id", tid):
            return {"event": _public(ev)}
        raise not_found("event")

    def event_list(self, req: Request):
        rows = sorted(self.store.all(EVENT), key=lambda e: e["_created"], reverse=True)
        return self.emu.paginate(req, rows, "events", _public)

    # ================================================================ invoices (§3.12)
    def invoice_list(self, req: Request):
        # The emulator does not bill: the list is always empty, with the list shape.
        return self.emu.paginate(req, [], "invoices", dict)


def _values_key(values: dict) -> tuple:
    return tuple(sorted((k, tuple(v)) for k, v in values.items()))
