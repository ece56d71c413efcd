"""Compare functions, one per object kind, turning (desired, live) into operations.

Each ``compare_<kind>`` gets a ``Context`` (desired State, live State, LiveFacts) and the key, and
returns an ``Operation`` or None (no-op). The Lago mutation rules they model are cited from
docs/lago-behaviour.md (``lago-behaviour#<id>``). Pure: nothing here reads or writes anything
outside its arguments, and inputs are never mutated (canonical dicts are deep-copied into ops).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..facts import LiveFacts, State
from ..kinds import KINDS, split_version, version_code
from .diff import diff
from .ops import Action, Blocked, Change, NewVersion, Operation
from .versions import Directives, live_code, sub_version, wanted_plan_code

__all__ = ["KINDS", "COMPARE", "Context", "create_op", "delete_op", "is_absent", "strip", "view"]

# lago-behaviour#metric-locked-fields: once a metric is used by a charge of a non-deleted plan, PUT silently ignores these.
METRIC_LOCKED_FIELDS = (
    "code", "aggregation_type", "weighted_interval", "field_name", "recurring",
    "rounding_function", "rounding_precision", "expression",
)
# lago-behaviour#plan-locked-fields: once a plan has had any subscription (any status), PUT silently ignores these.
PLAN_LOCKED_FIELDS = ("interval", "amount_currency", "pay_in_advance", "trial_period", "bill_charges_monthly")
# lago-behaviour#charge-locked-fields: with subscriptions, these charge fields are silently kept.
CHARGE_LOCKED_FIELDS = ("charge_model", "pay_in_advance", "prorated", "billable_metric_code", "min_amount_cents")
# lago-behaviour#coupon-locked-fields: once a coupon has been applied, only these stay editable.
COUPON_EDITABLE_FIELDS = ("name", "description", "expiration", "expiration_at")
# Plan fields whose in-place change alters what subscribers pay (lago-behaviour#plan-update-reprices: amount_cents and charges
# apply to every subscription of the plan at once; tax codes change the invoiced total).
PLAN_PRICE_FIELDS = ("amount_cents", "charges", "tax_codes", "fixed_charges")
# Fixed charges (lago-behaviour#fixed-charge-reconcile) reconcile like charges, and their locks
# (lago-behaviour#fixed-charge-update) are those of charges (lago-behaviour#charge-locked-fields).
FIXED_CHARGE_LOCKED_FIELDS = ("charge_model", "pay_in_advance", "prorated", "add_on_code")



@dataclass(frozen=True)
class Context:
    desired: State
    live: State
    facts: LiveFacts
    yearly_amount_cents: Callable[[dict[str, Any]], int]
    raw: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # raw API objects (dates)
    directives: Directives = field(default_factory=Directives)  # price-change policies, pins, migrations

    def d(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.desired.get(kind) or {}

    def l(self, kind: str) -> dict[str, dict[str, Any]]:  # noqa: E743
        return self.live.get(kind) or {}


def is_absent(obj: dict[str, Any] | None) -> bool:
    return obj is not None and obj.get("ensure") == "absent"


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """The canonical object without planner-only keys (``ensure``), deep-copied."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k != "ensure"}


def view(obj: dict[str, Any]) -> dict[str, Any]:
    """``strip`` without the copy, for comparing only: the compare functions never mutate their
    arguments, and what goes into an operation is compared again on ``strip`` copies (make_plan)."""
    return obj if "ensure" not in obj else {k: v for k, v in obj.items() if k != "ensure"}


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Changes between two canonical objects. A top-level key the desired side does not carry is
    not managed (e.g. a customer field the YAML does not declare) and is never a change."""
    if before is after:  # one object: read_live shares a live object in sync with its desired one
        return []
    changes: list[Change] = []
    for key in sorted(after):
        if key in before:
            changes.extend(diff(before[key], after[key], key))
        else:
            changes.append(Change(key, None, after[key]))
    return changes


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _sorted_set(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


# --- helpers on live facts ---------------------------------------------------------------------


def active_subscriptions(ctx: Context, plan_code: str) -> int:
    return int(ctx.facts.plan_active_subscriptions.get(plan_code, 0))


def live_subscriptions_on(ctx: Context, plan_code: str) -> list[str]:
    return sorted(k for k, s in ctx.l("subscription").items() if s.get("plan_code") == plan_code)


def pending_subscriptions_to(ctx: Context, plan_code: str) -> list[str]:
    """Subscriptions still active elsewhere with a downgrade to ``plan_code`` scheduled (lago-behaviour#pending-downgrade):
    e.g. those a previous, cheaper plan version is waiting for. They are the plan's subscribers from
    their next period on, so a price change hits them and a new version must move them too."""
    pending = ctx.facts.pending_downgrades
    return sorted(k for k, code in pending.items()
                  if code == plan_code and (ctx.l("subscription").get(k) or {}).get("plan_code") != plan_code)


def next_version_code(ctx: Context, code: str) -> str:
    """``<code>__v<N>``: N is one more than the current live version (version 1 has no suffix)."""
    unused = ctx.facts.unused_versions.get(code)
    if unused:
        return unused  # lago-behaviour#plan-version-reuse: a version no subscription used is reused
    _, current = split_version(ctx.facts.plan_versions.get(code, code))
    return version_code(code, current + 1)


def yearly(ctx: Context, plan_code: str) -> int | None:
    """Yearly base amount the plan will have when subscriptions move (plans are applied first)."""
    plan = ctx.d("plan").get(plan_code)
    if plan is None or is_absent(plan):
        plan = ctx.l("plan").get(plan_code)
    if plan is None:
        # a subscription still on a superseded version ``X__v<N>`` (ARCHITECTURE "Plan versions")
        return ctx.facts.superseded_yearly_amounts.get(plan_code)
    return ctx.yearly_amount_cents(plan)


def upgrade_reason(ctx: Context, from_plan: str, to_plan: str) -> tuple[str | None, dict[str, Any]]:
    """lago-behaviour#plan-yearly-amount: Lago compares Plan#yearly_amount_cents; new >= current is an immediate upgrade,
    lower is a downgrade scheduled at the end of the current billing period."""
    old, new = yearly(ctx, from_plan), yearly(ctx, to_plan)
    details = {"from_yearly_amount_cents": old, "to_yearly_amount_cents": new}
    if old is None or new is None:
        return None, details
    return ("upgrade_immediate" if new >= old else "downgrade_at_period_end"), details


# --- per-kind compare functions ----------------------------------------------------------------


def _simple_update(kind: str, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    return Operation(Action.UPDATE, kind, key, ("changed",), tuple(changes), before, after)


def compare_tax(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    # lago-behaviour#tax-editable: every tax field is editable in place.
    return _simple_update("tax", key, before, after)


def compare_add_on(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    # lago-behaviour#add-on-editable: every add-on field is editable in place.
    return _simple_update("add_on", key, before, after)


def compare_billable_metric(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    in_use = key in ctx.facts.metrics_in_use
    locked = _sorted_set(_top(c.path) for c in changes if _top(c.path) in METRIC_LOCKED_FIELDS)
    if in_use and locked:
        # lago-behaviour#metric-locked-fields: Lago would answer 200 and ignore these fields; a metric has no versions, so the
        # plan shows the change as blocked and says what to do instead. The applier refuses it.
        block = Blocked(
            why="Lago ignores these fields once a plan uses the metric",
            hint=("declare a new metric with another code, point the charges at it, "
                  f"then mark '{key}' with ensure: absent"),
            locked_paths=tuple(locked),
        )
        return Operation(Action.REPLACE, "billable_metric", key, ("metric_locked",), tuple(changes),
                         before, after, {"used_by_plans": plans_using_metric(ctx, key)}, block=block)
    return Operation(Action.UPDATE, "billable_metric", key, ("changed",), tuple(changes), before, after)


def plans_using_metric(ctx: Context, metric: str) -> list[str]:
    return sorted(
        code for code, plan in ctx.l("plan").items()
        if any(c.get("billable_metric_code") == metric for c in (plan.get("charges") or {}).values())
    )


def compare_coupon(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    applied = key in ctx.facts.coupons_applied
    locked = _sorted_set(_top(c.path) for c in changes if _top(c.path) not in COUPON_EDITABLE_FIELDS)
    if applied and locked:
        # lago-behaviour#coupon-locked-fields: once applied, only name/description/expiration are applied; the rest is ignored.
        block = Blocked(
            why="Lago ignores these fields once the coupon is applied",
            hint=("declare a new coupon with another code for new customers; "
                  f"'{key}' keeps its terms for the customers it is applied to"),
            locked_paths=tuple(locked),
        )
        return Operation(Action.REPLACE, "coupon", key, ("coupon_locked",), tuple(changes), before, after,
                         block=block)
    return Operation(Action.UPDATE, "coupon", key, ("changed",), tuple(changes), before, after)


def compare_plan(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    changes = field_changes(before, after)
    if not changes:
        return None
    had_subs = key in ctx.facts.plan_has_had_subscriptions
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
    pending_here = [s for s in pending_subscriptions_to(ctx, key) if not leaves_plan(ctx, s, key)]
    n_active = active_subscriptions(ctx, key) + len(pending_here)
    priced = _sorted_set(_top(c.path) for c in changes if _top(c.path) in PLAN_PRICE_FIELDS)
    if had_subs and (locked or priced) and ctx.directives.policy(key) == "new_version":
        # price_change: new_version (planner.versions): a new version for new subscriptions; the existing
        # ones stay on theirs (grandfathered) until a migration moves them. Nobody pays differently now.
        code = next_version_code(ctx, key)
        version = NewVersion(code=code, live_code=ctx.facts.plan_versions.get(key, key), migrate=(),
                             locked_paths=tuple(_sorted_set([*locked, *priced])))
        return Operation(Action.REPLACE, "plan", key, ("new_version",), tuple(changes), before, after,
                         {"grandfathered": n_active}, version=version,
                         block=_version_block(ctx, key, after, [], code))
    if had_subs and locked:
        # lago-behaviour#plan-locked-fields: locked fields are silently ignored once the plan has had subscriptions, so the
        # route that works is a new plan version plus moving the subscriptions (ARCHITECTURE "Plan
        # versions"). Subscriptions the workspace moves elsewhere or removes are left to their own op.
        # A subscription waiting for a scheduled downgrade to this plan (a previous, cheaper version)
        # moves too, else it would land on the superseded version (a perpetual diff).
        migrate = sorted(
            [s for s in live_subscriptions_on(ctx, key) if not leaves_plan(ctx, s, key)] + pending_here
        )
        version = NewVersion(
            code=next_version_code(ctx, key),
            live_code=ctx.facts.plan_versions.get(key, key),
            migrate=tuple(migrate),
            locked_paths=tuple(locked),
        )
        details: dict[str, Any] = {"active_subscriptions": n_active}
        reasons = ["locked_after_subscription"]
        if migrate:
            # lago-behaviour#plan-change-upgrade-downgrade: each subscription's move is an upgrade or a
            # downgrade compared with the plan it is ACTIVE on (a previous version while a downgrade waits)
            moves = {version_move(ctx, s, key, before, after)[0] for s in migrate}
            reasons += [m for m in ("upgrade_immediate", "downgrade_at_period_end") if m in moves]
            old, new = ctx.yearly_amount_cents(before), ctx.yearly_amount_cents(after)
            details.update(from_plan=key, to_plan=version.code,
                           from_yearly_amount_cents=old, to_yearly_amount_cents=new)
        if removed:
            details["removed_charges"] = removed
        if removed_fixed:
            details["removed_fixed_charges"] = removed_fixed
        block = _version_block(ctx, key, after, migrate, version.code)
        return Operation(Action.REPLACE, "plan", key, tuple(reasons), tuple(changes), before, after, details,
                         version=version, block=block)
    reasons = ["changed"]
    details = {}
    reprices = any(_top(c.path) in PLAN_PRICE_FIELDS for c in changes)
    if reprices and n_active:
        reasons.append("reprices_subscribers")
        details["active_subscriptions"] = n_active
    if removed:
        # lago-behaviour#plan-charges-reconciled: charges omitted from a PUT are soft-deleted, even with subscriptions.
        reasons.append("charge_removed")
        details["removed_charges"] = removed
    if removed_fixed:
        # lago-behaviour#fixed-charge-reconcile: fixed charges omitted from a PUT carrying the key are deleted, like charges
        if "charge_removed" not in reasons:
            reasons.append("charge_removed")
        details["removed_fixed_charges"] = removed_fixed
    return Operation(Action.UPDATE, "plan", key, tuple(reasons), tuple(changes), before, after, details)


def version_move(ctx: Context, sub_key: str, plan: str, before: dict[str, Any], after: dict[str, Any]
                 ) -> tuple[str, int | None, int | None, str]:
    """(reason, from yearly amount, to yearly amount, the plan the subscription is active on) of moving
    ``sub_key`` to the new version of ``plan`` (lago-behaviour#plan-change-upgrade-downgrade)."""
    current = str((ctx.l("subscription").get(sub_key) or {}).get("plan_code") or plan)
    to = ctx.yearly_amount_cents(after)
    frm = ctx.yearly_amount_cents(before) if current == plan else yearly(ctx, current)
    if frm is None:
        frm = ctx.yearly_amount_cents(before)
    return ("upgrade_immediate" if to >= frm else "downgrade_at_period_end"), frm, to, current


def coupon_ended(ctx: Context, key: str) -> bool:
    """This plan terminates the applied coupon ``key``: the org manages its coupons and drops it, or
    declares it absent."""
    kept = ctx.d("applied_coupon").get(key)
    return kept is None if key in ctx.facts.managed.get("applied_coupon", set()) else is_absent(kept)


def _version_block(ctx: Context, plan: str, after: dict[str, Any], migrate: list[str], new_code: str
                   ) -> Blocked | None:
    """What makes moving ``migrate`` onto a new version of ``plan`` impossible, or silently costly:

    * a customer billed in another currency than the new version (lago-behaviour#customer-currency);
    * a coupon limited to this plan that has been applied: Lago locks its plans
      (lago-behaviour#coupon-locked-fields), so it cannot follow the new version and the discount would
      silently stop for the subscribers moving with the plan (and for every org given it later), while
      the workspace still says it applies to the plan. The workspace says what to do: a coupon with a
      new code in its place in the orgs' coupons, and the old one removed from plans/ (or absent)."""
    currency = after.get("amount_currency")
    for sub in migrate:
        org = str((ctx.l("subscription").get(sub) or {}).get("external_customer_id") or "")
        billed = (ctx.l("customer").get(org) or {}).get("currency")
        if currency and billed and billed != currency:
            return Blocked(
                why=(f"org '{org}' is billed in {billed} and Lago keeps a customer's currency once it has "
                     f"subscriptions, so subscription '{sub}' cannot move to a plan in {currency}"),
                hint=(f"keep plan '{plan}' in {billed} and declare a plan with another code in {currency} "
                      "for new customers"),
                locked_paths=("amount_currency",),
            )
    moving_orgs = {str((ctx.l("subscription").get(s) or {}).get("external_customer_id")) for s in migrate}
    for code, coupon in sorted(ctx.l("coupon").items()):
        if plan not in ((coupon.get("applies_to") or {}).get("plan_codes") or ()) or code not in ctx.facts.coupons_applied:
            continue
        holders = sorted(str(a.get("external_customer_id")) for k, a in ctx.l("applied_coupon").items()
                         if a.get("coupon_code") == code and str(a.get("external_customer_id")) in moving_orgs
                         and not coupon_ended(ctx, k))
        wanted = ctx.d("coupon").get(code)
        still_declared = wanted is not None and not is_absent(wanted) and plan in (
            (wanted.get("applies_to") or {}).get("plan_codes") or ())
        if not holders and not still_declared:
            continue  # the workspace no longer says the coupon applies to this plan, and no mover holds it
        orgs = f" (applied to org {', '.join(repr(o) for o in holders)}, moving to the new version)" if holders else ""
        return Blocked(
            why=(f"coupon '{code}'{orgs} is limited to plan '{plan}', and Lago locks a coupon's plans once it is "
                 f"applied: on the new version '{new_code}' the discount would stop"),
            hint=(f"declare a coupon with a new code and the same terms for plan '{plan}', put it in place of "
                  f"'{code}' in the orgs' coupons (orgs.yaml), and mark '{code}' ensure: absent in plans/ (deleting "
                  "it ends it on every org that holds it); then plan again"),
            locked_paths=(f"coupons.{code}.applies_to.plan_codes",),
        )
    return None


def _fixed_charge_locks(changes: list[Change], before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Paths ``fixed_charges.<code>.<field>`` Lago would keep once the plan has had subscriptions."""
    b, a = before.get("fixed_charges") or {}, after.get("fixed_charges") or {}
    out = []
    for c in changes:
        parts = c.path.split(".")
        if (parts[0] == "fixed_charges" and len(parts) >= 3 and parts[1] in b and parts[1] in a
                and parts[2] in FIXED_CHARGE_LOCKED_FIELDS):
            out.append(".".join(parts[:3]))
    return out


def leaves_plan(ctx: Context, sub_key: str, plan_code: str) -> bool:
    desired = ctx.d("subscription").get(sub_key)
    return desired is not None and (is_absent(desired) or desired.get("plan_code") != plan_code)


def _gone_before_plan_delete(ctx: Context, sub_key: str, plan_code: str) -> bool:
    desired = ctx.d("subscription").get(sub_key)
    if desired is None:
        return False
    if is_absent(desired):
        return True  # its own delete terminates it (and says so)
    to_plan = desired.get("plan_code")
    if to_plan is None or to_plan == plan_code:
        return False
    reason, _ = upgrade_reason(ctx, plan_code, to_plan)
    return reason == "upgrade_immediate"


def compare_customer(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    # lago-behaviour#customer-metadata-reconcile: POST /customers upserts; metadata entries are reconciled by key (paths
    # ``metadata.<key>.value``), so each entry shows as its own change.
    op = _simple_update("customer", key, before, after)
    if op is None or not before.get("currency") or before.get("currency") == after.get("currency"):
        return op
    # only a currency change needs the customer's subscriptions (a scan of them all: never per unchanged org)
    subs = sorted(k for k, sub in ctx.l("subscription").items() if sub.get("external_customer_id") == key)
    if subs:
        # lago-behaviour#customer-currency: Lago refuses it (currencies_does_not_match) once there are subscriptions
        return op.with_(block=Blocked(
            why=(f"Lago keeps the currency of a customer that has subscriptions ({', '.join(subs)}): "
                 f"'{key}' stays in {before.get('currency')}"),
            hint=(f"keep currency {before.get('currency')} for org '{key}'; to bill in {after.get('currency')}, "
                  "declare a new org (a new external_id) with plans in that currency"),
            locked_paths=("currency",),
        ))
    return op


# Subscription fields Lago never changes on an existing subscription (lago-behaviour#subscription-fixed-fields):
# billing_time is kept as it was created; the customer cannot change (a user-to-org move re-creates it).
SUBSCRIPTION_FIXED_FIELDS = ("billing_time", "external_customer_id")


def compare_subscription(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    before_eff = dict(before)
    declared_plan = str(after.get("plan_code"))
    # the version the subscription should be on (a pin, or its own under new_version: planner.versions)
    after = {**after, "plan_code": wanted_plan_code(ctx.facts, ctx.directives, key, before.get("plan_code"),
                                                    declared_plan)}
    pending = ctx.facts.pending_downgrades.get(key)
    details: dict[str, Any] = {}
    if pending is not None and pending == after.get("plan_code"):
        # A downgrade to the desired plan is already scheduled (lago-behaviour#pending-downgrade): not a change.
        before_eff["plan_code"] = pending
        details["pending_downgrade"] = pending
    changes = field_changes(before_eff, after)
    cancel_pending = pending if pending is not None and pending != after.get("plan_code") else None
    if cancel_pending is not None:
        changes.append(Change("pending_plan_code", pending, None))
    if not changes:
        return None
    reasons: list[str] = []
    block = _subscription_block(ctx, before, after)
    if any(c.path == "external_customer_id" for c in changes):
        reasons.append("customer_move")
    if block is not None and "external_customer_id" not in block.locked_paths:
        reasons.append("subscription_locked")
    action = Action.UPDATE
    if before_eff.get("plan_code") != after.get("plan_code"):
        reason, amounts = upgrade_reason(ctx, before["plan_code"], after["plan_code"])
        details.update(from_plan=lago_plan_code(ctx, before["plan_code"]),
                       to_plan=lago_plan_code(ctx, after["plan_code"]), **amounts)
        reasons.insert(0, reason or "changed")
        action = Action.MIGRATE
    else:
        reasons.insert(0, "changed")
    # people read the plans by the codes Lago knows them by (a superseded version 1 reads X__v1 in the state)
    changes = [Change(c.path, lago_plan_code(ctx, c.old), lago_plan_code(ctx, c.new))
               if c.path in ("plan_code", "pending_plan_code") else c for c in changes]
    return Operation(action, "subscription", key, tuple(reasons), tuple(changes), before,
                     {**after, "plan_code": declared_plan}, details, block=block, cancel_pending=cancel_pending,
                     target_plan=_target_plan(ctx, str(after["plan_code"])))


def _target_plan(ctx: Context, state_code: str) -> str | None:
    """The Lago code to move a subscription to when it is not its plan's current version."""
    base, version = sub_version(ctx.facts, state_code)
    return live_code(ctx.facts, base, version) if state_code != base else None


def lago_plan_code(ctx: Context, code: Any) -> Any:
    """The code Lago knows a subscription's plan by: a declared code's current version (``X`` or
    ``X__v<N>``), a superseded version's own code (``X`` for the ``X__v1`` the state reads)."""
    if not isinstance(code, str):
        return code
    return ctx.facts.superseded_codes.get(code) or ctx.facts.plan_versions.get(code, code)


def _subscription_block(ctx: Context, before: dict[str, Any], after: dict[str, Any]) -> Blocked | None:
    """A change of a field Lago keeps (``SUBSCRIPTION_FIXED_FIELDS``): blocked, with what to do instead.
    A customer change that orgs.yaml declares as a user-to-org move is planned by ``planner.moves``
    (which replaces this operation), so it is not blocked here."""
    owner, org = before.get("external_customer_id"), after.get("external_customer_id")
    moved = owner != org
    if moved and ctx.facts.migrate_from.get(str(owner)) == org:
        return None
    if moved:
        return Blocked(
            why=f"a Lago subscription cannot change customer (this one belongs to '{owner}')",
            hint=f"add '{owner}' to migrate_from of org '{org}' in orgs.yaml to terminate it and start it "
                 "again for the org",
            locked_paths=("external_customer_id",),
        )
    if before.get("billing_time") != after.get("billing_time"):
        return Blocked(
            why=f"Lago keeps the billing_time a subscription was created with ('{before.get('billing_time')}')",
            hint="give the subscription a new external_id and mark the old one ensure: absent instead",
            locked_paths=("billing_time",),
        )
    return None


def _not_reusable(ctx: Context, key: str, coupon_code: str | None) -> bool:
    """lago-behaviour#coupon-reusable: a non-reusable coupon is applied once per customer ever; ``key`` was applied before
    (``facts.applied_coupons_ever``) and the coupon (live, else as declared) says reusable: false."""
    if key not in ctx.facts.applied_coupons_ever:
        return False
    coupon = ctx.l("coupon").get(coupon_code or "") or ctx.d("coupon").get(coupon_code or "") or {}
    return coupon.get("reusable") is False


def _coupon_blocked(coupon_code: str | None) -> Blocked:
    return Blocked(
        why="Lago applies a non-reusable coupon to a customer once, ever",
        hint=(f"coupon '{coupon_code}' is not reusable and was already applied to this org once; "
              "Lago refuses it again (coupon_is_not_reusable): declare a new coupon, or remove it from "
              "the org's coupons"),
    )


def compare_applied_coupon(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]
                           ) -> Operation | None:
    # lago-behaviour#applied-coupon-no-update: no update endpoint; changing an override is terminate + apply again (replace). Only
    # declared overrides are compared (lagosync.model: unset ones default to the coupon's, lago-behaviour#applied-coupon-overrides-default).
    changes = field_changes(before, after)
    if not changes:
        return None
    reasons = ["changed", "terminates_coupon"]
    block = None
    if _not_reusable(ctx, key, after.get("coupon_code")):
        reasons.append("coupon_not_reusable")
        block = _coupon_blocked(after.get("coupon_code"))
    return Operation(Action.REPLACE, "applied_coupon", key, tuple(reasons), tuple(changes), before, after,
                     block=block)


def create_applied_coupon_op(ctx: Context, key: str, after: dict[str, Any]) -> Operation:
    """Apply a coupon to an org; refused in the plan when Lago would refuse it (lago-behaviour#coupon-reusable)."""
    if _not_reusable(ctx, key, after.get("coupon_code")):
        return Operation(Action.CREATE, "applied_coupon", key, ("new", "coupon_not_reusable"), (), None, after,
                         block=_coupon_blocked(after.get("coupon_code")))
    return Operation(Action.CREATE, "applied_coupon", key, ("new",), (), None, after)


def compare_migration(ctx: Context, key: str, before: dict[str, Any], after: dict[str, Any]) -> Operation | None:
    # a migration's record (the plan it belongs to); what it moves is planned by planner.migrations
    op = _simple_update("migration", key, before, after)
    return op.with_(migration=key) if op is not None else None


COMPARE = {
    "tax": compare_tax,
    "billable_metric": compare_billable_metric,
    "add_on": compare_add_on,
    "plan": compare_plan,
    "coupon": compare_coupon,
    "customer": compare_customer,
    "subscription": compare_subscription,
    "applied_coupon": compare_applied_coupon,
    "migration": compare_migration,
}


# --- create and delete -------------------------------------------------------------------------


def create_op(ctx: Context, kind: str, key: str, after: dict[str, Any]) -> Operation:
    if kind == "applied_coupon":
        return create_applied_coupon_op(ctx, key, after)
    target = None
    if kind == "subscription":  # a pinned version (planner.versions)
        wanted = wanted_plan_code(ctx.facts, ctx.directives, key, None, str(after.get("plan_code")))
        target = _target_plan(ctx, wanted)
    return Operation(Action.CREATE, kind, key, ("new",), (), None, after, target_plan=target,
                     migration=key if kind == "migration" else None)


def delete_op(ctx: Context, kind: str, key: str, before: dict[str, Any], *, pruned: bool) -> Operation:
    reasons = ["removed"]
    details: dict[str, Any] = {}
    if kind == "billable_metric":
        # lago-behaviour#metric-delete: DELETE has no guard, discards the metric and every charge using it.
        reasons.append("destroys_events")
        details["used_by_plans"] = plans_using_metric(ctx, key)
    elif kind == "plan":
        # lago-behaviour#plan-delete-async: DELETE terminates every active subscription of the plan. Subscriptions this
        # plan terminates itself (ensure: absent) or upgrades away first (immediate, lago-behaviour#subscription-upgrade) are
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
        # lago-behaviour#customer-delete: DELETE terminates the customer's active subscriptions.
        subs = sorted(k for k, s in ctx.l("subscription").items() if s.get("external_customer_id") == key)
        details["active_subscriptions"] = len(subs)
        details["subscriptions"] = subs
        if subs:
            reasons.append("terminates_subscriptions")
    elif kind == "subscription":
        # lago-behaviour#subscription-terminate: DELETE terminates the active subscription (final invoice).
        reasons.append("terminates_subscriptions")
        details["active_subscriptions"] = 1
    elif kind == "coupon":
        # lago-behaviour#coupon-delete: DELETE terminates every active applied coupon.
        details["applied"] = key in ctx.facts.coupons_applied
    elif kind == "applied_coupon":
        # lago-behaviour#applied-coupon-no-update: DELETE /customers/{ext}/applied_coupons/{id} terminates it (remaining balance lost)
        reasons.append("terminates_coupon")
    return Operation(Action.DELETE, kind, key, tuple(reasons), (), before, None, details, pruned=pruned)
