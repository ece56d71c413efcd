"""Lago validation rules the emulator applies (each cites its docs/lago-behaviour.md entry)."""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from decimal import Decimal, InvalidOperation

from ..iso import COUNTRY_CODES
from .errors import ApiError, unprocessable

# ISO 4217 codes accepted as currencies (Lago validates against its currency list, lago-behaviour#currency-codes).
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
    NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP
    SLL SOS SRD SSP STD SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV
    WST XAF XCD XOF XPF YER ZAR ZMW""".split()
)

AGGREGATION_TYPES = (
    "count_agg", "sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg", "latest_agg", "custom_agg",
)
# lago-behaviour#metric-recurring: recurring not allowed with these
NON_RECURRING_AGGS = ("count_agg", "max_agg", "latest_agg")
# lago-behaviour#charge-pay-in-advance: pay-in-advance charges only for these
PAY_IN_ADVANCE_AGGS = ("count_agg", "sum_agg", "unique_count_agg", "custom_agg")
CHARGE_MODELS = (
    "standard", "graduated", "package", "percentage", "volume", "graduated_percentage", "custom", "dynamic",
)
PLAN_INTERVALS = ("weekly", "monthly", "yearly", "quarterly", "semiannual")
YEARLY_FACTOR = {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}  # lago-behaviour#plan-yearly-amount
ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"


class Errors:
    """Collects ``error_details`` the way Rails validations do (field -> [codes])."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, field: str, code: str) -> None:
        codes = self.details.setdefault(field, [])
        if code not in codes:
            codes.append(code)

    def raise_if_any(self) -> None:
        if self.details:
            raise unprocessable(self.details)


def blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def is_decimal_string(value) -> bool:
    """lago-behaviour#charge-amounts-as-strings: money/rate values must be JSON strings holding non-negative decimals."""
    if not isinstance(value, str):
        return False
    try:
        d = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return False
    return d.is_finite() and d >= 0


def as_int(value, default=None):
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    return default


def as_bool(value, default=None):
    """Rails boolean casting: true/"true"/"1"/1 → True, false/"false"/"0"/0 → False."""
    if isinstance(value, bool):
        return value
    if value in (1, "1", "true", "t", "TRUE", "True", "yes", "on"):
        return True
    if value in (0, "0", "false", "f", "FALSE", "False", "no", "off"):
        return False
    return default


def ruby_decimal(value) -> str | None:
    """A decimal column as Rails renders it in JSON (BigDecimal#to_s: "10.0", "12.5"), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite():
        return None
    if d == d.to_integral_value():
        return f"{int(d)}.0"
    return format(d.normalize(), "f")


def as_float(value, default=None):
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            return default
    return default


# ---------------------------------------------- charge properties (lago-behaviour#charge-properties-defaults)

_RANGE_KEYS = {
    "graduated_ranges": ("from_value", "to_value", "per_unit_amount", "flat_amount"),
    "volume_ranges": ("from_value", "to_value", "per_unit_amount", "flat_amount"),
    "graduated_percentage_ranges": ("from_value", "to_value", "rate", "flat_amount"),
}

MODEL_KEYS = {
    "standard": ("amount",),
    "graduated": ("graduated_ranges",),
    "volume": ("volume_ranges",),
    "package": ("amount", "package_size", "free_units"),
    "percentage": (
        "rate", "fixed_amount", "free_units_per_events", "free_units_per_total_aggregation",
        "per_transaction_min_amount", "per_transaction_max_amount",
    ),
    "graduated_percentage": ("graduated_percentage_ranges",),
    "dynamic": (),
    "custom": ("custom_properties",),
}


def default_properties(model: str) -> dict:
    """lago-behaviour#charge-properties-defaults: omitted/empty properties → model defaults."""
    if model == "standard":
        return {"amount": "0"}
    if model == "graduated":
        return {"graduated_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]}
    if model == "volume":
        return {"volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]}
    if model == "package":
        return {"package_size": 1, "amount": "0", "free_units": 0}
    if model == "percentage":
        return {"rate": "0"}
    if model == "graduated_percentage":
        return {
            "graduated_percentage_ranges": [{"from_value": 0, "to_value": None, "rate": "0", "flat_amount": "0"}]
        }
    return {}


def filter_properties(model: str, props, *, for_filter: bool = False) -> dict:
    """Keep only the keys allowed for the model (unknown keys silently stripped, lago-behaviour#charge-properties-stripped)."""
    if not isinstance(props, dict) or not props:
        return default_properties(model)
    out: dict = {}
    for key in MODEL_KEYS.get(model, ()):
        if key in props:
            value = props[key]
            if key in _RANGE_KEYS and isinstance(value, list):
                value = [
                    {k: r.get(k) for k in _RANGE_KEYS[key]} if isinstance(r, dict) else r for r in value
                ]
            out[key] = value
    # lago-behaviour#charge-grouping-keys: pricing_group_keys (legacy alias grouped_by, responses echo both)
    groups = props.get("pricing_group_keys", props.get("grouped_by"))
    if groups is not None:
        out["pricing_group_keys"] = groups
        out["grouped_by"] = groups
    if not for_filter and "presentation_group_keys" in props:
        out["presentation_group_keys"] = props["presentation_group_keys"]
    return out


def _check_ranges(ranges, key: str, errors: Errors, volume: bool) -> None:
    """Range rules (lago-behaviour#charge-range-rules; range_bounds_validator)."""
    kind = "volume" if volume else "graduated"
    if key == "graduated_percentage_ranges":
        kind = "graduated_percentage"
    if not isinstance(ranges, list) or not ranges:
        errors.add("properties", f"missing_{kind}_ranges")
        return
    ok = True
    prev_to = None
    for i, r in enumerate(ranges):
        if not isinstance(r, dict):
            ok = False
            break
        frm, to = as_int(r.get("from_value")), r.get("to_value")
        to_i = as_int(to) if to is not None else None
        last = i == len(ranges) - 1
        if frm is None or (to is not None and to_i is None):
            ok = False
            break
        if i == 0:
            if frm not in (0, 1):
                ok = False
        elif prev_to is None:
            ok = False  # only the last range may be open-ended
        else:
            allowed = (prev_to + 1, prev_to + 2) if volume else (prev_to, prev_to + 1)
            if frm not in allowed:
                ok = False
        if last != (to_i is None):
            ok = False
        if to_i is not None and to_i <= frm:
            ok = False
        prev_to = to_i
        amount_keys = ("rate", "flat_amount") if key == "graduated_percentage_ranges" else ("per_unit_amount", "flat_amount")
        for ak in amount_keys:
            if not is_decimal_string(r.get(ak)):
                errors.add("properties", "invalid_rate" if ak == "rate" else "invalid_amount")
    if not ok:
        errors.add("properties", f"invalid_{kind}_ranges")


def validate_properties(model: str, props: dict, errors: Errors) -> None:
    """Money values must be strings (invalid_amount / invalid_rate, lago-behaviour#charge-amounts-as-strings),
    range rules (lago-behaviour#charge-range-rules)."""
    if model == "standard":
        if not is_decimal_string(props.get("amount")):
            errors.add("properties", "invalid_amount")
    elif model == "package":
        if not is_decimal_string(props.get("amount")):
            errors.add("properties", "invalid_amount")
        size = as_int(props.get("package_size"))
        if size is None or size <= 0 or isinstance(props.get("package_size"), str):
            errors.add("properties", "invalid_package_size")
        free = props.get("free_units")
        if free is not None and (as_int(free) is None or as_int(free) < 0 or isinstance(free, str)):
            errors.add("properties", "invalid_free_units")
    elif model == "percentage":
        if not is_decimal_string(props.get("rate")):
            errors.add("properties", "invalid_rate")
        if props.get("fixed_amount") is not None and not is_decimal_string(props.get("fixed_amount")):
            errors.add("properties", "invalid_fixed_amount")
        fue = props.get("free_units_per_events")
        if fue is not None and (isinstance(fue, str) or (as_int(fue) or 0) <= 0):
            errors.add("properties", "invalid_free_units_per_events")
        futa = props.get("free_units_per_total_aggregation")
        if futa is not None and not is_decimal_string(futa):
            errors.add("properties", "invalid_free_units_per_total_aggregation")
    elif model in ("graduated", "volume", "graduated_percentage"):
        key = {"graduated": "graduated_ranges", "volume": "volume_ranges"}.get(model, "graduated_percentage_ranges")
        _check_ranges(props.get(key), key, errors, volume=model == "volume")


@functools.cache
def customer_enum(name: str) -> tuple:
    """The values Lago accepts for a customer enum (lago-behaviour#customer-enums), ``None`` included where
    Lago allows null. Defined once, in the workspace schema's ``$defs`` (schemas/orgs.schema.json), which
    also validates orgs.yaml."""
    text = importlib.resources.files("lagosync.schemas").joinpath("orgs.schema.json").read_text("utf-8")
    return tuple(json.loads(text)["$defs"][name]["enum"])


def check_country(value, field: str, errors: Errors) -> str | None:
    """lago-behaviour#customer-country: a country is upcased, then must be an ISO 3166-1 alpha-2 code."""
    if value is None:
        return None
    text = str(value).upper()
    if text not in COUNTRY_CODES:
        errors.add(field, "not_a_valid_country_code")
    return text


def check_currency(value, field: str, errors: Errors, required: bool = True) -> None:
    if value is None or value == "":
        if required:
            errors.add(field, "value_is_mandatory")
        return
    if value not in CURRENCIES:
        errors.add(field, "value_is_invalid")


__all__ = ["ApiError", "Errors"]
