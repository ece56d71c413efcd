"""Billing policies: declarative rules in lagosync.yaml, evaluated on a plan and its money impact (pure).

A policy has a ``name`` (what ``apply --override-policy NAME`` names), a ``kind`` (built in, with
parameters; no code is evaluated) and optionally the ``environments`` it applies to (default: all):

* ``max_increase``: no subscription's base fee may rise by more than ``percent`` (a decimal string) or
  ``amount_cents`` per year (Lago compares plans by their yearly base, lago-behaviour#plan-yearly-amount);
* ``no_reprice_in_place``: existing subscribers are never re-priced in place (an in-place change of a
  plan's prices or taxes, or a tax rate, with subscribers): use ``price_change: new_version``;
* ``max_subscriptions``: at most ``max`` subscriptions pay differently in one plan (counted ones included);
* ``requires_approval``: operations whose money impact is one of ``changes`` (``price``, ``tax``,
  ``discount``, ``plan``, ``timing``, ``termination``), or deletes when ``deletes: true``, need an
  explicit approval: ``apply --override-policy NAME`` (recorded in the audit log).

``evaluate`` returns one ``PolicyResult`` per policy that applies to the environment; a plan with a
violated policy exits 4 under ``plan --detailed-exitcode``, and ``apply`` refuses it unless each
violated policy is named with ``--override-policy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .ops import Action, Operation, Plan, PolicyResult

POLICY_KINDS = ("max_increase", "no_reprice_in_place", "max_subscriptions", "requires_approval")


def applicable(policies: Iterable[Mapping[str, Any]], environment: str) -> list[Mapping[str, Any]]:
    return [p for p in policies if not p.get("environments") or environment in (p.get("environments") or ())]


def evaluate(plan: Plan, policies: Iterable[Mapping[str, Any]]) -> tuple[PolicyResult, ...]:
    """The result of every policy that applies to the plan's environment."""
    out = []
    for policy in applicable(policies, plan.environment):
        check = _CHECKS.get(str(policy.get("kind")))
        if check is None:
            continue  # refused by the workspace's validation
        problems = check(plan, policy)
        out.append(PolicyResult(str(policy.get("name")), str(policy.get("kind")), tuple(problems)))
    return tuple(out)


def _max_increase(plan: Plan, policy: Mapping[str, Any]) -> list[str]:
    limit_pct = _dec(policy.get("percent"))
    limit_cents = policy.get("amount_cents")
    out = []
    for op, impact in plan.money_impact:
        before, after = impact.yearly_before, impact.yearly_after
        if before is None or after is None or after <= before:
            continue
        rise = after - before
        pct = (Decimal(rise) * 100 / Decimal(before)) if before else None
        who = impact.subscription or f"{impact.count} subscription(s)"
        if limit_cents is not None and rise > int(limit_cents):
            out.append(f"{who}: the yearly base fee rises by {rise} cents ({op.id}), more than {limit_cents}")
        elif limit_pct is not None and (pct is None or pct > limit_pct):
            shown = f"{pct.quantize(Decimal('0.1'))}%" if pct is not None else "from 0"
            out.append(f"{who}: the yearly base fee rises by {shown} ({before} -> {after} cents, {op.id}), "
                       f"more than {limit_pct}%")
    return out


def _in_place(op: Operation) -> bool:
    return op.action is Action.UPDATE and op.kind in ("plan", "tax", "customer") and any(
        i.change in ("price", "tax") for i in op.impact)


def _no_reprice_in_place(plan: Plan, policy: Mapping[str, Any]) -> list[str]:
    return [f"{op.describe()} (use price_change: new_version and a migration)"
            for op in plan.operations if _in_place(op)]


def _max_subscriptions(plan: Plan, policy: Mapping[str, Any]) -> list[str]:
    n, limit = plan.impacted_subscriptions(), int(policy.get("max") or 0)
    return [f"{n} subscriptions pay differently, more than {limit}"] if n > limit else []


def _requires_approval(plan: Plan, policy: Mapping[str, Any]) -> list[str]:
    changes = set(policy.get("changes") or ())
    out = []
    for op in plan.operations:
        hit = sorted({i.change for i in op.impact} & changes)
        if hit or (policy.get("deletes") and op.action is Action.DELETE):
            out.append(f"{op.describe()} ({', '.join(hit) if hit else 'a delete'})")
    return out


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


_CHECKS = {
    "max_increase": _max_increase,
    "no_reprice_in_place": _no_reprice_in_place,
    "max_subscriptions": _max_subscriptions,
    "requires_approval": _requires_approval,
}
