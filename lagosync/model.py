"""The canonical, normalised model: the one place that knows Lago's defaults.

Both sides of a comparison go through here before the planner sees them:

* ``from_yaml(kind, obj)`` turns a workspace object as written (Lago field names, references
  by code) into the canonical shape;
* ``from_api(kind, obj)`` turns a Lago API response object into the same shape.

Equal billing meaning gives equal dicts: decimals are canonical strings (``"0.0010"`` and
``"0.001"`` are the same), order-insensitive lists are sorted, server-only fields (lago_id,
counters, timestamps) are dropped, server defaults are filled in and lagosync's own marker
keys (``managed_by``, ``lagosync_*``) are removed. The shapes are listed in
docs/ARCHITECTURE.md ("Canonical model"); every key is always present.

Money is never a float: ``decimal_str`` rejects floats. The only floats accepted are the
ones Lago itself sends in responses (tax ``rate``, plan ``trial_period``; lago-behaviour#tax-response, lago-behaviour#plan-trial-period),
converted through their shortest ``repr`` so no binary artefact leaks in.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import UserError
from .kinds import KINDS, KINDS_BY_NAME, charge_code, fixed_charge_code
from .runtime import SharedKeys

State = dict[str, dict[str, dict[str, Any]]]
"""kind -> key -> canonical dict."""

MARKER_KEY = "managed_by"
MARKER_VALUE = "lagosync"
MARKER_PREFIX = "lagosync_"
# the user-to-org migration record on an org (issue 6, lagosync.migration); owned by lagosync
MIGRATED_FROM_KEY = "migrated_from"

# lago-behaviour#plan-yearly-amount: Plan#yearly_amount_cents
_YEARLY_FACTOR = {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}

# fields of a customer that are always in the canonical shape (ARCHITECTURE)
_CUSTOMER_BASE = ("external_id", "name", "email", "currency")
# keys of a workspace org that are not Lago customer fields
_CUSTOMER_NOT_FIELDS = {"subscriptions", "ensure", "metadata", "lago_id", "migrate_from",  # migrate_from: issue 6
                        "coupons"}  # coupons: the org's applied coupons, kind applied_coupon
# customer list fields whose order does not matter
_CUSTOMER_SORTED_LISTS = {"tax_codes", "invoice_custom_section_codes"}


class ModelError(UserError):
    """A value cannot be put in canonical form (for example money written as a float)."""


def is_marker_key(key: str) -> bool:
    """True for lagosync's own metadata keys (ARCHITECTURE "Plan versions and markers")."""
    return key in (MARKER_KEY, MIGRATED_FROM_KEY) or key.startswith(MARKER_PREFIX)


# --------------------------------------------------------------------------- decimals


def decimal_str(value: Any, *, allow_float: bool = False, what: str = "value") -> str:
    """Canonical decimal string: ``"0.0010" -> "0.001"``, ``"5.00" -> "5"``, never an exponent.

    Accepts ``str``, ``int`` and ``Decimal``. A float is refused (it cannot hold money
    exactly) unless ``allow_float`` (used only for floats Lago itself returns), in which
    case its shortest ``repr`` is used, so ``0.1`` gives ``"0.1"``, not a binary artefact.
    """
    if isinstance(value, bool) or value is None:
        raise ModelError(f"{what}: expected a decimal number written as a string, got {value!r}")
    if isinstance(value, float):
        if not allow_float:
            raise ModelError(
                f"{what}: {value!r} is a float; write decimals as strings (for example \"{value!r}\") "
                "so no precision is lost"
            )
        dec = Decimal(repr(value))
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise ModelError(f"{what}: {value!r} is not a decimal number") from None
    else:
        raise ModelError(f"{what}: expected a decimal number written as a string, got {value!r}")
    if not dec.is_finite():
        raise ModelError(f"{what}: {value!r} is not a finite decimal number")
    text = format(dec, "f")  # positional notation, no rounding
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def _dec(value: Any, what: str, *, api: bool = False, default: str | None = None) -> str | None:
    if value is None:
        return default
    return decimal_str(value, allow_float=api, what=what)


def _int(value: Any, what: str, *, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool):
        raise ModelError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ModelError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, (str, Decimal)):
        try:
            dec = Decimal(str(value).strip())
        except InvalidOperation:
            raise ModelError(f"{what}: expected an integer, got {value!r}") from None
        if dec.is_finite() and dec == dec.to_integral_value():
            return int(dec)
    raise ModelError(f"{what}: expected an integer, got {value!r}")


def _bool(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def _text(value: Any) -> str | None:
    """Optional free text: Lago returns ``""`` and ``null`` interchangeably for unset text."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any, what: str) -> str | None:
    """ISO-8601 UTC ``YYYY-MM-DDTHH:MM:SSZ``; a bare date means its midnight UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, _dt.date):
        moment = _dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ModelError(f"{what}: {value!r} is not an ISO-8601 date or datetime") from None
    else:
        raise ModelError(f"{what}: {value!r} is not an ISO-8601 date or datetime")
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_str(value: Any, *, what: str = "value") -> str | None:
    """The canonical form of a moment (``YYYY-MM-DDTHH:MM:SSZ``, UTC), as the model compares it."""
    return _timestamp(value, what)


def _sorted_codes(values: Iterable[Any] | None) -> list[str]:
    return sorted({str(v) for v in (values or [])})


def _tax_codes(obj: Mapping[str, Any], *, api: bool) -> list[str]:
    """Tax references: ``tax_codes`` in YAML; ``taxes: [{code, ...}]`` in responses."""
    if api and obj.get("taxes") is not None:
        return _sorted_codes(t["code"] if isinstance(t, Mapping) else t for t in obj["taxes"])
    return _sorted_codes(obj.get("tax_codes"))


# --------------------------------------------------------------------------- helpers


_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint_digest(canonical: Any) -> bytes:
    """Stable sha256 of a canonical object: JSON with sorted keys, no whitespace (one encoder for every
    call: a plan fingerprints every live object)."""
    return hashlib.sha256(_FINGERPRINT_JSON.encode(canonical).encode("utf-8")).digest()


def fingerprint(canonical: Any) -> str:
    """``fingerprint_digest`` in hex, as plans write it."""
    return fingerprint_digest(canonical).hex()


def yearly_amount_cents(plan: Mapping[str, Any]) -> int:
    """Base fee normalised to a year, as Lago compares plans for upgrades (lago-behaviour#plan-yearly-amount).

    weekly x52, monthly x12, quarterly x4, semiannual x2, yearly x1; charges are ignored.
    """
    interval = plan.get("interval")
    if interval not in _YEARLY_FACTOR:
        raise ModelError(f"plan {plan.get('code')!r}: unknown interval {interval!r}")
    return int(plan.get("amount_cents") or 0) * _YEARLY_FACTOR[interval]


# -------------------------------------------------------- charges (lago-behaviour#charge-properties-defaults)

_RANGE_KEYS = {
    "graduated_ranges": ("per_unit_amount", "flat_amount"),
    "volume_ranges": ("per_unit_amount", "flat_amount"),
    "graduated_percentage_ranges": ("rate", "flat_amount"),
}


def _ranges(ranges: Any, list_key: str, what: str, api: bool) -> list[dict[str, Any]]:
    amount_keys = _RANGE_KEYS[list_key]
    if not ranges:
        # model default: one open range from 0 (lago-behaviour#charge-properties-defaults)
        ranges = [{"from_value": 0, "to_value": None}]
    out = []
    for i, rng in enumerate(ranges):
        where = f"{what}.{list_key}[{i}]"
        item: dict[str, Any] = {
            "from_value": _int(rng.get("from_value"), f"{where}.from_value", default=0),
            "to_value": _int(rng.get("to_value"), f"{where}.to_value"),
        }
        for key in amount_keys:
            item[key] = _dec(rng.get(key), f"{where}.{key}", api=api, default="0")
        out.append(item)
    return out


def _group_keys(props: Mapping[str, Any], out: dict[str, Any], *, presentation: bool) -> None:
    # `grouped_by` is the legacy alias of `pricing_group_keys`; responses echo both (lago-behaviour#charge-grouping-keys)
    keys = props.get("pricing_group_keys")
    if keys is None:
        keys = props.get("grouped_by")
    if keys:
        out["pricing_group_keys"] = [str(k) for k in keys]
    if presentation and props.get("presentation_group_keys"):
        items = []
        for entry in props["presentation_group_keys"]:
            if isinstance(entry, Mapping):
                item: dict[str, Any] = {"value": entry.get("value")}
                options = entry.get("options")
                if options:
                    item["options"] = {"display_in_invoice": bool(options.get("display_in_invoice"))}
            else:
                item = {"value": entry}
            items.append(item)
        out["presentation_group_keys"] = items


def canonical_properties(
    charge_model: str | None, props: Mapping[str, Any] | None, *, api: bool = False,
    what: str = "properties", presentation: bool = True,
) -> dict[str, Any]:
    """Charge properties for ``charge_model``: Lago's defaults filled, unknown keys stripped.

    Lago keeps only the keys its model validator knows and fills model defaults when
    properties are omitted (lago-behaviour#charge-properties-defaults, lago-behaviour#charge-amounts-as-strings); amounts are canonical decimal strings.
    """
    props = dict(props or {})
    out: dict[str, Any] = {}
    if charge_model == "standard":
        out["amount"] = _dec(props.get("amount"), f"{what}.amount", api=api, default="0")
    elif charge_model in ("graduated", "volume", "graduated_percentage"):
        list_key = f"{charge_model}_ranges"
        out[list_key] = _ranges(props.get(list_key), list_key, what, api)
        if charge_model == "graduated_percentage":
            fixed = _dec(props.get("fixed_amount"), f"{what}.fixed_amount", api=api)
            if fixed not in (None, "0"):
                out["fixed_amount"] = fixed
    elif charge_model == "package":
        out["amount"] = _dec(props.get("amount"), f"{what}.amount", api=api, default="0")
        out["package_size"] = _int(props.get("package_size"), f"{what}.package_size", default=1)
        out["free_units"] = _int(props.get("free_units"), f"{what}.free_units", default=0)
    elif charge_model == "percentage":
        out["rate"] = _dec(props.get("rate"), f"{what}.rate", api=api, default="0")
        # a zero fixed fee / zero free aggregation means the same as none
        for key in ("fixed_amount", "free_units_per_total_aggregation"):
            value = _dec(props.get(key), f"{what}.{key}", api=api)
            if value not in (None, "0"):
                out[key] = value
        free_events = _int(props.get("free_units_per_events"), f"{what}.free_units_per_events")
        if free_events:
            out["free_units_per_events"] = free_events
        for key in ("per_transaction_min_amount", "per_transaction_max_amount"):
            value = _dec(props.get(key), f"{what}.{key}", api=api)
            if value is not None:
                out[key] = value
    elif charge_model == "custom":
        if props.get("custom_properties") is not None:
            custom = props["custom_properties"]
            if isinstance(custom, str):
                try:
                    custom = json.loads(custom)
                except ValueError:
                    pass
            out["custom_properties"] = custom
    elif charge_model == "dynamic":
        pass  # amounts come from the events (lago-behaviour#charge-properties-defaults)
    else:
        # unknown model: keep what was given so a difference is still visible
        out.update({k: v for k, v in props.items() if k not in ("grouped_by",)})
        return out
    _group_keys(props, out, presentation=presentation)
    return out


# lago-behaviour#charge-filter-all-values: a charge filter's ``[ALL_FILTER_VALUES]`` prices every value of the
# metric filter key; Lago stores and returns it as written, so it stays a value here too
ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"


def _filter_values(values: Mapping[str, Any] | None) -> dict[str, list[str]]:
    return {str(k): sorted(str(v) for v in (vals or [])) for k, vals in (values or {}).items()}


def _charge_filters(charge_model: str | None, filters: Any, what: str, api: bool) -> list[dict[str, Any]]:
    out = []
    for i, flt in enumerate(filters or []):
        out.append({
            "invoice_display_name": _text(flt.get("invoice_display_name")),
            # presentation_group_keys are stripped from filter properties (lago-behaviour#charge-grouping-keys)
            "properties": canonical_properties(
                charge_model, flt.get("properties"), api=api,
                what=f"{what}.filters[{i}].properties", presentation=False,
            ),
            "values": _filter_values(flt.get("values")),
        })
    out.sort(key=lambda f: json.dumps(f["values"], sort_keys=True))
    return out


def canonical_charge(obj: Mapping[str, Any], *, api: bool = False, what: str = "charge") -> dict[str, Any]:
    """One charge; its ``code`` defaults to the metric code as Lago auto-generates it (lago-behaviour#charge-code-default)."""
    metric = obj.get("billable_metric_code")
    model = obj.get("charge_model") or "standard"
    return {
        "code": charge_code(obj),
        "billable_metric_code": metric,
        "charge_model": model,
        "invoice_display_name": _text(obj.get("invoice_display_name")),
        "pay_in_advance": _bool(obj.get("pay_in_advance"), False),
        "prorated": _bool(obj.get("prorated"), False),
        "min_amount_cents": _int(obj.get("min_amount_cents"), f"{what}.min_amount_cents", default=0),
        "properties": canonical_properties(model, obj.get("properties"), api=api, what=f"{what}.properties"),
        "filters": _charge_filters(model, obj.get("filters"), what, api),
        "tax_codes": _tax_codes(obj, api=api),
    }


def _charges(charges: Any, what: str, api: bool) -> dict[str, dict[str, Any]]:
    items: list[Mapping[str, Any]]
    if isinstance(charges, Mapping):  # tolerate `charges: {code: {...}}`
        items = [{"code": code, **(body or {})} for code, body in charges.items()]
    else:
        items = list(charges or [])
    out: dict[str, dict[str, Any]] = {}
    for i, charge in enumerate(items):
        canon = canonical_charge(charge, api=api, what=f"{what}.charges[{i}]")
        out[canon["code"]] = canon
    return out


# --------------------------------------------------------------- fixed charges (lago-behaviour#fixed-charges)

FIXED_CHARGE_MODELS = ("standard", "graduated", "volume")


def canonical_fixed_charge(obj: Mapping[str, Any], *, api: bool = False, what: str = "fixed charge") -> dict[str, Any]:
    """One plan fixed charge (an add-on priced on the plan, lago-behaviour#fixed-charges).

    ``code`` defaults to the add-on code (the spec: "automatically generated based on the add-on
    code"); ``units`` defaults to 0 (spec PlanCreateInput) and is a number in responses, a decimal
    string or an integer in YAML. ``apply_units_immediately`` is a write-time instruction Lago does
    not return (FixedChargeObject has no such field), so it is not part of the canonical shape.
    """
    add_on = obj.get("add_on_code")
    model = obj.get("charge_model") or "standard"
    return {
        "code": fixed_charge_code(obj),
        "add_on_code": add_on,
        "charge_model": model,
        "invoice_display_name": _text(obj.get("invoice_display_name")),
        "units": _dec(obj.get("units"), f"{what}.units", api=api, default="0"),
        "pay_in_advance": _bool(obj.get("pay_in_advance"), False),
        "prorated": _bool(obj.get("prorated"), False),
        "properties": canonical_properties(model, obj.get("properties"), api=api, what=f"{what}.properties",
                                           presentation=False),
        "tax_codes": _tax_codes(obj, api=api),
    }


def _fixed_charges(items: Any, what: str, api: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items or []):
        canon = canonical_fixed_charge(item, api=api, what=f"{what}.fixed_charges[{i}]")
        out[canon["code"]] = canon
    return out


# --------------------------------------------------------------------------- kinds


def _tax(obj: Mapping[str, Any], api: bool) -> dict[str, Any]:
    # lago-behaviour#tax-response: rate is a float in responses, a decimal string in YAML
    return {
        "code": obj.get("code"),
        "name": obj.get("name"),
        "rate": _dec(obj.get("rate"), f"tax {obj.get('code')!r}: rate", api=api, default="0"),
        "description": _text(obj.get("description")),
        "applied_to_organization": _bool(obj.get("applied_to_organization"), False),
    }


def _billable_metric(obj: Mapping[str, Any], api: bool) -> dict[str, Any]:
    agg = obj.get("aggregation_type")
    filters = obj.get("filters") or []
    if isinstance(filters, Mapping):  # tolerate `filters: {key: [values]}`
        filters = [{"key": k, "values": v} for k, v in filters.items()]
    return {
        "code": obj.get("code"),
        "name": obj.get("name"),
        "description": _text(obj.get("description")),
        "aggregation_type": agg,
        # lago-behaviour#metric-field-name: forced to null for count_agg
        "field_name": None if agg == "count_agg" else obj.get("field_name"),
        "recurring": _bool(obj.get("recurring"), False),
        "weighted_interval": obj.get("weighted_interval"),
        "rounding_function": obj.get("rounding_function"),
        "rounding_precision": _int(obj.get("rounding_precision"), "rounding_precision"),
        "expression": _text(obj.get("expression")),
        "filters": {str(f["key"]): sorted(str(v) for v in (f.get("values") or [])) for f in filters},
    }


def _add_on(obj: Mapping[str, Any], api: bool) -> dict[str, Any]:
    code = obj.get("code")
    return {
        "code": code,
        "name": obj.get("name"),
        "invoice_display_name": _text(obj.get("invoice_display_name")),
        "amount_cents": _int(obj.get("amount_cents"), f"add_on {code!r}: amount_cents", default=0),
        "amount_currency": obj.get("amount_currency"),
        "description": _text(obj.get("description")),
        "tax_codes": _tax_codes(obj, api=api),
    }


def _plan_metadata(metadata: Any) -> dict[str, str | None]:
    # lago-behaviour#plan-metadata-shape: a flat {str: str|null} object; lagosync's markers removed
    out: dict[str, str | None] = {}
    for key, value in (metadata or {}).items():
        if is_marker_key(str(key)):
            continue
        out[str(key)] = None if value is None else _scalar_text(value)
    return out


def _plan(obj: Mapping[str, Any], api: bool) -> dict[str, Any]:
    code = obj.get("code")
    what = f"plan {code!r}"
    interval = obj.get("interval")
    # lago-behaviour#plan-bill-charges-monthly: bill_charges_monthly is stored only for yearly/semiannual plans, else null
    if interval in ("yearly", "semiannual"):
        bill_charges_monthly: bool | None = bool(obj.get("bill_charges_monthly"))
    else:
        bill_charges_monthly = None
    return {
        "code": code,
        "name": obj.get("name"),
        "invoice_display_name": _text(obj.get("invoice_display_name")),
        "description": _text(obj.get("description")),
        "interval": interval,
        "amount_cents": _int(obj.get("amount_cents"), f"{what}: amount_cents", default=0),
        "amount_currency": obj.get("amount_currency"),
        # lago-behaviour#plan-trial-period: trial_period is a float number of days, default 0 (days, not money)
        "trial_period": _dec(obj.get("trial_period"), f"{what}: trial_period", api=True, default="0"),
        "pay_in_advance": _bool(obj.get("pay_in_advance"), False),
        "bill_charges_monthly": bill_charges_monthly,
        "tax_codes": _tax_codes(obj, api=api),
        "metadata": _plan_metadata(obj.get("metadata")),
        "charges": _charges(obj.get("charges"), what, api),
        # lago-behaviour#plan-list-no-fixed-charges: the plan LIST has no fixed_charges; then this is {} (lagosync.live reads them
        # with GET /plans/{code} when the workspace declares fixed charges)
        "fixed_charges": _fixed_charges(obj.get("fixed_charges"), what, api),
    }


def _coupon(obj: Mapping[str, Any], api: bool) -> dict[str, Any]:
    code = obj.get("code")
    what = f"coupon {code!r}"
    coupon_type = obj.get("coupon_type")
    frequency = obj.get("frequency") or "once"
    expiration = obj.get("expiration") or "no_expiration"
    applies_to = obj.get("applies_to") or {}
    # responses carry plan_codes / billable_metric_codes at the top level (lago-behaviour#coupon-response)
    plan_codes = applies_to.get("plan_codes", obj.get("plan_codes"))
    metric_codes = applies_to.get("billable_metric_codes", obj.get("billable_metric_codes"))
    fixed = coupon_type == "fixed_amount"
    percentage = coupon_type == "percentage"
    return {
        "code": code,
        "name": obj.get("name"),
        "description": _text(obj.get("description")),
        "coupon_type": coupon_type,
        # lago-behaviour#coupon-fields: amount only for fixed_amount, rate only for percentage coupons
        "amount_cents": _int(obj.get("amount_cents"), f"{what}: amount_cents") if not percentage else None,
        "amount_currency": obj.get("amount_currency") if not percentage else None,
        "percentage_rate": (
            _dec(obj.get("percentage_rate"), f"{what}: percentage_rate", api=api) if not fixed else None
        ),
        "frequency": frequency,
        "frequency_duration": (
            _int(obj.get("frequency_duration"), f"{what}: frequency_duration")
            if frequency == "recurring" else None
        ),
        "expiration": expiration,
        "expiration_at": (
            _timestamp(obj.get("expiration_at"), f"{what}: expiration_at")
            if expiration == "time_limit" else None
        ),
        "reusable": _bool(obj.get("reusable"), True),
        "applies_to": {
            "plan_codes": _sorted_codes(plan_codes),
            "billable_metric_codes": _sorted_codes(metric_codes),
        },
    }


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


# one per org on each side of a large plan: their dicts share their key tables (runtime.SharedKeys)
_METADATA_ENTRY, _CUSTOMER, _SUBSCRIPTION = (SharedKeys(f"_{n}") for n in ("MetadataEntry", "Customer", "Subscription"))


def _customer_metadata(metadata: Any) -> dict[str, dict[str, Any]]:
    """lago-behaviour#customer-metadata: a list of ``{key, value, display_in_invoice}`` (display default false).

    The workspace may also write a mapping ``{key: value}`` or ``{key: {value, display_in_invoice}}``.
    lagosync's marker entries are removed.
    """
    entries: list[tuple[Any, Any, Any]] = []
    if isinstance(metadata, Mapping):
        for key, value in metadata.items():
            if isinstance(value, Mapping):
                entries.append((key, value.get("value"), value.get("display_in_invoice")))
            else:
                entries.append((key, value, False))
    else:
        for item in metadata or []:
            entries.append((item.get("key"), item.get("value"), item.get("display_in_invoice")))
    out: dict[str, dict[str, Any]] = {}
    for key, value, display in entries:
        key = str(key)
        if is_marker_key(key):
            continue
        entry = out[key] = _METADATA_ENTRY.new()
        entry["value"] = None if value is None else _scalar_text(value)
        entry["display_in_invoice"] = bool(display)
    return dict(sorted(out.items()))


def _customer_value(field: str, value: Any, declared: Any, api: bool, raw: Mapping[str, Any]) -> Any:
    if field == "tax_codes":
        return _tax_codes(raw, api=api)
    if field in _CUSTOMER_SORTED_LISTS:
        return _sorted_codes(value)
    if isinstance(value, str) and value == "":
        return None
    if isinstance(declared, Mapping):
        # compare only the declared part of a nested object (billing_configuration, shipping_address...)
        value = value if isinstance(value, Mapping) else {}
        return {k: _customer_value(k, value.get(k), declared[k], api, value) for k in declared}
    if isinstance(value, float) and not api:
        raise ModelError(f"customer field {field!r}: {value!r} is a float; write it as a string")
    return value


def _customer(obj: Mapping[str, Any], api: bool, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    """A customer (an org). Fields beyond external_id/name/email/currency/metadata are kept
    only where the workspace declares them; on the live side ``declared`` (the raw workspace
    object) says which they are. Fields a declared org does not write are not managed, so
    they are None on both sides (the application may set them; lagosync leaves them alone).
    """
    template = obj if declared is None and not api else declared
    out: dict[str, Any] = _CUSTOMER.new()
    for field in _CUSTOMER_BASE:
        if field == "external_id" or template is None or field in template:
            out[field] = _customer_value(field, obj.get(field), None, api, obj)
        else:
            out[field] = None
    if template is not None:
        for field in template:
            if field in _CUSTOMER_NOT_FIELDS or field in _CUSTOMER_BASE:
                continue
            out[field] = _customer_value(field, obj.get(field), template[field], api, obj)
    if template is None or "metadata" in template:
        out["metadata"] = _customer_metadata(obj.get("metadata"))
    else:
        out["metadata"] = {}
    return out


def _subscription(obj: Mapping[str, Any], api: bool, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    """A subscription. ``ending_at`` is managed only where the workspace writes it (like a customer's
    declared fields): ``declared`` (live side) is the YAML item; without it on the live side (a
    subscription nothing declares) Lago's value is kept; not written in YAML, it is None on both sides."""
    ext = obj.get("external_id")
    template = obj if declared is None else declared
    out: dict[str, Any] = _SUBSCRIPTION.new()
    out["external_id"] = ext
    out["external_customer_id"] = obj.get("external_customer_id")
    out["plan_code"] = obj.get("plan_code")
    out["name"] = _text(obj.get("name"))
    out["billing_time"] = obj.get("billing_time") or "calendar"  # lago-behaviour#subscription-defaults
    # lago-behaviour#subscription-update: PUT changes ending_at (null clears it)
    out["ending_at"] = (_timestamp(obj.get("ending_at"), f"subscription {ext!r}: ending_at")
                        if "ending_at" in template else None)
    return out


# overrides of POST /applied_coupons (lago-behaviour#applied-coupon-overrides-default): unset values default to the coupon's
APPLIED_COUPON_OVERRIDES = ("frequency", "frequency_duration", "amount_cents", "amount_currency", "percentage_rate")


def _applied_coupon(obj: Mapping[str, Any], api: bool, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    """An org's applied coupon. Lago fills every unset override from the coupon (lago-behaviour#applied-coupon-overrides-default), so
    only the overrides the workspace writes are compared (like a customer's declared fields):
    undeclared ones are None on both sides. ``declared`` (live side) is the YAML item; without it
    (an applied coupon nothing declares) every override is kept."""
    code = obj.get("coupon_code")
    what = f"applied coupon {code!r}"
    template = obj if declared is None and not api else declared
    out: dict[str, Any] = {"external_customer_id": obj.get("external_customer_id"), "coupon_code": code}
    for field in APPLIED_COUPON_OVERRIDES:
        value = obj.get(field)
        if template is not None and field not in template:
            value = None
        elif field in ("amount_cents", "frequency_duration"):
            value = _int(value, f"{what}: {field}")
        elif field == "percentage_rate":
            value = _dec(value, f"{what}: percentage_rate", api=api)
        out[field] = value
    return out


def _migration(obj: Mapping[str, Any], api: bool) -> dict[str, Any]:
    """A price migration as compared with its record in Lago: which plan it moves subscriptions of. The
    rest (which subscriptions, to which version, when) is planned, not stored (lagosync.planner.migrations)."""
    return {"code": obj.get("code"), "plan_code": obj.get("plan_code")}


_BUILDERS = {
    "tax": _tax,
    "billable_metric": _billable_metric,
    "add_on": _add_on,
    "plan": _plan,
    "coupon": _coupon,
    "migration": _migration,
}


def _build(kind: str, obj: Mapping[str, Any], api: bool, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(obj, Mapping):
        raise ModelError(f"{kind}: expected a mapping, got {type(obj).__name__}")
    if kind == "customer":
        return _customer(obj, api, declared)
    if kind == "applied_coupon":
        return _applied_coupon(obj, api, declared)
    if kind == "subscription":
        return _subscription(obj, api, declared)
    return _BUILDERS[kind](obj, api)


def from_yaml(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical form of a workspace object as written (Lago field names, codes as references).

    Raises ``ModelError`` (a ``UserError``) for values that cannot be canonical, for
    example money written as a float. Non-Lago keys such as ``ensure`` are not part of the
    canonical shape.
    """
    return _build(kind, obj, api=False, declared=None)


def from_api(kind: str, obj: Mapping[str, Any], *, declared: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Canonical form of a Lago API response object.

    ``declared``: for customers, applied coupons and subscriptions, the raw workspace object for
    the same key; it selects the optional fields to compare (see ``_customer``,
    ``_applied_coupon``, ``_subscription``). Without it (an unmanaged customer) only external_id,
    name, email, currency and metadata are kept.
    """
    try:
        return _build(kind, obj, api=True, declared=declared)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise ApiShapeError(_shape_message(kind, obj, declared, exc)) from None


class ApiShapeError(ModelError):
    """A Lago answer whose object has a field of an unexpected shape (a dict where a list is
    expected...): one clear error naming the endpoint and the field, never an internal error."""


def _shape_message(kind: str, obj: Mapping[str, Any], declared: Mapping[str, Any] | None,
                   exc: Exception) -> str:
    """Which top-level field made ``from_api`` fail: the first whose removal lets it succeed."""
    info = KINDS_BY_NAME.get(kind)
    label = info.label if info else kind
    endpoint = f"GET {info.endpoint}" if info and info.endpoint else "Lago"
    key_field = info.key_field if info else "code"
    key = obj.get(key_field) if isinstance(obj, Mapping) else None
    subject = f"{label} {key!r}" if isinstance(key, str) else label
    culprit = None
    if isinstance(obj, Mapping):
        for field in obj:
            try:
                _build(kind, {k: v for k, v in obj.items() if k != field}, api=True, declared=declared)
            except Exception:  # noqa: BLE001 - still failing without this field: not the culprit
                continue
            culprit = field
            break
    if culprit is None:
        return (f"unexpected answer from Lago to {endpoint}: {subject} cannot be read "
                f"({type(exc).__name__}: {str(exc)[:200]})")
    value = obj[culprit]
    shape = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")
    return (f"unexpected answer from Lago to {endpoint}: field '{culprit}' of {subject} is {shape} "
            f"lagosync cannot read ({type(exc).__name__}: {str(exc)[:200]})")


def canonical_state(desired: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> State:
    """``from_yaml`` over a whole ``Workspace.desired`` (kind -> key -> raw object)."""
    state: State = {kind: {} for kind in KINDS}
    for kind in KINDS:
        for key, obj in (desired.get(kind) or {}).items():
            state[kind][key] = from_yaml(kind, obj)
    return state
