"""Planning the declarative user-to-org migration (pure; executed by ``lagosync.applier.moves``).

An org in ``orgs.yaml`` says which user-based customers it replaces (``migrate_from: [user ids]``).
In Lago a subscription cannot change customer (lago-behaviour#subscription-fixed-fields: no ``external_customer_id`` in the
update fields), so moving a user's active subscription to the org means: terminate the user's
subscription (``DELETE /subscriptions/{id}``, lago-behaviour#subscription-terminate, with the termination options made
explicit) and start one for the org on the same plan (``POST /subscriptions``). The org records
the move in its metadata: ``migrated_from = "<user ids, comma-separated> (<date>)"`` (lago-behaviour#customer-metadata:
at most 5 entries, a value of at most 100 characters).

``plan_moves`` (called by ``make_plan``): one ``move`` operation (reason ``customer_move``) per
active subscription of a user (kind ``subscription``, key: the user's subscription id), plus a
record-only ``move`` on ``customer:<user>`` when a user has nothing left to move but is not yet
recorded. The org's subscription is the one ``orgs.yaml`` declares for the org with the same
external_id as the user's subscription, else on the same plan; with neither, the operation is
blocked with a hint (so nothing undeclared is ever created). Everything the applier needs is in
the operation's typed ``move`` field (``CustomerMove``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ..facts import LiveState, State
from ..model import MIGRATED_FROM_KEY as RECORD_KEY
from .ops import Action, Blocked, Change, CustomerMove, Operation

RECORD_MAX = 100  # lago-behaviour#customer-metadata: metadata value <= 100 characters
# Lago's defaults (lago-behaviour#subscription-termination-options), always written out in the plan and sent explicitly.
ON_TERMINATION_INVOICE = "generate"
ON_TERMINATION_CREDIT_NOTE = "credit"
_RECORD_RE = re.compile(r"^(?P<ids>[^()]*?)\s*(?:\((?P<date>[0-9-]+)\))?\s*$")


# --------------------------------------------------------------------------- user or org


def is_user_customer(external_id: str, *, migrate_from: Collection[str] = (), user_id_prefix: str | None = None,
                     org_id_prefix: str | None = None, declared: Collection[str] = ()) -> bool:
    """Is this Lago customer user-based (the seed integration's ``is_org_customer`` inverted)?

    ``lagosync.yaml`` says how an org id differs from a user id: a customer named by an org's
    ``migrate_from`` is a user; else, with ``user_id_prefix``, an id with that prefix is one;
    with only ``org_id_prefix``, an id without that prefix is one. A declared org never is (unless
    ``migrate_from`` names it). Without either prefix only ``migrate_from`` names users.
    """
    ext = str(external_id)
    if ext in migrate_from:
        return True
    if ext in declared:
        return False
    if user_id_prefix:
        return ext.startswith(user_id_prefix)
    if org_id_prefix:
        return not ext.startswith(org_id_prefix)
    return False


# --------------------------------------------------------------------------- the record


def parse_record(value: str | None) -> tuple[list[str], str | None]:
    """``"user_1,user_2 (2026-08-01)"`` -> (["user_1", "user_2"], "2026-08-01")."""
    if not value:
        return [], None
    m = _RECORD_RE.match(value.strip())
    if not m:
        return [], None
    ids = [i.strip() for i in m.group("ids").split(",") if i.strip()]
    return ids, m.group("date")


def format_record(ids: list[str], date: str) -> str:
    """The metadata value; ids are sorted, and cut with ``+N`` if they would not fit."""
    ids = sorted(set(ids))
    tail = f" ({date})"
    for n in range(len(ids), -1, -1):
        shown = ids[:n]
        rest = len(ids) - n
        text = ",".join(shown + ([f"+{rest}"] if rest else [])) + tail
        if len(text) <= RECORD_MAX:
            return text
    return tail.strip()  # pragma: no cover - a date alone always fits


def _record_ids(org_raw: Mapping[str, Any] | None) -> list[str]:
    for entry in (org_raw or {}).get("metadata") or []:
        if entry.get("key") == RECORD_KEY:
            return parse_record(entry.get("value"))[0]
    return []


def recorded_users(org_raw: Mapping[str, Any] | None) -> set[str]:
    """The users an org's ``migrated_from`` record names (from its raw Lago object)."""
    return set(_record_ids(org_raw))


def record_full(org_raw: Mapping[str, Any] | None) -> bool:
    """The record was cut (``+N``): it cannot name one more user."""
    return any(i.startswith("+") for i in _record_ids(org_raw))


# --------------------------------------------------------------------------- planning (pure)


def _target(desired: State, org: str, sub: Mapping[str, Any]) -> str | None:
    """The org subscription (declared in orgs.yaml) that takes over ``sub``."""
    subs = {k: s for k, s in (desired.get("subscription") or {}).items()
            if s.get("external_customer_id") == org and s.get("ensure") != "absent"}
    if sub["external_id"] in subs:
        return str(sub["external_id"])
    same_plan = sorted(k for k, s in subs.items() if s.get("plan_code") == sub.get("plan_code"))
    return same_plan[0] if same_plan else None


def plan_moves(desired: State, live: LiveState, ops: list[Operation], unmanaged: list[tuple[str, str]]
               ) -> tuple[list[Operation], list[tuple[str, str]]]:
    """Add the move operations to ``ops`` (pure; returns new lists).

    An operation the planner made for a user's subscription (a customer change when the org
    declares the same external_id, or a prune delete) is replaced by the move; the user's
    subscription is no longer listed as unmanaged.
    """
    facts = live.facts
    migrate_from = facts.migrate_from
    if not migrate_from:
        return list(ops), list(unmanaged)
    raw_customers = live.raw.get("customer") or {}
    moves: list[Operation] = []
    moved_ids: set[str] = set()
    for user, org in sorted(migrate_from.items()):
        if user not in facts.user_subscriptions:
            continue  # no such customer in Lago: nothing to move, nothing to record
        org_raw = raw_customers.get(org)
        recorded = recorded_users(org_raw)
        after_record = tuple(sorted(recorded | {user}))
        active = sorted(facts.user_subscriptions[user], key=lambda s: s["external_id"])
        for sub in active:
            moves.append(_move_op(desired, user, org, sub, after_record))
            moved_ids.add(sub["external_id"])
        if not active and user not in recorded and not record_full(org_raw):
            moves.append(Operation(
                Action.MOVE, "customer", user, ("customer_move",),
                (Change(f"metadata.{RECORD_KEY}", sorted(recorded) or None, list(after_record)),),
                depends_on=(f"customer:{org}",),
                move=CustomerMove(from_customer=user, to_customer=org, migrated_from=after_record,
                                  record_only=True),
            ))
    if not moves:
        return list(ops), list(unmanaged)
    replaced = {f"subscription:{i}" for i in moved_ids} | {op.id for op in moves}
    kept = [op for op in ops if op.id not in replaced]
    present = {op.id for op in kept}
    out = [op.with_(depends_on=tuple(d for d in op.depends_on if d in present)) for op in moves]
    # moves run after the org and its declared subscriptions exist (kinds order, then these)
    return kept + out, [u for u in unmanaged if not (u[0] == "subscription" and u[1] in moved_ids)]


def _move_op(desired: State, user: str, org: str, sub: Mapping[str, Any], after_record: tuple[str, ...]
             ) -> Operation:
    target = _target(desired, org, sub)
    after = None
    changes = [Change("external_customer_id", user, org)]
    deps = [f"customer:{org}"]
    block = None
    plan_code = sub.get("plan_code")
    if target is None:
        block = Blocked(
            why=f"org '{org}' declares no subscription to take over '{sub['external_id']}'",
            hint=(f"declare a subscription for org '{org}' in orgs.yaml on plan '{sub.get('plan_code')}' "
                  f"(use external_id: {sub['external_id']} to keep the user's subscription id)"),
        )
    else:
        after = dict(desired["subscription"][target])
        after.pop("ensure", None)
        plan_code = after.get("plan_code")
        if target != sub["external_id"]:
            changes.append(Change("external_id", sub["external_id"], target))
            deps.append(f"subscription:{target}")
        if after.get("plan_code") != sub.get("plan_code"):
            changes.append(Change("plan_code", sub.get("plan_code"), after.get("plan_code")))
            deps.append(f"plan:{after.get('plan_code')}")
    move = CustomerMove(
        from_customer=user, to_customer=org, migrated_from=after_record,
        from_subscription=sub["external_id"], to_subscription=target, plan_code=plan_code,
        on_termination_invoice=ON_TERMINATION_INVOICE, on_termination_credit_note=ON_TERMINATION_CREDIT_NOTE,
    )
    # the user's subscription is terminated (lago-behaviour#subscription-terminate): a destructive step, so the reason says so
    # and apply needs --allow-destroy, like every other termination
    return Operation(Action.MOVE, "subscription", sub["external_id"], ("customer_move", "terminates_subscriptions"),
                     tuple(changes), dict(sub), after, depends_on=tuple(deps), block=block, move=move)
