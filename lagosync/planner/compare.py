"""Compare functions, one per object kind, turning (desired, live) into operations.

Each ``compare_<kind>`` gets a ``Context`` (desired State, live State, LiveFacts) and the key, and
returns an ``Operation`` or None (no-op). The Lago mutation rules they model are cited from
../shared/LAGO-API-NOTES.md section 4 ("notes §4.x"). Pure: nothing here reads or writes anything
outside its arguments, and inputs are never mutated (canonical dicts are deep-copied into ops).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from .diff import diff
from .ops import Change, Operation

KINDS = ("tax", "billable_metric", "add_on", "plan", "coupon", "customer", "subscription", "applied_coupon")

# notes §4.1: once a metric is used by a charge of a non-deleted plan, PUT silently ignores these.
METRIC_LOCKED_FIELDS = (
    "code", "aggregation_type", "weighted_interval", "field_name", "recurring",
    "rounding_function", "rounding_precision", "expression",
)
# notes §4.2: once a plan has had any subscription (any status), PUT silently ignores these.
PLAN_LOCKED_FIELDS = ("interval", "amount_currency", "pay_in_advance", "trial_period", "bill_charges_monthly")
# notes §4.2 "Per-charge update": with subscriptions, these charge fields are silently kept.
CHARGE_LOCKED_FIELDS = ("charge_model", "pay_in_advance", "prorated", "billable_metric_code", "min_amount_cents")
# notes §4.3: once a coupon has been applied, only these stay editable.
COUPON_EDITABLE_FIELDS = ("name", "description", "expiration", "expiration_at")
# Plan fields whose in-place change alters what subscribers pay (notes §4.2: amount_cents and charges
# apply to every subscription of the plan at once; tax codes change the invoiced total).
PLAN_PRICE_FIELDS = ("amount_cents", "charges", "tax_codes", "fixed_charges")
# Fixed charges (notes §3.4) reconcile like charges; the notes say nothing of their locks, so the
# charge rule (notes §4.2 "Per-charge update") is applied to the matching fields.
FIXED_CHARGE_LOCKED_FIELDS = ("charge_model", "pay_in_advance", "prorated", "add_on_code")

_VERSION_SUFFIX = re.compile(r"__v(\d+)$")


@dataclass(frozen=True)
class Context:
    desired: dict[str, dict[str, dict]]
    live: dict[str, dict[str, dict]]
    facts: Any  # LiveFacts
    yearly_amount_cents: Any  # callable(plan canonical dict) -> int

    def d(self, kind: str) -> dict[str, dict]:
        return self.desired.get(kind) or {}

    def l(self, kind: str) -> dict[str, dict]:  # noqa: E743
        return self.live.get(kind) or {}


def is_absent(obj: dict | None) -> bool:
    return bool(obj) and obj.get("ensure") == "absent"


def strip(obj: dict) -> dict:
    """The canonical object without planner-only keys (``ensure``), deep-copied."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k != "ensure"}


def field_changes(before: dict, after: dict) -> list[Change]:
    """Changes between two canonical objects. A top-level key the desired side does not carry is
    not managed (e.g. a customer field the YAML does not declare) and is never a change."""
    changes: list[Change] = []
    for key in sorted(after):
        if key in before:
            changes.extend(diff(before[key], after[key], key))
        else:
            changes.append(Change(key, None, after[key]))
    return changes


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _sorted_set(values) -> list:
    return sorted(set(values))


# --- references (depends_on) -------------------------------------------------------------------


def references(kind: str, obj: dict | None) -> set[str]:
    """Ids ("kind:key") of the objects ``obj`` refers to by code."""
    if not obj:
        return set()
    refs: set[str] = set()
    for code in obj.get("tax_codes") or []:
        refs.add(f"tax:{code}")
    if kind == "plan":
        for fixed in (obj.get("fixed_charges") or {}).values():  # notes §3.4: an add-on on the plan
            if fixed.get("add_on_code"):
                refs.add(f"add_on:{fixed['add_on_code']}")
            refs.update(f"tax:{code}" for code in fixed.get("tax_codes") or [])
        for charge in (obj.get("charges") or {}).values():
            if charge.get("billable_metric_code"):
                refs.add(f"billable_metric:{charge['billable_metric_code']}")
            for code in charge.get("tax_codes") or []:
                refs.add(f"tax:{code}")
    elif kind == "coupon":
        applies = obj.get("applies_to") or {}
        refs.update(f"plan:{c}" for c in applies.get("plan_codes") or [])
        refs.update(f"billable_metric:{c}" for c in applies.get("billable_metric_codes") or [])
    elif kind == "subscription":
        if obj.get("plan_code"):
            refs.add(f"plan:{obj['plan_code']}")
        if obj.get("external_customer_id"):
            refs.add(f"customer:{obj['external_customer_id']}")
    elif kind == "applied_coupon":
        if obj.get("coupon_code"):
            refs.add(f"coupon:{obj['coupon_code']}")
        if obj.get("external_customer_id"):
            refs.add(f"customer:{obj['external_customer_id']}")
    return refs


# --- helpers on live facts ---------------------------------------------------------------------


def active_subscriptions(ctx: Context, plan_code: str) -> int:
    return int((getattr(ctx.facts, "plan_active_subscriptions", None) or {}).get(plan_code, 0))


def live_subscriptions_on(ctx: Context, plan_code: str) -> list[str]:
    return sorted(k for k, s in ctx.l("subscription").items() if s.get("plan_code") == plan_code)


def pending_subscriptions_to(ctx: Context, plan_code: str) -> list[str]:
    """Subscriptions still active elsewhere with a downgrade to ``plan_code`` scheduled (notes §4.6):
    e.g. those a previous, cheaper plan version is waiting for. They are the plan's subscribers from
    their next period on, so a price change hits them and a new version must move them too."""
    pending = getattr(ctx.facts, "pending_downgrades", None) or {}
    return sorted(k for k, code in pending.items()
                  if code == plan_code and (ctx.l("subscription").get(k) or {}).get("plan_code") != plan_code)


def next_version_code(ctx: Context, code: str) -> str:
    """``<code>__v<N>``: N is one more than the current live version (version 1 has no suffix)."""
    live_code = (getattr(ctx.facts, "plan_versions", None) or {}).get(code, code)
    m = _VERSION_SUFFIX.search(live_code)
    current = int(m.group(1)) if m else 1
    return f"{code}__v{current + 1}"


def _yearly(ctx: Context, plan_code: str) -> int | None:
    """Yearly base amount the plan will have when subscriptions move (plans are applied first)."""
    plan = ctx.d("plan").get(plan_code)
    if plan is None or is_absent(plan):
        plan = ctx.l("plan").get(plan_code)
    if plan is None:
        # a subscription still on a superseded version ``X__v<N>`` (ARCHITECTURE "Plan versions")
        superseded = getattr(ctx.facts, "superseded_yearly_amounts", None) or {}
        return superseded.get(plan_code)
    return ctx.yearly_amount_cents(plan)


def _upgrade_reason(ctx: Context, from_plan: str, to_plan: str) -> tuple[str | None, dict]:
    """notes §4.6: Lago compares Plan#yearly_amount_cents; new >= current is an immediate upgrade,
    lower is a downgrade scheduled at the end of the current billing period."""
    old, new = _yearly(ctx, from_plan), _yearly(ctx, to_plan)
    details = {"from_yearly_amount_cents": old, "to_yearly_amount_cents": new}
    if old is None or new is None:
        return None, details
    return ("upgrade_immediate" if new >= old else "downgrade_at_period_end"), details


# --- per-kind compare functions ----------------------------------------------------------------


def _simple_update(kind: str, key: str, before: dict, after: dict) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    return Operation("update", kind, key, ("changed",), tuple(changes), before, after)


def compare_tax(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    # notes §4.4: every tax field is editable in place.
    return _simple_update("tax", key, before, after)


def compare_add_on(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    # notes §4.4: every add-on field is editable in place.
    return _simple_update("add_on", key, before, after)


def compare_billable_metric(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    in_use = key in (getattr(ctx.facts, "metrics_in_use", None) or set())
    locked = _sorted_set(_top(c.path) for c in changes if _top(c.path) in METRIC_LOCKED_FIELDS)
    if in_use and locked:
        # notes §4.1: Lago would answer 200 and ignore these fields; a metric has no versions, so the
        # plan shows the change as blocked and says what to do instead. The applier refuses it.
        details = {
            "blocked": True,
            "locked_paths": locked,
            "used_by_plans": _plans_using_metric(ctx, key),
            "hint": (
                "declare a new metric with another code, point the charges at it, "
                f"then mark '{key}' with ensure: absent"
            ),
        }
        return Operation("replace", "billable_metric", key, ("metric_locked",), tuple(changes),
                         before, after, details)
    return Operation("update", "billable_metric", key, ("changed",), tuple(changes), before, after)


def _plans_using_metric(ctx: Context, metric: str) -> list[str]:
    return sorted(
        code for code, plan in ctx.l("plan").items()
        if any(c.get("billable_metric_code") == metric for c in (plan.get("charges") or {}).values())
    )


def compare_coupon(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    applied = key in (getattr(ctx.facts, "coupons_applied", None) or set())
    locked = _sorted_set(_top(c.path) for c in changes if _top(c.path) not in COUPON_EDITABLE_FIELDS)
    if applied and locked:
        # notes §4.3: once applied, only name/description/expiration are applied; the rest is ignored.
        details = {
            "blocked": True,
            "locked_paths": locked,
            "hint": (
                "declare a new coupon with another code for new customers; "
                f"'{key}' keeps its terms for the customers it is applied to"
            ),
        }
        return Operation("replace", "coupon", key, ("coupon_locked",), tuple(changes), before, after, details)
    return Operation("update", "coupon", key, ("changed",), tuple(changes), before, after)


def compare_plan(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    had_subs = key in (getattr(ctx.facts, "plan_has_had_subscriptions", None) or set())
    locked = _sorted_set(_top(c.path) for c in changes if _top(c.path) in PLAN_LOCKED_FIELDS)
    before_charges, after_charges = before.get("charges") or {}, after.get("charges") or {}
    if had_subs:
        for c in changes:
            parts = c.path.split(".")
            if (
                parts[0] == "charges" and len(parts) >= 3 and parts[1] in before_charges
                and parts[1] in after_charges and parts[2] in CHARGE_LOCKED_FIELDS
            ):
                locked.append(".".join(parts[:3]))
        locked.extend(_fixed_charge_locks(changes, before, after))
        locked = _sorted_set(locked)
    removed = sorted(set(before_charges) - set(after_charges))
    removed_fixed = sorted(set(before.get("fixed_charges") or {}) - set(after.get("fixed_charges") or {}))
    pending_here = [s for s in pending_subscriptions_to(ctx, key) if not _leaves_plan(ctx, s, key)]
    n_active = active_subscriptions(ctx, key) + len(pending_here)
    if had_subs and locked:
        # notes §4.2: locked fields are silently ignored once the plan has had subscriptions, so the
        # route that works is a new plan version plus moving the subscriptions (ARCHITECTURE "Plan
        # versions"). Subscriptions the workspace moves elsewhere or removes are left to their own op.
        # A subscription waiting for a scheduled downgrade to this plan (a previous, cheaper version)
        # moves too, else it would land on the superseded version (a perpetual diff).
        migrate = sorted(
            [s for s in live_subscriptions_on(ctx, key) if not _leaves_plan(ctx, s, key)] + pending_here
        )
        details: dict[str, Any] = {
            "new_code": next_version_code(ctx, key),
            "live_code": (getattr(ctx.facts, "plan_versions", None) or {}).get(key, key),
            "migrate": migrate,
            "locked_paths": locked,
            "active_subscriptions": n_active,
        }
        reasons = ["locked_after_subscription"]
        if migrate:
            old, new = ctx.yearly_amount_cents(before), ctx.yearly_amount_cents(after)
            move = "upgrade_immediate" if new >= old else "downgrade_at_period_end"  # notes §4.6
            reasons.append(move)
            details.update(from_plan=key, to_plan=details["new_code"],
                           from_yearly_amount_cents=old, to_yearly_amount_cents=new)
        if removed:
            details["removed_charges"] = removed
        if removed_fixed:
            details["removed_fixed_charges"] = removed_fixed
        return Operation("replace", "plan", key, tuple(reasons), tuple(changes), before, after, details)
    reasons = ["changed"]
    details = {}
    reprices = any(_top(c.path) in PLAN_PRICE_FIELDS for c in changes)
    if reprices and n_active:
        reasons.append("reprices_subscribers")
        details["active_subscriptions"] = n_active
    if removed:
        # notes §4.2: charges omitted from a PUT are soft-deleted, even with subscriptions.
        reasons.append("charge_removed")
        details["removed_charges"] = removed
    if removed_fixed:
        # notes §3.4/§4.2: fixed charges omitted from a PUT carrying the key are deleted, like charges
        if "charge_removed" not in reasons:
            reasons.append("charge_removed")
        details["removed_fixed_charges"] = removed_fixed
    return Operation("update", "plan", key, tuple(reasons), tuple(changes), before, after, details)


def _fixed_charge_locks(changes, before: dict, after: dict) -> list[str]:
    """Paths ``fixed_charges.<code>.<field>`` Lago would keep once the plan has had subscriptions."""
    b, a = before.get("fixed_charges") or {}, after.get("fixed_charges") or {}
    out = []
    for c in changes:
        parts = c.path.split(".")
        if (parts[0] == "fixed_charges" and len(parts) >= 3 and parts[1] in b and parts[1] in a
                and parts[2] in FIXED_CHARGE_LOCKED_FIELDS):
            out.append(".".join(parts[:3]))
    return out


def _leaves_plan(ctx: Context, sub_key: str, plan_code: str) -> bool:
    desired = ctx.d("subscription").get(sub_key)
    return desired is not None and (is_absent(desired) or desired.get("plan_code") != plan_code)


def _gone_before_plan_delete(ctx: Context, sub_key: str, plan_code: str) -> bool:
    desired = ctx.d("subscription").get(sub_key)
    if desired is None:
        return False
    if is_absent(desired):
        return True  # its own delete terminates it (and says so)
    to_plan = desired.get("plan_code")
    if to_plan == plan_code:
        return False
    reason, _ = _upgrade_reason(ctx, plan_code, to_plan)
    return reason == "upgrade_immediate"


def compare_customer(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    # notes §4.5: POST /customers upserts; metadata entries are reconciled by key (paths
    # ``metadata.<key>.value``), so each entry shows as its own change.
    return _simple_update("customer", key, before, after)


def compare_subscription(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    before_eff = dict(before)
    pending = (getattr(ctx.facts, "pending_downgrades", None) or {}).get(key)
    details: dict[str, Any] = {}
    if pending is not None and pending == after.get("plan_code"):
        # A downgrade to the desired plan is already scheduled (notes §4.6): not a change.
        before_eff["plan_code"] = pending
        details["pending_downgrade"] = pending
    changes = field_changes(before_eff, after)
    cancel_pending = pending is not None and pending != after.get("plan_code")
    if cancel_pending:
        changes.append(Change("pending_plan_code", pending, None))
        details["cancel_pending_downgrade"] = pending
    if not changes:
        return None
    reasons: list[str] = []
    if any(c.path == "external_customer_id" for c in changes):
        reasons.append("customer_move")
    if before_eff.get("plan_code") != after.get("plan_code"):
        reason, amounts = _upgrade_reason(ctx, before["plan_code"], after["plan_code"])
        details.update(from_plan=before["plan_code"], to_plan=after["plan_code"], **amounts)
        reasons.insert(0, reason or "changed")
        return Operation("migrate", "subscription", key, tuple(reasons), tuple(changes), before, after, details)
    reasons.insert(0, "changed")
    return Operation("update", "subscription", key, tuple(reasons), tuple(changes), before, after, details)


def _not_reusable(ctx: Context, key: str, coupon_code: str | None) -> bool:
    """notes §4.7: a non-reusable coupon is applied once per customer ever; ``key`` was applied before
    (``facts.applied_coupons_ever``) and the coupon (live, else as declared) says reusable: false."""
    if key not in (getattr(ctx.facts, "applied_coupons_ever", None) or set()):
        return False
    coupon = ctx.l("coupon").get(coupon_code or "") or ctx.d("coupon").get(coupon_code or "") or {}
    return coupon.get("reusable") is False


def _coupon_blocked(key: str, coupon_code: str | None) -> dict:
    return {
        "blocked": True,
        "hint": (f"coupon '{coupon_code}' is not reusable and was already applied to this org once; "
                 "Lago refuses it again (coupon_is_not_reusable): declare a new coupon, or remove it from "
                 "the org's coupons"),
    }


def compare_applied_coupon(ctx: Context, key: str, before: dict, after: dict) -> Operation | None:
    # notes §4.7: no update endpoint; changing an override is terminate + apply again (replace). Only
    # declared overrides are compared (lagosync.model: unset ones default to the coupon's, notes §3.10).
    changes = field_changes(before, after)
    if not changes:
        return None
    details: dict[str, Any] = {}
    reasons = ["changed", "terminates_coupon"]
    if _not_reusable(ctx, key, after.get("coupon_code")):
        reasons.append("coupon_not_reusable")
        details.update(_coupon_blocked(key, after.get("coupon_code")))
    return Operation("replace", "applied_coupon", key, tuple(reasons), tuple(changes), before, after, details)


def create_applied_coupon_op(ctx: Context, key: str, after: dict) -> Operation:
    """Apply a coupon to an org; refused in the plan when Lago would refuse it (notes §4.7)."""
    if _not_reusable(ctx, key, after.get("coupon_code")):
        return Operation("create", "applied_coupon", key, ("new", "coupon_not_reusable"), (), None, after,
                         _coupon_blocked(key, after.get("coupon_code")))
    return Operation("create", "applied_coupon", key, ("new",), (), None, after, {})


COMPARE = {
    "tax": compare_tax,
    "billable_metric": compare_billable_metric,
    "add_on": compare_add_on,
    "plan": compare_plan,
    "coupon": compare_coupon,
    "customer": compare_customer,
    "subscription": compare_subscription,
    "applied_coupon": compare_applied_coupon,
}


# --- create and delete -------------------------------------------------------------------------


def create_op(ctx: Context, kind: str, key: str, after: dict) -> Operation:
    if kind == "applied_coupon":
        return create_applied_coupon_op(ctx, key, after)
    details: dict[str, Any] = {}
    return Operation("create", kind, key, ("new",), (), None, after, details)


def delete_op(ctx: Context, kind: str, key: str, before: dict, *, pruned: bool) -> Operation:
    reasons = ["removed"]
    details: dict[str, Any] = {"pruned": pruned}
    if kind == "billable_metric":
        # notes §4.1: DELETE has no guard, discards the metric and every charge using it.
        reasons.append("destroys_events")
        details["used_by_plans"] = _plans_using_metric(ctx, key)
    elif kind == "plan":
        # notes §4.2: DELETE terminates every active subscription of the plan. Subscriptions this
        # plan terminates itself (ensure: absent) or upgrades away first (immediate, notes §4.6) are
        # gone by then (deletes run last and wait for them); a downgrade waits for the period end,
        # so a subscription downgrading away is still terminated by the delete.
        gone = [s for s in live_subscriptions_on(ctx, key) if _gone_before_plan_delete(ctx, s, key)]
        n = max(0, active_subscriptions(ctx, key) - len(gone))
        details["active_subscriptions"] = n
        if gone:
            details["subscriptions_gone_first"] = gone
        if n:
            reasons.append("terminates_subscriptions")
    elif kind == "customer":
        # notes §4.5: DELETE terminates the customer's active subscriptions.
        subs = sorted(k for k, s in ctx.l("subscription").items() if s.get("external_customer_id") == key)
        details["active_subscriptions"] = len(subs)
        details["subscriptions"] = subs
        if subs:
            reasons.append("terminates_subscriptions")
    elif kind == "subscription":
        # notes §4.6: DELETE terminates the active subscription (final invoice).
        reasons.append("terminates_subscriptions")
        details["active_subscriptions"] = 1
    elif kind == "coupon":
        # notes §4.3: DELETE terminates every active applied coupon.
        details["applied"] = key in (getattr(ctx.facts, "coupons_applied", None) or set())
    elif kind == "applied_coupon":
        # notes §3.10: DELETE /customers/{ext}/applied_coupons/{id} terminates it (remaining balance lost)
        reasons.append("terminates_coupon")
    return Operation("delete", kind, key, tuple(reasons), (), before, None, details)
