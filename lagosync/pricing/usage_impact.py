"""Price impact on real usage: each affected subscription's current billing period, as Lago measured it
so far (its current usage), priced on the plan it is on and on the plan as the plan leaves it (pure).

The I/O (reading each subscription's ``current_usage`` and old plan versions) is
``lagosync.workflow.read_and_plan``'s; this module turns what was read into ``Plan.usage_impact``:

* who: the subscriptions the plan's money impact names with a ``price``, ``tax``, ``discount`` or ``plan``
  change (``affected_subscriptions``), a bounded sample of them;
* usage: Lago's answer per charge, filter bucket and pricing group becomes the engine's usage entries
  (units and the filter values that route them to the same bucket, lago-behaviour#charge-filter-matching);
* before: the subscription's plan in Lago (an older version as read), Lago's taxes, metrics and coupons,
  the customer's taxes; after: the same as the plan leaves them (the workspace's plan in place or in its
  new version, the target version of a move, the taxes and coupons as declared);
* the self-check: the engine's price of the usage alone (charges and their taxes, as Lago's current usage
  counts them) must equal Lago's own amount; a difference is reported, never hidden.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import model
from ..facts import LiveState
from ..planner.ops import Action, Operation, Plan, UsageImpact, UsageRow, UsageStats
from .engine import AppliedCoupon, PricingInput, PricingInputError, UsageEntry, price_period
from .filters import FilterRule, filter_rules
from .money import UnknownCurrency, units_text

__all__ = ["IMPACT_CHANGES", "Reading", "affected_subscriptions", "plans_to_read", "usage_entries",
           "usage_impact"]

IMPACT_CHANGES = ("price", "tax", "discount", "plan")  # the changes whose invoice the engine can price
TOP_MOVERS = 5

State = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Reading:
    """What was read for one subscription: Lago's ``customer_usage`` or the error that stopped it."""

    subscription: str
    customer: str | None
    usage: Mapping[str, Any] | None = None
    error: str | None = None


def affected_subscriptions(plan: Plan) -> list[tuple[str, str | None]]:
    """(subscription, customer) the money impact names with a change the engine prices, each once, in
    external-id order (the sample is the first N)."""
    found: dict[str, str | None] = {}
    for _, impact in plan.money_impact:
        if impact.subscription and impact.change in IMPACT_CHANGES:
            found.setdefault(impact.subscription, impact.customer)
    return sorted(found.items())


# ------------------------------------------------------------------------------------- the plans


def _sub_ops(plan: Plan) -> dict[str, Operation]:
    return {op.key: op for op in plan.operations if op.kind == "subscription" and not op.blocked
            and op.action in (Action.UPDATE, Action.MIGRATE, Action.REPLACE)}


def _plan_ops(plan: Plan) -> dict[str, Operation]:
    return {op.key: op for op in plan.operations if op.kind == "plan" and not op.blocked}


def _lago_code(live: LiveState, code: str) -> str:
    facts = live.facts
    return facts.superseded_codes.get(code) or facts.plan_versions.get(code, code)


def _sides(plan: Plan, live: LiveState, sub: str) -> tuple[str | None, str | None, str | None]:
    """(state code of the plan it is on, declared code it is on after, Lago code of an older version
    the plan moves it to, if any)."""
    row = live.state.get("subscription", {}).get(sub) or {}
    before = row.get("plan_code")
    op = _sub_ops(plan).get(sub)
    after = before
    target = None
    if op is not None and (op.after or {}).get("plan_code"):
        after = str((op.after or {})["plan_code"])
        if op.target_plan and op.target_plan in live.facts.superseded_codes.values():
            target = op.target_plan
    return (str(before) if before else None), (str(after) if after else None), target


def plans_to_read(plan: Plan, live: LiveState, subs: Sequence[str]) -> list[str]:
    """Lago codes of the older plan versions the sample's subscriptions are on or move to (not in the
    live state, which holds each plan's current version)."""
    out: set[str] = set()
    plans = live.state.get("plan", {})
    for sub in subs:
        before, _, target = _sides(plan, live, sub)
        if before and before not in plans:
            out.add(_lago_code(live, before))
        if target:
            out.add(target)
    return sorted(out)


def _after_plan(plan: Plan, live: LiveState, desired: State, versions: Mapping[str, Mapping[str, Any]],
                sub: str, before_plan: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    before, after, target = _sides(plan, live, sub)
    if target is not None:
        return versions.get(target)
    if after is None:
        return None
    wanted = (desired.get("plan") or {}).get(after)
    if wanted is None or wanted.get("ensure") == "absent":
        if after == before:
            return before_plan
        return live.state.get("plan", {}).get(after) or versions.get(_lago_code(live, after))
    op = _plan_ops(plan).get(after)
    if op is not None and op.action is Action.REPLACE and after == before and op.version is not None \
            and sub not in op.version.migrate:
        return before_plan  # a new version for new subscribers: this one keeps its price (grandfathered)
    return wanted


def _merged(live: LiveState, desired: State, kind: str) -> dict[str, Mapping[str, Any]]:
    have: dict[str, Mapping[str, Any]] = dict(live.state.get(kind, {}))
    for code, obj in (desired.get(kind) or {}).items():
        if obj.get("ensure") == "absent":
            have.pop(code, None)
        else:
            have[code] = obj
    return have


def _customer_taxes(live: LiveState, desired: State, customer: str | None, *, after: bool) -> list[str]:
    if customer is None:
        return []
    if after:
        wanted = (desired.get("customer") or {}).get(customer) or {}
        if "tax_codes" in wanted:
            return list(wanted.get("tax_codes") or [])
    have = live.state.get("customer", {}).get(customer) or {}
    if "tax_codes" in have:
        return list(have.get("tax_codes") or [])
    raw = (live.raw.get("customer") or {}).get(customer) or {}
    return [str(t.get("code")) for t in raw.get("taxes") or [] if isinstance(t, Mapping) and t.get("code")]


def _coupons(applied: Mapping[str, Mapping[str, Any]], coupons: Mapping[str, Mapping[str, Any]],
             customer: str | None) -> list[AppliedCoupon]:
    out = []
    for key, item in sorted(applied.items()):
        if item.get("ensure") == "absent" or item.get("external_customer_id", key.split("/", 1)[0]) != customer:
            continue
        coupon = coupons.get(str(item.get("coupon_code") or key.split("/", 1)[-1]))
        if coupon is None:
            continue
        out.append(AppliedCoupon(coupon, amount_cents=item.get("amount_cents"),
                                 amount_currency=item.get("amount_currency"),
                                 percentage_rate=item.get("percentage_rate"),
                                 frequency_duration=item.get("frequency_duration")))
    return out


# ------------------------------------------------------------------------------------- the usage


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _route(rules: Sequence[FilterRule], index: int | None) -> tuple[dict[str, str], bool]:
    """Filter values an entry needs to be priced in the bucket of filter ``index`` (None: the default),
    and whether only that bucket takes them."""
    if index is None:
        return {}, True
    rule = rules[index]
    keys = sorted(rule.matching)
    first: dict[str, str] | None = None
    for combo in itertools.product(*(rule.matching[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        if not rule.takes(values):
            continue
        if not any(r.takes(values) for r in rules if r.index is not None and r.index != index):
            return values, True
        first = first or values
    return (first or {}), False


def _filter_index(charge: Mapping[str, Any], values: Mapping[str, Any]) -> int | None:
    wanted = {str(k): sorted(str(v) for v in vs) for k, vs in (values or {}).items()}
    for i, flt in enumerate(charge.get("filters") or []):
        have = {str(k): sorted(str(v) for v in vs) for k, vs in (flt.get("values") or {}).items()}
        if have == wanted:
            return i
    return None


def _entry(part: Mapping[str, Any], group: Mapping[str, Any] | None, charge: Mapping[str, Any],
           rules: Sequence[FilterRule]) -> tuple[UsageEntry, bool]:
    index = _filter_index(charge, part.get("values") or {}) if part.get("values") else None
    values, alone = _route(rules, index)
    values = {**values, **{str(k): str(v) for k, v in (group or {}).items() if v is not None}}
    events = part.get("events_count")
    return UsageEntry(units=_dec(part.get("units")), values=values,
                      events=events if isinstance(events, int) else None), alone


def usage_entries(usage: Mapping[str, Any], plan: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]]
                  ) -> tuple[dict[str, list[UsageEntry]], list[str]]:
    """Lago's current usage as the engine's usage (metric code -> entries), split by the plan's charge
    filters and pricing groups as Lago reported them; and what could not be split back."""
    out: dict[str, list[UsageEntry]] = {}
    gaps: list[str] = []
    charges = plan.get("charges") or {}
    for item in usage.get("charges_usage") or []:
        metric_code = str((item.get("billable_metric") or {}).get("code"))
        code = str((item.get("charge") or {}).get("code"))
        if metric_code in out:
            continue  # another charge of the same metric: the same events
        charge = charges.get(code) or {}
        metric = metrics.get(metric_code) or {}
        rules = filter_rules(list(charge.get("filters") or []), metric.get("filters") or {})
        entries: list[UsageEntry] = []

        def add(part: Mapping[str, Any], group: Mapping[str, Any] | None) -> None:
            entry, alone = _entry(part, group, charge, rules)  # noqa: B023 - called in this iteration only
            entries.append(entry)  # noqa: B023
            if not alone:
                gaps.append(f"charge {code}: a filter's usage cannot be told apart from another "  # noqa: B023
                            "filter's by its values; priced in both as Lago reported it")

        grouped = item.get("grouped_usage") or []
        if grouped:
            for group in grouped:
                parts = group.get("filters") or [group]
                for part in parts:
                    add(part, group.get("grouped_by") or {})
        elif item.get("filters"):
            for part in item["filters"]:
                add(part, None)
        else:
            add(item, None)
        out[metric_code] = entries
    return out, list(dict.fromkeys(gaps))


# ------------------------------------------------------------------------------------ pricing


def _only_usage(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan as Lago's current usage prices it: its charges alone, no minimum true-up."""
    charges = {code: {**c, "min_amount_cents": 0} for code, c in (plan.get("charges") or {}).items()}
    return {**plan, "amount_cents": 0, "fixed_charges": {}, "charges": charges}


def _price(data: PricingInput) -> tuple[int | None, tuple[str, ...]]:
    try:
        price = price_period(data)
    except (PricingInputError, model.ModelError, ArithmeticError, UnknownCurrency) as exc:
        return None, (f"cannot be priced: {exc}",)
    return price.total_amount_cents, tuple(price.not_modelled)


def _signed(cents: int | Decimal, currency: str) -> str:
    text = units_text(Decimal(cents).copy_abs(), currency)
    return f"{'-' if cents < 0 else '+'}{text}"


def _money(cents: int | None, currency: str) -> str | None:
    if cents is None:
        return None
    try:
        return units_text(cents, currency)
    except (UnknownCurrency, ArithmeticError):
        return str(cents)


def _row(plan: Plan, live: LiveState, desired: State, versions: Mapping[str, Mapping[str, Any]],
         reading: Reading, premium: bool) -> tuple[UsageRow | None, str | None, str | None]:
    """(the row, a self-check mismatch, a note)."""
    sub = reading.subscription
    before_code, after_code, _ = _sides(plan, live, sub)
    if reading.usage is None:
        return None, None, f"the current usage of subscription '{sub}' could not be read: {reading.error}"
    usage = reading.usage
    plans = live.state.get("plan", {})
    before_plan: Mapping[str, Any] | None = plans.get(before_code) if before_code else None
    if before_plan is None and before_code:
        before_plan = versions.get(_lago_code(live, before_code))
    if before_plan is None:
        return None, None, f"subscription '{sub}': its plan '{before_code}' could not be read; not priced"
    after_plan = _after_plan(plan, live, desired, versions, sub, before_plan)
    metrics_b, metrics_a = dict(live.state.get("billable_metric", {})), _merged(live, desired, "billable_metric")
    taxes_b, taxes_a = dict(live.state.get("tax", {})), _merged(live, desired, "tax")
    coupons_b, coupons_a = dict(live.state.get("coupon", {})), _merged(live, desired, "coupon")
    applied_b = dict(live.state.get("applied_coupon", {}))
    applied_a = _merged(live, desired, "applied_coupon")
    customer = reading.customer or (live.state.get("subscription", {}).get(sub) or {}).get("external_customer_id")
    entries, gaps = usage_entries(usage, before_plan, metrics_b)
    cust_b = _customer_taxes(live, desired, customer, after=False)
    cust_a = _customer_taxes(live, desired, customer, after=True)
    check, _ = _price(PricingInput(plan=_only_usage(before_plan), usage=entries, metrics=metrics_b, taxes=taxes_b,
                                   customer_tax_codes=cust_b, premium=premium))
    before, gaps_b = _price(PricingInput(plan=before_plan, usage=entries, metrics=metrics_b, taxes=taxes_b,
                                         customer_tax_codes=cust_b, coupons=_coupons(applied_b, coupons_b, customer),
                                         premium=premium))
    after: int | None = None
    gaps_a: tuple[str, ...] = ()
    if after_plan is None:
        gaps_a = (f"plan '{after_code}' as the plan leaves it is not known",)
    else:
        after, gaps_a = _price(PricingInput(plan=after_plan, usage=entries, metrics=metrics_a, taxes=taxes_a,
                                            customer_tax_codes=cust_a,
                                            coupons=_coupons(applied_a, coupons_a, customer), premium=premium))
    currency = str(usage.get("currency") or before_plan.get("amount_currency") or "")
    lago = usage.get("total_amount_cents")
    lago_cents = lago if isinstance(lago, int) else None
    mismatch = None
    if check is not None and lago_cents is not None and check != lago_cents:
        mismatch = (f"lagosync's pricing engine computes {_money(check, currency)} {currency}, Lago says "
                    f"{_money(lago_cents, currency)} {currency} for the current usage of subscription '{sub}': "
                    "the price impact may be wrong")
    change = _signed(after - before, currency) if before is not None and after is not None else None
    row = UsageRow(subscription=sub, customer=customer, plan_before=before_code, plan_after=after_code,
                   currency=currency, before_cents=before, after_cents=after, before=_money(before, currency),
                   after=_money(after, currency), change=change, lago_usage_cents=lago_cents,
                   engine_usage_cents=check, not_modelled=tuple(dict.fromkeys((*gaps, *gaps_b, *gaps_a))))
    return row, mismatch, None


def _stats(rows: Sequence[UsageRow]) -> tuple[UsageStats, ...]:
    out = []
    for currency in sorted({r.currency for r in rows}):
        priced = [r for r in rows if r.currency == currency and r.before_cents is not None
                  and r.after_cents is not None]
        if not priced:
            continue
        deltas = [(r.after_cents or 0) - (r.before_cents or 0) for r in priced]
        median = Decimal(statistics.median(sorted(Decimal(d) for d in deltas)))
        movers = sorted(zip(deltas, (r.subscription for r in priced), strict=True), key=lambda x: (-abs(x[0]), x[1]))
        out.append(UsageStats(
            currency=currency, subscriptions=len(priced), min_cents=min(deltas), median_cents=f"{median.normalize():f}",
            max_cents=max(deltas), total_cents=sum(deltas), min=_signed(min(deltas), currency),
            median=_signed(median, currency), max=_signed(max(deltas), currency), total=_signed(sum(deltas), currency),
            top=tuple((s, _signed(d, currency)) for d, s in movers[:TOP_MOVERS] if d != 0)))
    return tuple(out)


def usage_impact(plan: Plan, desired: State, live: LiveState, readings: Sequence[Reading], *,
                 versions: Mapping[str, Mapping[str, Any]], affected: int, sample_size: int, requests: int,
                 premium: bool, notes: Sequence[str] = ()) -> UsageImpact:
    """Each reading priced before and after; per-currency statistics; the self-check."""
    rows: list[UsageRow] = []
    mismatches: list[str] = []
    more = list(notes)
    for reading in readings:
        row, mismatch, note = _row(plan, live, desired, versions, reading, premium)
        if row is not None:
            rows.append(row)
        if mismatch:
            mismatches.append(mismatch)
        if note:
            more.append(note)
    read = sum(1 for r in readings if r.usage is not None)
    return UsageImpact(affected=affected, sample_size=sample_size, read=read, requests=requests, rows=tuple(rows),
                       stats=_stats(rows), mismatches=tuple(mismatches), notes=tuple(more))
