"""One billing period of a plan, priced as Lago would invoice it (pure, Decimal only).

``price_period(PricingInput) -> PeriodPrice``: the subscription fee, a fee per charge filter bucket
(and pricing group) by its charge model, the ``min_amount_cents`` true-up, the fixed charges, the
coupons (spread over the fees they cover) and the taxes (per fee by lago-behaviour#tax-precedence,
summed per tax on the invoice). Every rounding step is Lago's (lago-behaviour#pricing-rounding,
#pricing-coupons, #pricing-taxes). What the engine cannot know or model is listed in the result's
``not_modelled`` instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..kinds import charge_code, fixed_charge_code
from .charge_models import Aggregation, PricingInputError, apply_model
from .filters import filter_rules
from .money import (
    UnknownCurrency,
    ceil_to,
    cents,
    dec,
    floor_to,
    fraction_is_half,
    round_half_up,
    subunit_to_unit,
    units_text,
)

__all__ = ["AppliedCoupon", "CouponCredit", "Fee", "PeriodPrice", "PricingInput", "PricingInputError",
           "TaxLine", "UsageEntry", "price_period"]

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_COUPON_PLACES = 5  # Lago stores a fee's share of the coupons as numeric(30,5)


@dataclass(frozen=True)
class UsageEntry:
    """Events of one metric that share the properties in ``values`` (filter keys, pricing group keys)."""

    units: Decimal
    values: Mapping[str, str] = field(default_factory=dict)
    events: int | None = None
    event_values: tuple[Decimal, ...] | None = None
    precise_total_amount_cents: Decimal | None = None


@dataclass(frozen=True)
class AppliedCoupon:
    """A coupon applied to the customer: the canonical coupon and the applied coupon's overrides."""

    coupon: Mapping[str, Any]
    amount_cents: int | None = None
    amount_currency: str | None = None
    percentage_rate: str | None = None
    frequency_duration: int | None = None
    periods_applied: int = 0  # invoices it already discounted
    remaining_amount_cents: int | None = None  # a once fixed-amount coupon partly used


@dataclass(frozen=True)
class PricingInput:
    plan: Mapping[str, Any]  # canonical plan (lagosync.model)
    usage: Mapping[str, Sequence[UsageEntry]] = field(default_factory=dict)  # metric code -> entries
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # canonical billable metrics
    taxes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # canonical taxes by code
    customer_tax_codes: Sequence[str] = ()
    coupons: Sequence[AppliedCoupon] = ()
    premium: bool = False


@dataclass
class TaxLine:
    code: str
    rate: Decimal
    base_cents: Decimal  # the fees' amounts after coupons it applies to
    amount_cents: int

    def to_dict(self, currency: str) -> dict[str, Any]:
        return {"code": self.code, "rate": _text(self.rate), "base_cents": _text(self.base_cents),
                "amount_cents": self.amount_cents, "amount": units_text(self.amount_cents, currency)}


@dataclass
class Fee:
    kind: str  # subscription | charge | true_up | fixed_charge
    code: str  # the plan, charge or fixed charge code
    amount: Decimal  # currency units, before rounding
    amount_cents: int
    units: Decimal = Decimal(1)
    events: int | None = None
    metric: str | None = None
    filter: str | None = None  # a charge filter's display name or values; None: default properties
    group: dict[str, str | None] | None = None  # pricing group values
    tax_codes: list[str] = field(default_factory=list)
    coupons_cents: Decimal = ZERO  # precise share of the coupons
    taxes_cents: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def after_coupons_cents(self) -> Decimal:
        return self.amount_cents - self.coupons_cents

    def label(self) -> str:
        text = {"subscription": "subscription fee", "true_up": "minimum true-up",
                "fixed_charge": "fixed charge"}.get(self.kind, "charge")
        text = f"{text} {self.code}"
        if self.filter is not None:
            text += f" [{self.filter}]"
        if self.group:
            text += " {" + ", ".join(f"{k}={v}" for k, v in self.group.items()) + "}"
        return text

    def to_dict(self, currency: str) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "metric": self.metric, "filter": self.filter,
                "group": self.group, "units": _text(self.units), "events": self.events,
                "precise_amount": _text(self.amount), "amount_cents": self.amount_cents,
                "amount": units_text(self.amount_cents, currency), "coupons_cents": _text(self.coupons_cents),
                "tax_codes": list(self.tax_codes), "taxes_cents": self.taxes_cents, "details": self.details}


@dataclass
class CouponCredit:
    code: str
    amount_cents: int

    def to_dict(self, currency: str) -> dict[str, Any]:
        return {"code": self.code, "amount_cents": self.amount_cents,
                "amount": units_text(self.amount_cents, currency)}


@dataclass
class PeriodPrice:
    plan: str
    currency: str
    fees: list[Fee]
    coupons: list[CouponCredit]
    taxes: list[TaxLine]
    fees_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    not_modelled: list[str]
    notes: list[str]

    def charge_cents(self, code: str) -> int:
        """A charge's fees together (all filters, groups and its true-up)."""
        return sum(f.amount_cents for f in self.fees if f.kind in ("charge", "true_up") and f.code == code)

    def fixed_charge_cents(self, code: str) -> int:
        return sum(f.amount_cents for f in self.fees if f.kind == "fixed_charge" and f.code == code)

    def subscription_cents(self) -> int:
        return sum(f.amount_cents for f in self.fees if f.kind == "subscription")

    def to_dict(self) -> dict[str, Any]:
        c = self.currency
        return {
            "plan": self.plan, "currency": c,
            "fees": [f.to_dict(c) for f in self.fees],
            "fees_amount_cents": self.fees_amount_cents, "fees_amount": units_text(self.fees_amount_cents, c),
            "coupons": [x.to_dict(c) for x in self.coupons],
            "coupons_amount_cents": self.coupons_amount_cents,
            "sub_total_excluding_taxes_cents": self.sub_total_excluding_taxes_cents,
            "sub_total_excluding_taxes": units_text(self.sub_total_excluding_taxes_cents, c),
            "taxes": [t.to_dict(c) for t in self.taxes],
            "taxes_amount_cents": self.taxes_amount_cents,
            "total_amount_cents": self.total_amount_cents, "total": units_text(self.total_amount_cents, c),
            "not_modelled": list(self.not_modelled), "notes": list(self.notes),
        }


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != 0 else "0"


# ---------------------------------------------------------------------------------------- fees


def _aggregate(entries: Sequence[UsageEntry], metric: Mapping[str, Any] | None) -> Aggregation:
    units = sum((e.units for e in entries), ZERO)
    counts = [e.events if e.events is not None else (len(e.event_values) if e.event_values is not None else None)
              for e in entries]
    count_metric = bool(metric and metric.get("aggregation_type") == "count_agg")
    count: int | None
    if all(c is not None for c in counts):
        count = sum(c for c in counts if c is not None)
    elif count_metric:
        count = int(units)
    else:
        count = None
    values: tuple[Decimal, ...] | None = None
    if all(e.event_values is not None for e in entries):
        values = tuple(v for e in entries for v in (e.event_values or ()))
    amounts = [e.precise_total_amount_cents for e in entries]
    precise = sum((a for a in amounts if a is not None), ZERO) if entries and all(a is not None for a in amounts) \
        else (ZERO if not entries else None)
    units = _metric_rounding(units, metric)
    return Aggregation(units=units, count=count, event_values=values, precise_total_amount_cents=precise,
                       count_metric=count_metric)


def _metric_rounding(units: Decimal, metric: Mapping[str, Any] | None) -> Decimal:
    # lago-behaviour#metric-rounding: the metric's rounding applies to the aggregated units
    if not metric or not metric.get("rounding_function"):
        return units
    places = int(metric.get("rounding_precision") or 0)
    fn = metric["rounding_function"]
    if fn == "ceil":
        return ceil_to(units, places)
    if fn == "floor":
        return floor_to(units, places)
    if fn == "round":
        return round_half_up(units, places)
    return units


def _filter_label(flt: Mapping[str, Any]) -> str:
    if flt.get("invoice_display_name"):
        return str(flt["invoice_display_name"])
    values = flt.get("values") or {}
    return ", ".join(f"{k}: {'|'.join(v)}" for k, v in sorted(values.items()))


def _group_keys(props: Mapping[str, Any]) -> list[str]:
    keys = props.get("pricing_group_keys") or props.get("grouped_by") or []
    return [str(k) for k in keys]


class _Pricer:
    def __init__(self, data: PricingInput):
        self.data = data
        self.plan = data.plan
        self.currency = str(self.plan.get("amount_currency") or "")
        self.subunits = subunit_to_unit(self.currency)
        self.not_modelled: list[str] = []
        self.notes: list[str] = []

    def miss(self, text: str) -> None:
        if text not in self.not_modelled:
            self.not_modelled.append(text)

    def fee(self, kind: str, code: str, amount: Decimal, **kw: Any) -> Fee:
        # lago-behaviour#pricing-rounding: negative units or amount give an empty fee
        units = kw.get("units", Decimal(1))
        if amount < 0 or units < 0:
            amount = ZERO
            kw["units"] = ZERO
        return Fee(kind, code, amount, cents(amount, self.currency), **kw)

    def plan_notes(self) -> None:
        plan = self.plan
        if dec(plan.get("trial_period") or "0") > 0:
            self.miss(f"trial period of {plan['trial_period']} days: the first period's subscription fee is "
                      "prorated by Lago; the engine prices a full period after the trial")
        if plan.get("bill_charges_monthly"):
            self.miss("charges billed monthly on a yearly or semiannual plan: the engine prices the usage given "
                      "as one charges period together with the plan's full fee")
        self.notes.append("one full billing period: no proration of a partial period, no progressive billing, "
                          "wallets or credit notes")

    def subscription_fee(self) -> Fee:
        amount_cents = int(self.plan.get("amount_cents") or 0)
        amount = Decimal(amount_cents) / self.subunits
        fee = Fee("subscription", str(self.plan.get("code")), amount, amount_cents)
        if self.plan.get("pay_in_advance"):
            self.notes.append("the subscription fee is paid in advance (at the start of the period)")
        return fee

    def charge_fees(self, charge: Mapping[str, Any]) -> list[Fee]:
        code = charge_code(charge)
        metric_code = str(charge.get("billable_metric_code"))
        metric = self.data.metrics.get(metric_code)
        model = str(charge.get("charge_model") or "standard")
        if model == "custom":
            self.miss(f"charge {code}: the custom charge model runs code on Lago's side; not priced")
            return []
        if charge.get("prorated"):
            self.miss(f"charge {code}: prorated units of a recurring metric depend on when each unit was added; "
                      "the engine uses the units given")
        if charge.get("pay_in_advance"):
            self.miss(f"charge {code}: paid in advance, Lago bills each event as it arrives (each fee rounded on "
                      "its own); the engine prices the period's usage at once")
        if metric and (metric.get("recurring") or metric.get("aggregation_type") == "weighted_sum_agg"):
            self.miss(f"charge {code}: metric {metric_code} is recurring or weighted; the engine uses the units "
                      "given as the period's aggregation")
        entries = list(self.data.usage.get(metric_code, ()))
        filters = list(charge.get("filters") or [])
        metric_filters = (metric or {}).get("filters") or {}
        rules = filter_rules(filters, metric_filters)
        fees: list[Fee] = []
        for rule in rules:
            flt = filters[rule.index] if rule.index is not None else None
            props = flt.get("properties") if flt is not None else charge.get("properties")
            props = props or {}
            taken = [e for e in entries if rule.takes(e.values)]
            label = _filter_label(flt) if flt is not None else None
            keys = _group_keys(props)
            buckets: list[tuple[dict[str, str | None] | None, list[UsageEntry]]]
            if keys:
                groups: dict[tuple[str | None, ...], list[UsageEntry]] = {}
                for entry in taken:
                    groups.setdefault(tuple(entry.values.get(k) for k in keys), []).append(entry)
                buckets = [({k: v for k, v in zip(keys, gk, strict=True)}, group) for gk, group in sorted(
                    groups.items(), key=lambda kv: [str(x) for x in kv[0]])]
            else:
                buckets = [(None, taken)]
            for group, bucket in buckets:
                agg = _aggregate(bucket, metric)
                try:
                    result = apply_model(model, props, agg, premium=self.data.premium, subunits=self.subunits)
                except PricingInputError as exc:
                    raise PricingInputError(f"charge {code}: {exc}") from None
                fee = self.fee("charge", code, result.amount, units=agg.units, events=agg.count,
                               metric=metric_code, filter=label, group=group, details=result.details)
                fee.tax_codes = list(charge.get("tax_codes") or [])
                fees.append(fee)
        true_up = self.true_up(charge, code, metric_code, fees)
        # lago-behaviour#pricing-rounding: a fee with no units, amount or events is not kept, except
        # the default-properties fee a true-up refers to
        kept = [f for f in fees if f.units != 0 or f.amount_cents != 0 or (f.events or 0) != 0
                or (true_up and f.filter is None and not f.group)]
        return kept + true_up

    def true_up(self, charge: Mapping[str, Any], code: str, metric_code: str, fees: list[Fee]) -> list[Fee]:
        minimum = int(charge.get("min_amount_cents") or 0)
        if minimum <= 0:
            return []
        if not self.data.premium:
            self.notes.append(f"charge {code}: min_amount_cents is ignored by a Lago without a premium license")
            return []
        used = sum(f.amount_cents for f in fees)
        if used >= minimum:
            return []
        # lago-behaviour#charge-min-amount-true-up: a fee for the difference, full period
        gap = minimum - used
        fee = Fee("true_up", code, Decimal(gap) / self.subunits, gap, metric=metric_code)
        fee.tax_codes = list(charge.get("tax_codes") or [])
        return [fee]

    def fixed_charge_fee(self, item: Mapping[str, Any]) -> Fee | None:
        code = fixed_charge_code(item)
        units = dec(item.get("units") or "0", f"fixed charge {code}: units")
        if item.get("prorated"):
            self.miss(f"fixed charge {code}: prorated; the engine assumes its units held the whole period")
        model = str(item.get("charge_model") or "standard")
        result = apply_model(model, item.get("properties") or {}, Aggregation(units=units, count=None),
                             premium=self.data.premium, subunits=self.subunits)
        fee = self.fee("fixed_charge", code, result.amount, units=units, details=result.details)
        fee.tax_codes = list(item.get("tax_codes") or [])
        if fee.units == 0 and fee.amount_cents == 0:
            return None
        return fee


# ------------------------------------------------------------------------------------- coupons


def _coupon_active(applied: AppliedCoupon) -> bool:
    coupon = applied.coupon
    frequency = coupon.get("frequency") or "once"
    fixed = coupon.get("coupon_type") != "percentage"
    if frequency == "forever":
        return True
    if frequency == "recurring":
        duration = applied.frequency_duration if applied.frequency_duration is not None \
            else int(coupon.get("frequency_duration") or 0)
        return applied.periods_applied < duration
    if not fixed:
        return applied.periods_applied == 0
    return _remaining(applied) > 0


def _remaining(applied: AppliedCoupon) -> int:
    if applied.remaining_amount_cents is not None:
        return applied.remaining_amount_cents
    return applied.amount_cents if applied.amount_cents is not None else int(applied.coupon.get("amount_cents") or 0)


def coupon_amount(applied: AppliedCoupon, base_cents: Decimal) -> tuple[Decimal, bool]:
    """The credit of one coupon on a base (lago-behaviour#pricing-coupons); True when the exact
    percentage discount is a half-cent tie (Lago rounds it in binary floating point)."""
    coupon = applied.coupon
    if coupon.get("coupon_type") == "percentage":
        rate = dec(applied.percentage_rate if applied.percentage_rate is not None
                   else coupon.get("percentage_rate") or "0", "percentage_rate")
        discounted = base_cents * rate / HUNDRED
        if discounted >= base_cents:
            return base_cents, False
        return round_half_up(discounted), fraction_is_half(discounted)
    frequency = coupon.get("frequency") or "once"
    if frequency in ("recurring", "forever"):
        amount = Decimal(applied.amount_cents if applied.amount_cents is not None
                         else int(coupon.get("amount_cents") or 0))
    else:
        amount = Decimal(_remaining(applied))
    return (base_cents if amount > base_cents else amount), False


def _apply_coupons(p: _Pricer, fees: list[Fee]) -> list[CouponCredit]:
    data = p.data
    ordered = sorted(enumerate(data.coupons), key=lambda iv: (
        not iv[1].coupon.get("applies_to", {}).get("billable_metric_codes"),
        not iv[1].coupon.get("applies_to", {}).get("plan_codes"), iv[0]))
    fees_total = sum(f.amount_cents for f in fees)
    sub_total = Decimal(fees_total)
    credits: list[CouponCredit] = []
    if fees_total <= 0:
        return credits
    for _, applied in ordered:
        if not sub_total > 0:
            break
        coupon = applied.coupon
        code = str(coupon.get("code"))
        if not _coupon_active(applied):
            p.notes.append(f"coupon {code} no longer applies (used up)")
            continue
        fixed = coupon.get("coupon_type") != "percentage"
        currency = applied.amount_currency or coupon.get("amount_currency")
        if fixed and currency != p.currency:
            p.notes.append(f"coupon {code} is in {currency}, the invoice in {p.currency}: Lago skips it")
            continue
        targets = coupon.get("applies_to") or {}
        metric_codes = list(targets.get("billable_metric_codes") or [])
        plan_codes = list(targets.get("plan_codes") or [])
        if metric_codes:
            covered = [f for f in fees if f.kind in ("charge", "true_up") and f.metric in metric_codes]
        elif plan_codes:
            covered = fees if p.plan.get("code") in plan_codes else []
        else:
            covered = fees
        if not covered:
            p.notes.append(f"coupon {code} covers no fee of this invoice")
            continue
        if metric_codes or plan_codes:
            base = sum((f.amount_cents - f.coupons_cents for f in covered), ZERO)
        else:
            base = sub_total
        if base != base.to_integral_value():
            p.miss(f"coupon {code}: its base ({base} cents) is not whole after the previous coupons; Lago stores "
                   "the credit in whole cents")
        credit, tie = coupon_amount(applied, base)
        if tie:
            p.miss(f"coupon {code}: the discount is exactly half a cent before rounding; Lago rounds it in "
                   "binary floating point and may round it down")
        credit_cents = int(credit)
        for f in covered:
            if base != 0:
                share = Decimal(credit_cents) * (f.amount_cents - f.coupons_cents) / base
                f.coupons_cents = round_half_up(f.coupons_cents + share, _COUPON_PLACES)
            if f.amount_cents < f.coupons_cents:
                f.coupons_cents = Decimal(f.amount_cents)
        credits.append(CouponCredit(code, credit_cents))
        sub_total -= credit_cents
    return credits


# --------------------------------------------------------------------------------------- taxes


def _fee_tax_codes(p: _Pricer, fee: Fee) -> list[str]:
    # lago-behaviour#tax-precedence
    data = p.data
    if fee.kind != "subscription" and fee.tax_codes:
        return list(fee.tax_codes)
    if data.plan.get("tax_codes"):
        return list(data.plan["tax_codes"])
    if data.customer_tax_codes:
        return list(data.customer_tax_codes)
    return sorted(code for code, tax in data.taxes.items() if tax.get("applied_to_organization"))


def _apply_taxes(p: _Pricer, fees: list[Fee]) -> list[TaxLine]:
    per_tax: dict[str, Decimal] = {}
    order: list[str] = []
    for fee in fees:
        fee.tax_codes = _fee_tax_codes(p, fee)
        total = ZERO
        for code in fee.tax_codes:
            tax = p.data.taxes.get(code)
            if tax is None:
                raise PricingInputError(f"unknown tax {code}")
            rate = dec(tax.get("rate") or "0", f"tax {code}: rate")
            amount = fee.after_coupons_cents * rate / HUNDRED
            total += amount
            if code not in per_tax:
                per_tax[code] = ZERO
                order.append(code)
            per_tax[code] += fee.after_coupons_cents * rate
        fee.taxes_cents = int(round_half_up(total))
    lines = []
    for code in order:
        rate = dec(p.data.taxes[code].get("rate") or "0")
        exact = per_tax[code] / HUNDRED
        if fraction_is_half(exact):
            p.miss(f"tax {code}: exactly half a cent before rounding; Lago sums taxes in binary floating point "
                   "and may round it down")
        base = sum((f.after_coupons_cents for f in fees if code in f.tax_codes), ZERO)
        lines.append(TaxLine(code, rate, base, int(round_half_up(exact))))
    return lines


def price_period(data: PricingInput) -> PeriodPrice:
    """What Lago invoices for one full billing period of ``data.plan`` with ``data.usage``."""
    try:
        p = _Pricer(data)
    except UnknownCurrency as exc:
        raise PricingInputError(f"currency {exc} cannot be priced: Lago's money library has no entry for it") from None
    p.plan_notes()
    fees = [p.subscription_fee()]
    for charge in (data.plan.get("charges") or {}).values():
        fees.extend(p.charge_fees(charge))
    for item in (data.plan.get("fixed_charges") or {}).values():
        if item.get("pay_in_advance"):
            p.notes.append(f"fixed charge {fixed_charge_code(item)} is paid in advance")
        fee = p.fixed_charge_fee(item)
        if fee is not None:
            fees.append(fee)
    credits = _apply_coupons(p, fees)
    fees_amount = sum(f.amount_cents for f in fees)
    coupons_amount = sum(c.amount_cents for c in credits)
    sub_total = fees_amount - coupons_amount
    taxes = _apply_taxes(p, fees)
    exact_taxes = sum((f.after_coupons_cents * dec(p.data.taxes[c].get("rate") or "0") / HUNDRED
                       for f in fees for c in f.tax_codes), ZERO)
    taxes_amount = int(round_half_up(exact_taxes))
    return PeriodPrice(
        plan=str(data.plan.get("code")), currency=p.currency, fees=fees, coupons=credits, taxes=taxes,
        fees_amount_cents=fees_amount, coupons_amount_cents=coupons_amount,
        sub_total_excluding_taxes_cents=sub_total, taxes_amount_cents=taxes_amount,
        total_amount_cents=sub_total + taxes_amount, not_modelled=p.not_modelled, notes=p.notes)
