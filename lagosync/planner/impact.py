"""The money impact of an operation: which subscriptions pay differently, how, and from when.

Computed once, here, for every operation of a plan (``make_plan`` attaches it as ``Operation.impact``).
The blast radius the renderers show, the JSON plan's ``impact`` section and the ``--allow-reprice`` /
``--allow-destroy`` gates (``Operation.reprices`` / ``.destructive``) are all read from it.

Who is affected, by kind of change (the Lago rules are in docs/lago-behaviour.md):

* a plan's prices or taxes changed in place: its subscribers, and those waiting for a downgrade onto
  it (lago-behaviour#plan-update-reprices); a pay-in-advance base fee already billed the current
  period, so a new ``amount_cents`` counts from the period end;
* a new plan version: each moved subscription, at once or at its period end, compared with the plan
  it is active on now (lago-behaviour#plan-change-upgrade-downgrade);
* a subscription moved to another plan, or its scheduled downgrade cancelled
  (lago-behaviour#pending-downgrade);
* a tax whose rate or organization-wide flag changes, or that is deleted, and a plan's, charge's or
  customer's taxes changed: the subscriptions with that tax on a fee of their invoice, by Lago's
  precedence (a charge's own taxes, else the plan's, else the customer's, else the organization's:
  lago-behaviour#tax-precedence);
* a coupon applied, re-applied or terminated on an org, a coupon's expiration changed, or a coupon
  deleted: the org's subscriptions the coupon applies to (lago-behaviour#coupon-applies-to);
* a metric whose deletion removes charges (lago-behaviour#metric-delete), or whose filters change
  under charge filters (lago-behaviour#metric-filters-replace): the subscribers of the plans charging it;
* a subscription, plan or customer deleted, or a user's subscription moved to an org: the subscriptions
  it terminates (``termination``: a final invoice now).

Subscribers that lagosync did not read one by one (only counted, for customers the workspace does not
declare) are one counted entry per plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from .compare import (
    Context,
    active_subscriptions,
    coupon_ended,
    lago_plan_code,
    leaves_plan,
    live_subscriptions_on,
    pending_subscriptions_to,
    plans_using_metric,
    version_move,
)
from .ops import Action, Change, Impact, Operation

_PRICE_FIELDS = ("amount_cents", "charges", "fixed_charges")
_MAX_DETAIL = 3  # changes named in one impact's detail before "and N more"


def money_impact(ctx: Context, op: Operation) -> tuple[Impact, ...]:
    """The impact of ``op`` (empty when no existing subscription pays differently)."""
    if op.blocked:
        return ()  # nothing happens: apply refuses it
    handler = _HANDLERS.get((op.kind, op.action))
    return tuple(handler(ctx, op)) if handler else ()


# --------------------------------------------------------------------------- who


def _sub(ctx: Context, key: str) -> dict[str, Any]:
    return ctx.l("subscription").get(key) or {}


def _named(ctx: Context, keys: Iterable[str], change: str, detail: str, when: str = "now") -> list[Impact]:
    out = []
    for key in sorted(set(keys)):
        date = _period_end_date(ctx, key) if when == "period_end" else None
        out.append(Impact(key, _sub(ctx, key).get("external_customer_id"), change, detail, when, date))
    return out


def _period_end_date(ctx: Context, key: str) -> str | None:
    raw = (ctx.raw.get("subscription") or {}).get(key) or {}
    end = raw.get("downgrade_plan_date") or raw.get("current_billing_period_ending_at")
    return str(end)[:10] if end else None


def plan_subscribers(ctx: Context, plan: str) -> tuple[list[str], int]:
    """(named subscriptions billed by ``plan`` from now on, how many more are only counted).

    Subscriptions the workspace moves to another plan or removes are left to their own operation."""
    on = [s for s in live_subscriptions_on(ctx, plan) if not leaves_plan(ctx, s, plan)]
    waiting = [s for s in pending_subscriptions_to(ctx, plan) if not leaves_plan(ctx, s, plan)]
    unread = max(0, active_subscriptions(ctx, plan) - len(live_subscriptions_on(ctx, plan)))
    return sorted(set(on) | set(waiting)), unread


def _plan_impacts(ctx: Context, plans: Iterable[str], change: str, detail: str, when: str = "now"
                  ) -> list[Impact]:
    named: set[str] = set()
    counted: list[Impact] = []
    for plan in sorted(set(plans)):
        subs, unread = plan_subscribers(ctx, plan)
        named |= set(subs)
        if unread:
            counted.append(Impact(None, None, change, f"{detail} (plan '{plan}')", when, None, unread))
    return _named(ctx, named, change, detail, when) + counted


def _summary(changes: Iterable[Change]) -> str:
    items = [f"{c.path} added" if c.old is None else f"{c.path} removed" if c.new is None
             else f"{c.path} {_v(c.old)} -> {_v(c.new)}" for c in changes]
    if len(items) > _MAX_DETAIL:
        items = items[:_MAX_DETAIL] + [f"and {len(items) - _MAX_DETAIL} more change(s)"]
    return "; ".join(items)


def _v(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "{...}" if isinstance(value, dict) else "[...]"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


# --------------------------------------------------------------------------- plans


def _plan_update(ctx: Context, op: Operation) -> list[Impact]:
    # a display name changes the invoice's wording only; a charge's or fixed charge's tax codes its taxes
    shown = [c for c in op.changes if not c.path.endswith("invoice_display_name")]
    tax = [c for c in shown if _top(c.path) == "tax_codes" or (
        _top(c.path) in _PRICE_FIELDS and c.path.endswith(".tax_codes"))]
    price = [c for c in shown if _top(c.path) in _PRICE_FIELDS and c not in tax]
    out: list[Impact] = []
    if price:
        advance = bool((op.after or {}).get("pay_in_advance"))
        fee_only = all(_top(c.path) == "amount_cents" for c in price)
        # a pay-in-advance base fee has already billed the current period: the new fee counts from the next
        when = "period_end" if advance and fee_only else "now"
        impacts = _plan_impacts(ctx, [op.key], "price", f"plan '{op.key}': {_summary(price)}", when)
        if any(_top(c.path) == "amount_cents" for c in price):
            yb, ya = ctx.yearly_amount_cents(op.before or {}), ctx.yearly_amount_cents(op.after or {})
            impacts = [dataclasses.replace(i, yearly_before=yb, yearly_after=ya) for i in impacts]
        out += impacts
    if tax:
        detail = f"plan '{op.key}': {_summary(tax)}"
        subs, unread = plan_subscribers(ctx, op.key)
        out += _named(ctx, [s for s in subs if invoice_taxes(ctx, s, before=False)
                            != invoice_taxes(ctx, s, before=True)], "tax", detail)
        if unread:  # their customers' taxes are unknown: counted as changed
            out.append(Impact(None, None, "tax", f"{detail} (plan '{op.key}')", "now", None, unread))
    return out


def _plan_replace(ctx: Context, op: Operation) -> list[Impact]:
    if op.version is None:
        return []
    out: list[Impact] = []
    for key in op.version.migrate:
        reason, frm, to, current = version_move(ctx, key, op.key, op.before or {}, op.after or {})
        when = "now" if reason == "upgrade_immediate" else "period_end"
        move = "an upgrade: the current period is closed and invoiced" if when == "now" else "a downgrade"
        detail = (f"moves from '{lago_plan_code(ctx, current)}' to new version '{op.version.code}' ({move}; yearly base "
                  f"{frm} -> {to} cents)")
        pending = ctx.facts.pending_downgrades.get(key)
        if pending and pending != current:
            shown = lago_plan_code(ctx, pending)
            detail += (f"; its scheduled downgrade to '{shown}' is replaced by this move" if when == "period_end"
                       else f"; its scheduled downgrade to '{shown}' is cancelled")
        out += [dataclasses.replace(i, yearly_before=frm, yearly_after=to) for i in _named(ctx, [key], "plan", detail, when)]
    return out


def _plan_delete(ctx: Context, op: Operation) -> list[Impact]:
    gone = set(op.details.get("subscriptions_gone_first") or ())
    subs = [s for s in live_subscriptions_on(ctx, op.key) if s not in gone]
    unread = max(0, int(op.details.get("active_subscriptions", 0)) - len(subs))
    out = _named(ctx, subs, "termination", f"plan '{op.key}' is deleted: the subscription is terminated")
    if unread:
        out.append(Impact(None, None, "termination", f"plan '{op.key}' is deleted (terminated)", "now", None, unread))
    return out


# --------------------------------------------------------------------------- subscriptions and customers


def _subscription_migrate(ctx: Context, op: Operation) -> list[Impact]:
    d = op.details
    when = "period_end" if "downgrade_at_period_end" in op.reasons else "now"
    how = ("a downgrade" if when == "period_end" else
           "an upgrade: the current period is closed and invoiced" if "upgrade_immediate" in op.reasons
           else "a plan change")
    detail = (f"plan '{d.get('from_plan')}' -> '{d.get('to_plan')}' ({how}; yearly base "
              f"{d.get('from_yearly_amount_cents')} -> {d.get('to_yearly_amount_cents')} cents)")
    if op.cancel_pending:
        detail += f"; its scheduled downgrade to '{op.cancel_pending}' is cancelled"
    return [dataclasses.replace(i, yearly_before=d.get("from_yearly_amount_cents"),
                                yearly_after=d.get("to_yearly_amount_cents")) for i in _named(ctx, [op.key], "plan", detail, when)]


def _subscription_update(ctx: Context, op: Operation) -> list[Impact]:
    out: list[Impact] = []
    if op.cancel_pending:
        current = lago_plan_code(ctx, _sub(ctx, op.key).get("plan_code"))
        out += _named(ctx, [op.key], "timing",
                      f"its scheduled downgrade to '{op.cancel_pending}' is cancelled: it stays on '{current}' "
                      "and keeps paying its price", "period_end")
    for c in op.changes:
        if c.path != "ending_at":
            continue
        customer = _sub(ctx, op.key).get("external_customer_id")
        if c.new:  # Lago terminates the subscription on that day (lago-behaviour#subscription-ending-at)
            out.append(Impact(op.key, customer, "termination", f"ends on {str(c.new)[:10]} (was {c.old or 'never'})",
                              "date", str(c.new)[:10]))
        else:
            out.append(Impact(op.key, customer, "timing", f"no longer ends on {str(c.old)[:10]}", "date",
                              str(c.old)[:10]))
    return out


def _subscription_delete(ctx: Context, op: Operation) -> list[Impact]:
    return _named(ctx, [op.key], "termination", "terminated (a final invoice)")


def _customer_subscriptions(ctx: Context, customer: str) -> list[str]:
    return sorted(k for k, s in ctx.l("subscription").items() if s.get("external_customer_id") == customer)


def _customer_update(ctx: Context, op: Operation) -> list[Impact]:
    tax = [c for c in op.changes if _top(c.path) == "tax_codes"]
    if not tax:
        return []
    subs = [s for s in _customer_subscriptions(ctx, op.key)
            if invoice_taxes(ctx, s, before=False) != invoice_taxes(ctx, s, before=True)]
    return _named(ctx, subs, "tax", f"customer '{op.key}': {_summary(tax)}")


def _customer_delete(ctx: Context, op: Operation) -> list[Impact]:
    return _named(ctx, _customer_subscriptions(ctx, op.key), "termination",
                  f"customer '{op.key}' is deleted: the subscription is terminated")


def _move(ctx: Context, op: Operation) -> list[Impact]:
    m = op.move
    if m is None or m.record_only or m.from_subscription is None:
        return []
    return [Impact(m.from_subscription, m.from_customer, "termination",
                   f"terminated (on_termination_invoice={m.on_termination_invoice}) and started again for org "
                   f"'{m.to_customer}' as '{m.to_subscription}' on plan '{m.plan_code}'")]


# --------------------------------------------------------------------------- taxes


def _after(ctx: Context, kind: str, key: str) -> dict[str, Any]:
    """An object as the plan leaves it: as declared, else as in Lago."""
    wanted = ctx.d(kind).get(key)
    if wanted is not None and wanted.get("ensure") != "absent":
        return wanted
    return ctx.l(kind).get(key) or {}


def invoice_taxes(ctx: Context, sub: str, *, before: bool) -> dict[str, dict[str, Any]]:
    """The taxes (code -> rate) on each fee of a subscription's invoice, by Lago's precedence
    (lago-behaviour#tax-precedence): a charge's or fixed charge's own taxes, else its plan's, else its
    customer's, else the organization's (taxes ``applied_to_organization``). ``before``: as in Lago now;
    else as the plan leaves Lago."""
    def get(kind: str, key: str) -> dict[str, Any]:
        return (ctx.l(kind).get(key) or {}) if before else _after(ctx, kind, key)

    row = get("subscription", sub) or ctx.l("subscription").get(sub) or {}
    plan = get("plan", str(row.get("plan_code")))
    customer = get("customer", str(row.get("external_customer_id")))
    taxes = {code: get("tax", code) for code in {*ctx.l("tax"), *ctx.d("tax")}}
    taxes = {code: tax for code, tax in taxes.items() if tax}
    org = sorted(code for code, tax in taxes.items() if tax.get("applied_to_organization"))
    default = list(plan.get("tax_codes") or ()) or list(customer.get("tax_codes") or ()) or org
    fees = {"subscription": default}
    for code, charge in (plan.get("charges") or {}).items():
        fees[f"charges.{code}"] = list(charge.get("tax_codes") or ()) or default
    for code, fixed in (plan.get("fixed_charges") or {}).items():
        fees[f"fixed_charges.{code}"] = list(fixed.get("tax_codes") or ()) or default
    return {fee: {c: (taxes.get(c) or {}).get("rate") for c in codes} for fee, codes in fees.items()}


def _tax_change(ctx: Context, op: Operation, detail: str) -> list[Impact]:
    """The subscriptions with the tax on a fee of their invoice, now or once an organization-wide flag
    changes (``op.after``), plus the counted subscribers of plans carrying it."""
    code = op.key
    flag_on = bool((op.after or {}).get("applied_to_organization"))
    flag_changed = op.before is not None and op.after is not None and \
        bool(op.before.get("applied_to_organization")) != flag_on
    named = []
    for sub in ctx.l("subscription"):
        fees = invoice_taxes(ctx, sub, before=True)
        if any(code in codes for codes in fees.values()):
            named.append(sub)
        elif flag_changed and flag_on and _falls_back_to_organization(ctx, sub):
            named.append(sub)
    plans = [p for p, plan in ctx.l("plan").items()
             if code in (plan.get("tax_codes") or ()) or any(
                 code in (item.get("tax_codes") or ())
                 for item in [*(plan.get("charges") or {}).values(), *(plan.get("fixed_charges") or {}).values()])]
    counted = [i for i in _plan_impacts(ctx, plans, "tax", detail) if i.subscription is None]
    return _named(ctx, named, "tax", detail) + counted


def _falls_back_to_organization(ctx: Context, sub: str) -> bool:
    """Some fee of the subscription has no charge, plan or customer taxes (the organization's apply)."""
    row = ctx.l("subscription").get(sub) or {}
    plan = ctx.l("plan").get(str(row.get("plan_code"))) or {}
    customer = ctx.l("customer").get(str(row.get("external_customer_id"))) or {}
    if plan.get("tax_codes") or customer.get("tax_codes"):
        return False
    return True


def _tax_update(ctx: Context, op: Operation) -> list[Impact]:
    money = [c for c in op.changes if c.path in ("rate", "applied_to_organization")]
    return _tax_change(ctx, op, f"tax '{op.key}': {_summary(money)}") if money else []


def _tax_delete(ctx: Context, op: Operation) -> list[Impact]:
    return _tax_change(ctx, op, f"tax '{op.key}' is deleted and no longer applied")


# --------------------------------------------------------------------------- coupons


def coupon_subscriptions(ctx: Context, org: str, coupon: dict[str, Any] | None) -> list[str]:
    """The org's subscriptions a coupon applies to: all, or those on its plans, or on plans charging
    its metrics (lago-behaviour#coupon-applies-to)."""
    applies = (coupon or {}).get("applies_to") or {}
    plan_codes, metric_codes = set(applies.get("plan_codes") or ()), set(applies.get("billable_metric_codes") or ())
    out = []
    for key in _customer_subscriptions(ctx, org):
        plan = str(_sub(ctx, key).get("plan_code"))
        if plan_codes and plan not in plan_codes:
            continue
        if metric_codes:
            charges = (ctx.l("plan").get(plan) or {}).get("charges") or {}
            if not any(c.get("billable_metric_code") in metric_codes for c in charges.values()):
                continue
        out.append(key)
    return out


def _coupon(ctx: Context, code: str) -> dict[str, Any] | None:
    return ctx.l("coupon").get(code) or ctx.d("coupon").get(code)


def _applied_coupon(ctx: Context, op: Operation) -> list[Impact]:
    org, _, code = op.key.partition("/")
    what = {Action.CREATE: "applied", Action.REPLACE: "terminated and applied again with new terms",
            Action.DELETE: "terminated (its remaining balance is lost)"}[op.action]
    return _named(ctx, coupon_subscriptions(ctx, org, _coupon(ctx, code)), "discount", f"coupon '{code}' {what}")


def _orgs_with_coupon(ctx: Context, code: str) -> list[str]:
    return sorted({a.get("external_customer_id") or "" for a in ctx.l("applied_coupon").values()
                   if a.get("coupon_code") == code} - {""})


def _coupon_update(ctx: Context, op: Operation) -> list[Impact]:
    money = [c for c in op.changes if _top(c.path) in ("expiration", "expiration_at")]
    if not money:
        return []
    subs = [s for org in _orgs_with_coupon(ctx, op.key) for s in coupon_subscriptions(ctx, org, op.after)]
    return _named(ctx, subs, "discount", f"coupon '{op.key}': {_summary(money)}")


def _coupon_delete(ctx: Context, op: Operation) -> list[Impact]:
    # an org whose coupons list drops it is counted by that applied coupon's own termination
    orgs = [o for o in _orgs_with_coupon(ctx, op.key) if not coupon_ended(ctx, f"{o}/{op.key}")]
    subs = [s for org in orgs for s in coupon_subscriptions(ctx, org, op.before)]
    return _named(ctx, subs, "discount", f"coupon '{op.key}' is deleted: its applied coupons are terminated")


# --------------------------------------------------------------------------- metrics


def _metric_update(ctx: Context, op: Operation) -> list[Impact]:
    if not any(_top(c.path) == "filters" for c in op.changes):
        return []
    plans = [p for p in plans_using_metric(ctx, op.key)
             if any(ch.get("billable_metric_code") == op.key and ch.get("filters")
                    for ch in ((ctx.l("plan").get(p) or {}).get("charges") or {}).values())]
    return _plan_impacts(ctx, plans, "price", f"metric '{op.key}': filter values change under charge filters")


def _metric_delete(ctx: Context, op: Operation) -> list[Impact]:
    # a declared plan drops the charge itself (its own operation shows it) or preflight refuses the
    # delete; the plans the workspace does not declare lose the charge silently: those are the impact
    undeclared = [p for p in plans_using_metric(ctx, op.key) if p not in ctx.d("plan")]
    return _plan_impacts(ctx, undeclared, "price", f"metric '{op.key}' is deleted: its charges are removed from the plan")


_HANDLERS = {
    ("plan", Action.UPDATE): _plan_update,
    ("plan", Action.REPLACE): _plan_replace,
    ("plan", Action.DELETE): _plan_delete,
    ("subscription", Action.MIGRATE): _subscription_migrate,
    ("subscription", Action.UPDATE): _subscription_update,
    ("subscription", Action.DELETE): _subscription_delete,
    ("subscription", Action.MOVE): _move,
    ("customer", Action.UPDATE): _customer_update,
    ("customer", Action.DELETE): _customer_delete,
    ("tax", Action.UPDATE): _tax_update,
    ("tax", Action.DELETE): _tax_delete,
    ("coupon", Action.UPDATE): _coupon_update,
    ("coupon", Action.DELETE): _coupon_delete,
    ("applied_coupon", Action.CREATE): _applied_coupon,
    ("applied_coupon", Action.REPLACE): _applied_coupon,
    ("applied_coupon", Action.DELETE): _applied_coupon,
    ("billable_metric", Action.UPDATE): _metric_update,
    ("billable_metric", Action.DELETE): _metric_delete,
}
