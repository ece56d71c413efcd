"""Price impact: the invoice of one billing period before and after a plan, for the workspace's usage
profiles (pure, offline).

The usage profiles are the workspace's pricing test cases (pricing_tests/*.yaml,
docs/pricing-tests.md): each is a customer's usage of one period on a plan ("typical", "heavy"...). For every plan the
plan's money impact touches (its prices in place, a new version, a tax it carries), each profile of
that plan is priced with Lago as it is (the live plan, taxes and metrics) and as the plan leaves it
(the workspace's), with the pricing engine. What the engine cannot model is listed, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import model
from ..facts import LiveState
from ..planner.ops import Action, Plan, PriceImpact
from ..workspace.pricing_tests import PricingCase
from .engine import AppliedCoupon, PricingInput, PricingInputError, UsageEntry, price_period

__all__ = ["price_impact"]


@dataclass(frozen=True)
class _Side:
    plans: Mapping[str, Mapping[str, Any]]
    metrics: Mapping[str, Mapping[str, Any]]
    taxes: Mapping[str, Mapping[str, Any]]
    coupons: Mapping[str, Mapping[str, Any]]


def _desired_side(desired: Mapping[str, Mapping[str, Mapping[str, Any]]], live: _Side) -> _Side:
    def canon(kind: str) -> dict[str, Mapping[str, Any]]:
        return {code: model.from_yaml(kind, obj) for code, obj in (desired.get(kind) or {}).items()
                if isinstance(obj, Mapping) and obj.get("ensure") != "absent"}

    def merged(kind: str, have: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        gone = {code for code, obj in (desired.get(kind) or {}).items() if isinstance(obj, Mapping)
                and obj.get("ensure") == "absent"}
        return {**{k: v for k, v in have.items() if k not in gone}, **canon(kind)}

    return _Side(merged("plan", live.plans), merged("billable_metric", live.metrics), merged("tax", live.taxes),
                 merged("coupon", live.coupons))


def touched_plans(plan: Plan, live: LiveState) -> list[str]:
    """The plans whose invoice the plan changes: their prices or taxes in place, a new version, or a tax
    they carry (from the plan's money impact and its operations)."""
    out = {op.key for op in plan.operations if op.kind == "plan" and op.action in (Action.UPDATE, Action.REPLACE)
           and not op.blocked}
    taxes = {op.key for op in plan.operations if op.kind == "tax" and op.action in (Action.UPDATE, Action.DELETE)}
    for code, p in live.state.get("plan", {}).items():
        items = [p, *(p.get("charges") or {}).values(), *(p.get("fixed_charges") or {}).values()]
        if any(t in (item.get("tax_codes") or ()) for item in items for t in taxes):
            out.add(code)
    return sorted(out)


def _input(case: PricingCase, side: _Side, premium: bool) -> PricingInput | None:
    plan = side.plans.get(case.plan)
    if plan is None:
        return None
    coupons = []
    for item in case.coupons:
        coupon = side.coupons.get(item["code"])
        if coupon is None:
            continue
        coupons.append(AppliedCoupon(coupon, amount_cents=item.get("amount_cents"),
                                     percentage_rate=item.get("percentage_rate"),
                                     frequency_duration=item.get("frequency_duration"),
                                     periods_applied=int(item.get("periods_applied") or 0),
                                     remaining_amount_cents=item.get("remaining_amount_cents")))
    usage = {metric: [UsageEntry(units=u.units, values=dict(u.values), events=u.events, event_values=u.event_values,
                                 precise_total_amount_cents=u.precise_total_amount_cents) for u in entries]
             for metric, entries in case.usage.items()}
    return PricingInput(plan=plan, usage=usage, metrics=side.metrics, taxes=side.taxes,
                        customer_tax_codes=list(case.customer_tax_codes), coupons=coupons,
                        premium=premium if case.premium is None else case.premium)


def _total(data: PricingInput | None) -> tuple[int | None, int | None, str | None, tuple[str, ...]]:
    if data is None:
        return None, None, None, ()
    try:
        price = price_period(data)
    except (PricingInputError, model.ModelError, ArithmeticError) as exc:
        return None, None, None, (f"cannot be priced: {exc}",)
    return (price.sub_total_excluding_taxes_cents, price.total_amount_cents, price.currency,
            tuple(price.not_modelled))


def price_impact(plan: Plan, desired: Mapping[str, Mapping[str, Mapping[str, Any]]], live: LiveState,
                 cases: Sequence[PricingCase], *, premium: bool) -> tuple[PriceImpact, ...]:
    """One row per usage profile of every plan the plan changes: before and after, in cents."""
    plans = set(touched_plans(plan, live))
    if not plans:
        return ()
    now = _Side(live.state.get("plan", {}), live.state.get("billable_metric", {}), live.state.get("tax", {}),
                live.state.get("coupon", {}))
    then = _desired_side(desired, now)
    rows = []
    for case in cases:
        if case.plan not in plans:
            continue
        before_tax_b, total_b, cur_b, gaps_b = _total(_input(case, now, premium))
        before_tax_a, total_a, cur_a, gaps_a = _total(_input(case, then, premium))
        rows.append(PriceImpact(
            plan=case.plan, profile=case.name, where=case.where, currency=cur_a or cur_b or "",
            before_cents=total_b, after_cents=total_a, before_tax_before_cents=before_tax_b,
            before_tax_after_cents=before_tax_a, not_modelled=tuple(dict.fromkeys((*gaps_b, *gaps_a)))))
    return tuple(rows)


def change_pct(before: int | None, after: int | None) -> Decimal | None:
    if before in (None, 0) or after is None:
        return None
    return (Decimal(after - before) * 100 / Decimal(before)).quantize(Decimal("0.1"))
