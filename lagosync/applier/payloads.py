"""Payload builders: canonical desired objects -> Lago API request bodies.

Pure functions. Every id Lago needs (metric ``lago_id``, existing charge ``lago_id``, customer
metadata ``lago_id``) is resolved from raw objects of a fresh live read, never from the plan file.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from ..client.core import id_seg
from ..errors import LagosyncError
from ..kinds import charge_code, fixed_charge_code, kind
from ..model import MARKER_KEY, MARKER_VALUE, is_marker_key

__all__ = ["MARKER_KEY", "MARKER_VALUE", "is_marker_key"]  # re-exported: the applier reads them as pl.*



class UnresolvedReference(LagosyncError):
    """A code that cannot be turned into the id Lago needs (found by preflight or at write time)."""


def path_for(kind: str, key: str) -> str:
    """``/plans/pro`` etc.; codes may hold any character (lago-behaviour#codes-any-characters), so quote them;
    a customer's or subscription's id has its dots sent as ``%2E`` (lago-behaviour#route-segments)."""
    if kind in ("customer", "subscription"):
        return f"{endpoint(kind)}/{id_seg(key)}"
    return f"{endpoint(kind)}/{quote(str(key), safe='')}"


def endpoint(kind_name: str) -> str:
    """The Lago collection path of a kind (``/plans``), from the kinds registry."""
    base = kind(kind_name).endpoint
    if base is None:
        raise LagosyncError(f"a {kind(kind_name).label} has no collection endpoint of its own")
    return base


def _number(value: Any) -> Any:
    """A decimal string for a JSON *number* field (plan trial_period, lago-behaviour#plan-trial-period): int when whole."""
    if value is None or isinstance(value, (int, bool)):
        return value
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return value
    if d == d.to_integral_value():
        return int(d)
    return str(d)  # Rails casts a numeric string; never a float (principle 1)


def _dec_str(value: Any) -> Any:
    """A decimal as a JSON string (tax rate, coupon percentage_rate, charge amounts: lago-behaviour#charge-amounts-as-strings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):  # the canonical model has no floats; never send money through one
        raise TypeError(f"float {value!r} where a decimal string belongs (lagosync.model must normalise it)")
    return str(value)


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


# --------------------------------------------------------------------------- simple kinds


def tax_payload(after: dict) -> dict:
    body = {
        "code": after["code"],
        "name": after.get("name"),
        "rate": _dec_str(after.get("rate")),
        "description": after.get("description"),
        "applied_to_organization": bool(after.get("applied_to_organization", False)),
    }
    return {"tax": body}


def metric_payload(after: dict, *, create: bool) -> dict:
    filters = after.get("filters") or {}
    body = {
        "code": after["code"],
        "name": after.get("name"),
        "description": after.get("description"),
        "aggregation_type": after.get("aggregation_type"),
        "field_name": after.get("field_name"),
        "recurring": bool(after.get("recurring", False)),
        "weighted_interval": after.get("weighted_interval"),
        "rounding_function": after.get("rounding_function"),
        "rounding_precision": after.get("rounding_precision"),
        "expression": after.get("expression"),
        # lago-behaviour#metric-filters-replace: filters are replaced by key; always send the full list ([] removes all).
        "filters": [{"key": k, "values": list(v)} for k, v in sorted(filters.items())],
    }
    return {"billable_metric": _drop_none(body) if create else body}


def add_on_payload(after: dict) -> dict:
    body = {
        "code": after["code"],
        "name": after.get("name"),
        "invoice_display_name": after.get("invoice_display_name"),
        "amount_cents": after.get("amount_cents"),
        "amount_currency": after.get("amount_currency"),
        "description": after.get("description"),
        "tax_codes": list(after.get("tax_codes") or []),  # lago-behaviour#tax-codes-replace: key present => replace
    }
    return {"add_on": body}


def coupon_payload(after: dict, plan_code_map: dict[str, str] | None = None, *, create: bool) -> dict:
    applies = after.get("applies_to") or {}
    plan_codes = [(plan_code_map or {}).get(c, c) for c in applies.get("plan_codes") or []]
    body = {
        "code": after["code"],
        "name": after.get("name"),
        "description": after.get("description"),
        "coupon_type": after.get("coupon_type"),
        "amount_cents": after.get("amount_cents"),
        "amount_currency": after.get("amount_currency"),
        "percentage_rate": _dec_str(after.get("percentage_rate")),
        "frequency": after.get("frequency"),
        "frequency_duration": after.get("frequency_duration"),
        "expiration": after.get("expiration"),
        "expiration_at": after.get("expiration_at"),
        "reusable": after.get("reusable", True),
        # lago-behaviour#coupon-put-applies-to: a PUT without applies_to wipes the targets; always send it in full.
        "applies_to": {
            "plan_codes": sorted(plan_codes),
            "billable_metric_codes": sorted(applies.get("billable_metric_codes") or []),
        },
    }
    return {"coupon": _drop_none(body) if create else body}


# --------------------------------------------------------------------------- plans


def _charge_payload(charge: dict, metric_ids: dict[str, str], existing: dict | None) -> dict:
    metric_code = charge.get("billable_metric_code")
    metric_id = metric_ids.get(str(metric_code))
    if not metric_id:
        raise UnresolvedReference(
            f"billable metric '{metric_code}' (charge '{charge.get('code')}') does not exist in Lago; "
            "define it under billable_metrics or fix billable_metric_code"
        )
    # lago-behaviour#charge-full-replace: always a full charge object; properties are replaced, omitted => model defaults.
    body: dict[str, Any] = {
        "code": charge_code(charge),
        "billable_metric_id": metric_id,
        "charge_model": charge.get("charge_model"),
        "invoice_display_name": charge.get("invoice_display_name"),
        "pay_in_advance": bool(charge.get("pay_in_advance", False)),
        "prorated": bool(charge.get("prorated", False)),
        "properties": _props(charge.get("properties") or {}),
        "filters": [
            {
                "invoice_display_name": f.get("invoice_display_name"),
                "properties": _props(f.get("properties") or {}),
                "values": {k: list(v) for k, v in (f.get("values") or {}).items()},
            }
            for f in charge.get("filters") or []
        ],
        "tax_codes": list(charge.get("tax_codes") or []),
    }
    if charge.get("min_amount_cents"):
        body["min_amount_cents"] = charge["min_amount_cents"]
    if existing is not None and existing.get("lago_id"):
        # lago-behaviour#plan-charge-code-clash: a charge re-sent without its id is a 422 (value_already_exist); keep identity.
        body = {"id": existing["lago_id"], **body}
    return body


def _props(props: dict) -> dict:
    """Charge properties as sent (lago-behaviour#charge-amounts-as-strings: amounts are strings); a float is refused by ``_dec_str``."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        if isinstance(v, float):
            out[k] = _dec_str(v)  # raises: the canonical model never holds a float
        elif isinstance(v, list):
            out[k] = [_props(x) if isinstance(x, dict) else x for x in v]
        elif isinstance(v, dict):
            out[k] = _props(v)
        else:
            out[k] = v
    return out


def _fixed_charge_payload(fixed: dict, add_on_ids: dict[str, str], existing: dict | None) -> dict:
    """One ``plan.fixed_charges[]`` item (lago-behaviour#fixed-charges): the add-on by its lago_id, identity kept by id."""
    add_on_code = fixed.get("add_on_code")
    add_on_id = add_on_ids.get(str(add_on_code))
    if not add_on_id:
        raise UnresolvedReference(
            f"add-on '{add_on_code}' (fixed charge '{fixed.get('code')}') does not exist in Lago; "
            "define it under add_ons or fix add_on_code"
        )
    body: dict[str, Any] = {
        "code": fixed_charge_code(fixed),
        "add_on_id": add_on_id,
        "charge_model": fixed.get("charge_model"),
        "invoice_display_name": fixed.get("invoice_display_name"),
        "units": _number(fixed.get("units") or "0"),
        "pay_in_advance": bool(fixed.get("pay_in_advance", False)),
        "prorated": bool(fixed.get("prorated", False)),
        "properties": _props(fixed.get("properties") or {}),
        "tax_codes": list(fixed.get("tax_codes") or []),
    }
    if existing is not None and existing.get("lago_id"):
        # lago-behaviour#fixed-charge-reconcile: without its id Lago would create it again (422 value_already_exist)
        body = {"id": existing["lago_id"], **body}
    return body


def fixed_charges_payload(after: dict, live_raw: dict | None, add_on_ids: dict[str, str]) -> list[dict] | None:
    """``plan.fixed_charges`` or None (key not sent: Lago leaves them untouched, lago-behaviour#fixed-charge-reconcile).

    Sent when the desired plan has fixed charges, or when the live plan's were read (its raw holds
    ``fixed_charges``, lagosync.live), so removing the last one deletes it; never blindly."""
    fixed = after.get("fixed_charges") or {}
    if not fixed and "fixed_charges" not in (live_raw or {}):
        return None
    existing = {f.get("code"): f for f in (live_raw or {}).get("fixed_charges") or []}
    return [_fixed_charge_payload({**f, "code": code}, add_on_ids, existing.get(code))
            for code, f in sorted(fixed.items())]


def plan_metadata(after: dict, live_raw: dict | None, extra: dict[str, str] | None = None) -> dict:
    """User metadata + marker; lagosync_* keys already on the live plan (version info) are kept."""
    meta: dict[str, Any] = {}
    for k, v in ((live_raw or {}).get("metadata") or {}).items():
        if is_marker_key(k):
            meta[k] = v
    meta.update(after.get("metadata") or {})
    meta[MARKER_KEY] = MARKER_VALUE
    meta.update(extra or {})
    return meta


def plan_payload(
    after: dict,
    *,
    live_raw: dict | None,
    metric_ids: dict[str, str],
    code: str | None = None,
    extra_metadata: dict[str, str] | None = None,
    add_on_ids: dict[str, str] | None = None,
) -> dict:
    """``{"plan": {...}}`` for POST (live_raw None) or PUT /plans/{code} (live_raw = live plan).

    Charges of the live plan are matched by charge code and keep their ``lago_id`` (lago-behaviour#plan-charges-reconciled);
    a live charge the YAML no longer has is left out, which deletes it (planner reason charge_removed).
    """
    existing = {c.get("code"): c for c in (live_raw or {}).get("charges") or []}
    charges = after.get("charges") or {}
    body: dict[str, Any] = {
        "code": code or after["code"],
        "name": after.get("name"),
        "invoice_display_name": after.get("invoice_display_name"),
        "description": after.get("description"),
        # lago-behaviour#plan-bill-charges-monthly: interval is always sent with bill_charges_monthly.
        "interval": after.get("interval"),
        "amount_cents": after.get("amount_cents"),
        "amount_currency": after.get("amount_currency"),
        "trial_period": _number(after.get("trial_period")),
        "pay_in_advance": bool(after.get("pay_in_advance", False)),
        "bill_charges_monthly": after.get("bill_charges_monthly"),
        "tax_codes": list(after.get("tax_codes") or []),
        "metadata": plan_metadata(after, live_raw, extra_metadata),
        "charges": [
            _charge_payload({**ch, "code": ccode}, metric_ids, existing.get(ccode))
            for ccode, ch in sorted(charges.items())
        ],
    }
    fixed = fixed_charges_payload(after, live_raw, add_on_ids or {})
    if fixed is not None:
        body["fixed_charges"] = fixed
    if live_raw is None:
        body = {k: v for k, v in body.items() if v is not None or k in ("charges",)}
    return {"plan": body}


# --------------------------------------------------------------------------- customers


def customer_payload(after: dict, live_raw: dict | None, declared: dict | None = None) -> dict:
    """POST /customers upsert (lago-behaviour#customer-metadata-reconcile): metadata entries keep their existing ``id``.

    Only what the workspace manages is sent: fields with a value, or declared in the workspace
    (``declared``, the raw org as written; an explicit null there clears the field). Fields the org
    does not write are left to the application (omitted keys are untouched, lago-behaviour#customer-upsert).
    Metadata entries not sent are deleted by Lago, so lagosync's own entries (marker,
    lagosync_*, migrated_from) already on the customer are re-sent with their ids, the marker is
    added when missing, and when the org declares no metadata at all the live entries are kept.
    """
    body: dict[str, Any] = {}
    for k, v in after.items():
        if k == "metadata":
            continue
        if k == "currency" and v is None:
            continue  # a null currency would be refused once the customer has subscriptions (lago-behaviour#customer-currency)
        if v is not None or k == "external_id" or (declared is not None and k in declared):
            body[k] = v
    live_meta = {m.get("key"): m for m in (live_raw or {}).get("metadata") or []}
    entries: list[dict] = []
    manages_metadata = declared is None or "metadata" in declared or bool(after.get("metadata"))
    if manages_metadata:
        for key, spec in sorted((after.get("metadata") or {}).items()):
            spec = spec if isinstance(spec, dict) else {"value": spec}
            entry = {
                "key": key,
                "value": spec.get("value"),
                "display_in_invoice": bool(spec.get("display_in_invoice", False)),
            }
            if key in live_meta and live_meta[key].get("lago_id"):
                entry = {"id": live_meta[key]["lago_id"], **entry}
            entries.append(entry)
    for key, m in sorted(live_meta.items(), key=lambda kv: str(kv[0])):
        if key == MARKER_KEY:
            continue
        if (key and is_marker_key(key)) or not manages_metadata:
            entries.append(_meta_entry(m))
    marker = live_meta.get(MARKER_KEY)
    if marker is not None:
        entries.append({**_meta_entry(marker), "value": MARKER_VALUE})
    else:
        entries.append({"key": MARKER_KEY, "value": MARKER_VALUE, "display_in_invoice": False})
    body["metadata"] = entries
    return {"customer": body}


def _meta_entry(m: dict) -> dict:
    entry = {"key": m.get("key"), "value": m.get("value"), "display_in_invoice": bool(m.get("display_in_invoice"))}
    if m.get("lago_id"):
        entry = {"id": m["lago_id"], **entry}
    return entry


# --------------------------------------------------------------------------- subscriptions


def subscription_payload(after: dict, live_plan_code: str) -> dict:
    """POST /subscriptions: create, or change plan with the same external_id (lago-behaviour#plan-change-upgrade-downgrade).

    ``name`` is always resent: on upgrade/downgrade Lago takes the new row's name from the request.
    """
    body = {
        "external_customer_id": after["external_customer_id"],
        "plan_code": live_plan_code,
        "external_id": after["external_id"],
        "name": after.get("name") if after.get("name") is not None else "",
        "billing_time": after.get("billing_time"),
        "ending_at": after.get("ending_at"),  # only when the workspace writes one
    }
    return {"subscription": _drop_none(body)}


def applied_coupon_payload(after: dict) -> dict:
    """``POST /applied_coupons`` body (lago-behaviour#applied-coupon-overrides-default): the org, the coupon code and the overrides the
    workspace declares; unset ones are left out so Lago takes the coupon's values."""
    body: dict[str, Any] = {"external_customer_id": after["external_customer_id"],
                            "coupon_code": after["coupon_code"]}
    for field in ("frequency", "frequency_duration", "amount_cents", "amount_currency", "percentage_rate"):
        if after.get(field) is not None:
            body[field] = after[field]
    return {"applied_coupon": body}
