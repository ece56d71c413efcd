"""A subscription's current usage (lago-behaviour#current-usage, lago-behaviour#current-usage-aggregation,
lago-behaviour#emulator-current-usage).

``GET /customers/{external_customer_id}/current_usage?external_subscription_id=...``: the events stored
for the subscription in its current billing period, aggregated per charge (per filter bucket and pricing
group) by the metric's aggregation type, and priced by lagosync's pricing engine (the emulator is
lagosync's own Lago, so it uses the same charge models, rounding and taxes). Only charges: no subscription
fee, fixed charges, minimum true-up or coupons, as in Lago's current usage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ... import model
from ...pricing import PricingInput, PricingInputError, UsageEntry, price_period
from ...pricing.filters import filter_rules
from ...pricing.money import round_half_up
from ..common import Request, iso
from ..errors import method_not_allowed, unprocessable
from ..rules import as_bool
from .base import BM, EVENT, PLAN, SUB, TAX, _parse_time
from .billable_metrics import BillableMetricsMixin
from .subscriptions import SubscriptionsMixin

ZERO = Decimal(0)
# aggregation types the emulator aggregates (lago-behaviour#current-usage-aggregation)
AGGREGATIONS = ("count_agg", "sum_agg", "max_agg", "unique_count_agg", "latest_agg")


def units_text(value: Decimal) -> str:
    """A BigDecimal as Lago renders units: plain notation, at least one decimal ("10.0", "0.5")."""
    text = f"{value.normalize():f}" if value != 0 else "0"
    return text if "." in text else f"{text}.0"


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def _prop(event: Mapping[str, Any], key: str) -> str | None:
    value = (event.get("properties") or {}).get(key)
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def aggregate(metric: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> UsageEntry:
    """One bucket's events (timestamp order) as the engine's usage entry, by the metric's aggregation
    (lago-behaviour#current-usage-aggregation): unrounded units, events count, each event's value."""
    kind = metric.get("aggregation_type")
    field = str(metric.get("field_name") or "")
    if kind == "count_agg":
        return UsageEntry(units=Decimal(len(events)), events=len(events),
                          event_values=tuple(Decimal(1) for _ in events))
    values = [_number((e.get("properties") or {}).get(field)) for e in events]
    numeric = [v for v in values if v is not None]
    if kind == "sum_agg":
        amounts = [_number(e.get("precise_total_amount_cents")) for e in events]
        return UsageEntry(units=sum(numeric, ZERO), events=len(events), event_values=tuple(numeric),
                          precise_total_amount_cents=sum((a for a in amounts if a is not None), ZERO))
    if kind == "max_agg":
        return UsageEntry(units=max(numeric, default=ZERO), events=len(events))
    if kind == "latest_agg":
        return UsageEntry(units=numeric[-1] if numeric else ZERO, events=len(events))
    if kind == "unique_count_agg":
        distinct = {_prop(e, field) for e in events} - {None}
        return UsageEntry(units=Decimal(len(distinct)), events=len(events))
    raise ValueError(kind)


class UsageMixin(SubscriptionsMixin, BillableMetricsMixin):
    # ================================ current usage (lago-behaviour#current-usage, #emulator-current-usage)
    def current_usage(self, req: Request):
        customer = self._customer_by_ext(req.params["external_customer_id"])
        ext = req.q("external_subscription_id")
        # lago-behaviour#current-usage: the customer's active subscription with that external id, else 405
        sub = next((s for s in self.store.find(SUB, "external_id", ext or "")
                    if s["_customer_id"] == customer["lago_id"] and s["status"] == "active"), None)
        if sub is None:
            raise method_not_allowed("no_active_subscription")
        apply_taxes = as_bool(req.q("apply_taxes"), True) is not False
        plan_row = self._ref(PLAN, sub["_plan_id"])
        now = self.emu.now()
        start, end = self._period(sub, plan_row, now)
        started = _parse_time(sub.get("started_at"))
        charges_from = max(start, started) if started is not None else start
        plan = model.from_api("plan", self._plan_out(plan_row))
        currency = str(plan["amount_currency"])
        metric_rows = {c["_bm_id"]: self.store.get(BM, c["_bm_id"]) for c in plan_row["_charges"]}
        metrics = {m["code"]: model.from_api("billable_metric", self._bm_out(m, counters=False))
                   for m in metric_rows.values() if m is not None}
        names = {m["code"]: m["name"] for m in metric_rows.values() if m is not None}
        self._refuse_unmodelled(plan, metrics)
        events = sorted(self.store.find(EVENT, "external_subscription_id", sub["external_id"]),
                        key=lambda e: (e["timestamp"], e["_created"]))
        taxes = {t["code"]: model.from_api("tax", self._tax_out(t)) for t in self._live(TAX)}
        charges_out: list[tuple[str, dict]] = []
        fees: list[tuple[int, list[str]]] = []  # (amount_cents, tax codes) of every fee
        for charge_row, (code, charge) in zip(plan_row["_charges"], plan["charges"].items(), strict=True):
            metric = metrics[charge["billable_metric_code"]]
            since = started if metric.get("recurring") and started is not None else charges_from
            window = [e for e in events if e["code"] == metric["code"]
                      and since <= (_parse_time(e["timestamp"]) or now) <= end]
            out, charge_fees = self._charge_usage(charge_row, code, charge, metric, names, window, plan, metrics,
                                                  currency)
            charges_out.append((names.get(metric["code"], "").lower(), out))
            tax_codes = list(charge.get("tax_codes") or []) or list(plan.get("tax_codes") or []) \
                or list(customer.get("_tax_codes") or []) \
                or sorted(c for c, t in taxes.items() if t.get("applied_to_organization"))
            fees.extend((amount, tax_codes) for amount in charge_fees)
        amount = sum(a for a, _ in fees)
        exact = sum((Decimal(a) * Decimal(taxes[c]["rate"]) / 100 for a, codes in fees for c in codes
                     if c in taxes), ZERO)
        taxes_amount = int(round_half_up(exact)) if apply_taxes else 0
        charges_out.sort(key=lambda item: item[0])  # lago-behaviour#current-usage: by metric name
        return {"customer_usage": {
            "from_datetime": iso(charges_from), "to_datetime": iso(end),
            "issuing_date": end.date().isoformat(), "currency": currency,
            "amount_cents": amount, "total_amount_cents": amount + taxes_amount,
            "taxes_amount_cents": taxes_amount, "lago_invoice_id": None,
            "charges_usage": [out for _, out in charges_out],
        }}

    @staticmethod
    def _refuse_unmodelled(plan: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]]) -> None:
        # lago-behaviour#emulator-current-usage: what the emulator does not aggregate is refused, never guessed
        for code, charge in plan["charges"].items():
            metric = metrics[charge["billable_metric_code"]]
            if metric.get("aggregation_type") not in AGGREGATIONS:
                raise unprocessable({"billable_metric": [f"{metric.get('aggregation_type')}_not_modelled"]})
            if charge.get("prorated"):
                raise unprocessable({"charge": [f"prorated_charge_{code}_not_modelled"]})

    def _charge_usage(self, charge_row: dict, code: str, charge: Mapping[str, Any], metric: Mapping[str, Any],
                      names: Mapping[str, str], events: list[dict], plan: Mapping[str, Any],
                      metrics: Mapping[str, Mapping[str, Any]], currency: str) -> tuple[dict, list[int]]:
        filters = list(charge.get("filters") or [])
        rules = filter_rules(filters, metric.get("filters") or {})
        buckets: list[dict] = []  # one per filter (then the default), each with its fees
        for rule in rules:
            flt = filters[rule.index] if rule.index is not None else None
            props = dict((flt if flt is not None else charge).get("properties") or {})
            taken = [e for e in events if rule.takes(_values(e))]
            bucket_fees = self._bucket_fees(code, charge, props, metric, taken, plan, metrics)
            raw_values = (charge_row["filters"][rule.index]["values"] if rule.index is not None else {})
            buckets.append({"filter": flt, "values": dict(raw_values), "fees": bucket_fees})
        all_fees = [f for b in buckets for f in b["fees"]]
        out = {
            **_usage_data(all_fees), "amount_currency": currency, "pricing_unit_details": None,
            "charge": {"lago_id": charge_row["lago_id"], "code": code, "charge_model": charge["charge_model"],
                       "invoice_display_name": charge.get("invoice_display_name")},
            "billable_metric": {"lago_id": charge_row["_bm_id"], "name": names.get(metric["code"]),
                                "code": metric["code"], "aggregation_type": metric["aggregation_type"]},
            "filters": [_filter_data(b["filter"], b["values"], b["fees"]) for b in buckets] if filters else [],
            "grouped_usage": _grouped(buckets, bool(filters)),
            "presentation_breakdowns": [],
        }
        return out, [int(f["amount_cents"]) for f in all_fees]

    def _bucket_fees(self, code: str, charge: Mapping[str, Any], props: dict, metric: Mapping[str, Any],
                     events: list[dict], plan: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]]
                     ) -> list[dict]:
        keys = [str(k) for k in (props.get("pricing_group_keys") or props.get("grouped_by") or [])]
        groups: dict[tuple[str | None, ...], list[dict]] = {}
        for event in events:
            groups.setdefault(tuple(_prop(event, k) for k in keys), []).append(event)
        if not groups:
            groups[tuple(None for _ in keys)] = []
        entries = [UsageEntry(units=e.units, values={k: v for k, v in zip(keys, gk, strict=True) if v is not None},
                              events=e.events, event_values=e.event_values,
                              precise_total_amount_cents=e.precise_total_amount_cents)
                   for gk, evs in groups.items() for e in [aggregate(metric, evs)]]
        # the charge alone, on the bucket's properties: the engine prices each pricing group of it
        alone = {**charge, "filters": [], "properties": props, "min_amount_cents": 0, "tax_codes": []}
        data = PricingInput(plan={**plan, "amount_cents": 0, "charges": {code: alone}, "fixed_charges": {},
                                  "tax_codes": []},
                            usage={metric["code"]: entries}, metrics=metrics, premium=self.emu.premium)
        try:
            priced = price_period(data)
        except PricingInputError as exc:
            raise unprocessable({"charge": [f"{code}: {exc}"]}) from None
        fees = {tuple((f.group or {}).get(k) for k in keys): f for f in priced.fees if f.kind == "charge"}
        out = []
        for gk, evs in sorted(groups.items(), key=lambda kv: [str(x) for x in kv[0]]):
            fee = fees.get(gk)
            out.append({"units": fee.units if fee else ZERO, "events_count": len(evs),
                        "amount_cents": fee.amount_cents if fee else 0,
                        "grouped_by": {k: v for k, v in zip(keys, gk, strict=True)} if keys and evs else None})
        return out


def _values(event: Mapping[str, Any]) -> dict[str, str]:
    """An event's properties as the strings filters compare (lago-behaviour#charge-filter-matching)."""
    out = {}
    for key in event.get("properties") or {}:
        value = _prop(event, str(key))
        if value is not None:
            out[str(key)] = value
    return out


def _usage_data(fees: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    units = sum((Decimal(f["units"]) for f in fees), ZERO)
    return {"units": units_text(units), "total_aggregated_units": units_text(units),
            "events_count": sum(int(f["events_count"]) for f in fees),
            "amount_cents": sum(int(f["amount_cents"]) for f in fees)}


def _filter_data(flt: Mapping[str, Any] | None, values: dict, fees: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {**_usage_data(fees), "pricing_unit_details": None,
            "invoice_display_name": (flt or {}).get("invoice_display_name"), "values": values,
            "presentation_breakdowns": []}


def _grouped(buckets: Sequence[Mapping[str, Any]], filtered: bool) -> list[dict[str, Any]]:
    """lago-behaviour#current-usage: the charge's fees again, by pricing group (only when it has groups)."""
    by_group: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    order: dict[str, dict] = {}
    for bucket in buckets:
        for fee in bucket["fees"]:
            if not fee["grouped_by"]:
                continue
            key = repr(sorted(fee["grouped_by"].items()))
            order.setdefault(key, fee["grouped_by"])
            by_group.setdefault(key, []).append((bucket, fee))
    out = []
    for key, items in by_group.items():
        fees = [fee for _, fee in items]
        filters = [_filter_data(b["filter"], b["values"], [f]) for b, f in items] if filtered else []
        out.append({**_usage_data(fees), "pricing_unit_details": None, "grouped_by": order[key],
                    "filters": filters, "presentation_breakdowns": []})
    return out

