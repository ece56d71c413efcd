"""The declarative user-to-org migration (issue 6).

An org in ``orgs.yaml`` says which user-based customers it replaces (``migrate_from: [user ids]``).
In Lago a subscription cannot change customer (notes §3.9: no ``external_customer_id`` in the
update fields), so moving a user's active subscription to the org means: terminate the user's
subscription (``DELETE /subscriptions/{id}``, notes §4.6, with the termination options made
explicit) and start one for the org on the same plan (``POST /subscriptions``). The org records
the move in its metadata: ``migrated_from = "<user ids, comma-separated> (<date>)"`` (notes §3.8:
at most 5 entries, a value of at most 100 characters).

Planning (pure, called by ``make_plan``): one ``migrate`` operation with reason ``customer_move``
per active subscription of a user (kind ``subscription``, key: the user's subscription id), plus
a record-only ``migrate`` on ``customer:<user>`` when a user has nothing left to move but is not
yet recorded. The org's subscription is the one ``orgs.yaml`` declares for the org with the same
external_id as the user's subscription, else on the same plan; with neither, the operation is
blocked with a hint (so nothing undeclared is ever created).

Applying (``execute_move``): every step reads Lago first, so an interrupted apply is finished by
running apply again, without duplicates.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from .model import MIGRATED_FROM_KEY as RECORD_KEY
from .planner.ops import Change, Operation

RECORD_MAX = 100  # notes §3.8: metadata value <= 100 characters
# Lago's defaults (notes §4.6), always written out in the plan and sent explicitly.
ON_TERMINATION_INVOICE = "generate"
ON_TERMINATION_CREDIT_NOTE = "credit"
_RECORD_RE = re.compile(r"^(?P<ids>[^()]*?)\s*(?:\((?P<date>[0-9-]+)\))?\s*$")


# --------------------------------------------------------------------------- user or org


def is_user_customer(external_id: str, *, migrate_from=(), user_id_prefix: str | None = None,
                     org_id_prefix: str | None = None, declared=()) -> bool:
    """Is this Lago customer user-based (the seed integration's ``is_org_customer`` inverted)?

    ``lagosync.yaml`` says how an org id differs from a user id (issue 6): a customer named by an
    org's ``migrate_from`` is a user; else, with ``user_id_prefix``, an id with that prefix is one;
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


def recorded_users(org_raw: dict | None) -> set[str]:
    for entry in (org_raw or {}).get("metadata") or []:
        if entry.get("key") == RECORD_KEY:
            return set(parse_record(entry.get("value"))[0])
    return set()


def _record_full(org_raw: dict | None) -> bool:
    for entry in (org_raw or {}).get("metadata") or []:
        if entry.get("key") == RECORD_KEY:
            return any(i.startswith("+") for i in parse_record(entry.get("value"))[0])
    return False


# --------------------------------------------------------------------------- planning (pure)


def _target(desired: dict, org: str, sub: dict) -> str | None:
    """The org subscription (declared in orgs.yaml) that takes over ``sub``."""
    subs = {k: s for k, s in (desired.get("subscription") or {}).items()
            if s.get("external_customer_id") == org and s.get("ensure") != "absent"}
    if sub["external_id"] in subs:
        return sub["external_id"]
    same_plan = sorted(k for k, s in subs.items() if s.get("plan_code") == sub.get("plan_code"))
    return same_plan[0] if same_plan else None


def plan_moves(desired: dict, live: Any, ops: list[Operation], unmanaged: list[tuple[str, str]]
               ) -> tuple[list[Operation], list[tuple[str, str]]]:
    """Add the migration operations to ``ops`` (pure; returns new lists).

    An operation the planner made for a user's subscription (a ``customer_move`` update when the
    org declares the same external_id, or a prune delete) is replaced by the move; the user's
    subscription is no longer listed as unmanaged.
    """
    facts = live.facts
    migrate_from: dict[str, str] = dict(getattr(facts, "migrate_from", None) or {})
    user_subs: dict[str, list[dict]] = getattr(facts, "user_subscriptions", None) or {}
    ops = [_undeclared_move(op, migrate_from) for op in ops]
    if not migrate_from:
        return list(ops), list(unmanaged)
    raw_customers = (getattr(live, "raw", None) or {}).get("customer") or {}
    moves: list[Operation] = []
    moved_ids: set[str] = set()
    for user, org in sorted(migrate_from.items()):
        if user not in user_subs:
            continue  # no such customer in Lago: nothing to move, nothing to record
        org_raw = raw_customers.get(org)
        recorded = recorded_users(org_raw)
        after_record = sorted(recorded | {user})
        active = sorted(user_subs[user], key=lambda s: s["external_id"])
        for sub in active:
            moves.append(_move_op(desired, user, org, sub, after_record))
            moved_ids.add(sub["external_id"])
        if not active and user not in recorded and not _record_full(org_raw):
            moves.append(Operation(
                "migrate", "customer", user, ("customer_move",),
                (Change(f"metadata.{RECORD_KEY}", sorted(recorded) or None, after_record),),
                None, None,
                {"from_customer": user, "to_customer": org, "record_only": True,
                 "migrated_from": after_record},
                (f"customer:{org}",),
            ))
    if not moves:
        return list(ops), list(unmanaged)
    replaced = {f"subscription:{i}" for i in moved_ids} | {op.id for op in moves}
    kept = [op for op in ops if op.id not in replaced]
    present = {op.id for op in kept}
    out: list[Operation] = []
    for op in moves:
        deps = tuple(d for d in op.depends_on if d in present)
        out.append(Operation(op.action, op.kind, op.key, op.reasons, op.changes, op.before, op.after,
                             op.details, deps))
    # moves run after the org and its declared subscriptions exist (kinds order, then these)
    return kept + out, [u for u in unmanaged if not (u[0] == "subscription" and u[1] in moved_ids)]


def _undeclared_move(op: Operation, migrate_from: dict[str, str]) -> Operation:
    """A declared subscription whose live row belongs to another customer, without ``migrate_from``:
    Lago cannot move it in place (notes §3.9), so the plan says how to declare the move."""
    if "customer_move" not in op.reasons or op.kind != "subscription" or (op.details or {}).get("to_customer"):
        return op
    owner = (op.before or {}).get("external_customer_id")
    org = (op.after or {}).get("external_customer_id")
    if migrate_from.get(owner) == org:
        return op  # replaced by the move below
    details = {**(op.details or {}), "blocked": True,
               "locked_paths": ["external_customer_id"],
               "hint": f"a Lago subscription cannot change customer: add '{owner}' to migrate_from of org "
                       f"'{org}' in orgs.yaml to terminate it and start it again for the org"}
    return Operation(op.action, op.kind, op.key, op.reasons, op.changes, op.before, op.after, details,
                     op.depends_on)


def _move_op(desired: dict, user: str, org: str, sub: dict, after_record: list[str]) -> Operation:
    target = _target(desired, org, sub)
    details: dict[str, Any] = {
        "from_customer": user,
        "to_customer": org,
        "from_subscription": sub["external_id"],
        "to_subscription": target,
        "plan_code": sub.get("plan_code"),
        "on_termination_invoice": ON_TERMINATION_INVOICE,
        "on_termination_credit_note": ON_TERMINATION_CREDIT_NOTE,
        "migrated_from": after_record,
    }
    after = None
    changes = [Change("external_customer_id", user, org)]
    deps = [f"customer:{org}"]
    if target is None:
        details["blocked"] = True
        details["hint"] = (
            f"declare a subscription for org '{org}' in orgs.yaml on plan '{sub.get('plan_code')}' "
            f"(use external_id: {sub['external_id']} to keep the user's subscription id)"
        )
    else:
        after = dict(desired["subscription"][target])
        after.pop("ensure", None)
        details["plan_code"] = after.get("plan_code")
        if target != sub["external_id"]:
            changes.append(Change("external_id", sub["external_id"], target))
            deps.append(f"subscription:{target}")
        if after.get("plan_code") != sub.get("plan_code"):
            changes.append(Change("plan_code", sub.get("plan_code"), after.get("plan_code")))
            deps.append(f"plan:{after.get('plan_code')}")
    # the user's subscription is terminated (notes §4.6): a destructive step, so the reason says so
    # and apply needs --allow-destroy (issue 5), like every other termination
    return Operation("migrate", "subscription", sub["external_id"], ("customer_move", "terminates_subscriptions"),
                     tuple(changes), dict(sub), after, details, tuple(deps))


def describe_move(op: Operation) -> tuple[str, list[str]]:
    """(head, impacts) of a ``customer_move`` migrate operation, for ``Operation.describe``."""
    d = op.details or {}
    user, org = d.get("from_customer"), d.get("to_customer")
    record = f"records '{user}' in org '{org}' metadata {RECORD_KEY}"
    if d.get("record_only"):
        return f"record the move of customer '{user}' into org '{org}'", [record]
    head = f"move subscription '{op.key}' of user '{user}' to org '{org}'"
    if d.get("blocked"):
        return head, [f"org '{org}' declares no subscription to take it over: {d.get('hint')}"]
    return head, [
        f"terminates subscription '{d.get('from_subscription')}' of '{user}' now "
        f"(on_termination_invoice={d.get('on_termination_invoice')}, "
        f"on_termination_credit_note={d.get('on_termination_credit_note')})",
        f"starts subscription '{d.get('to_subscription')}' for '{org}' on plan '{d.get('plan_code')}'",
        record,
    ]


# --------------------------------------------------------------------------- applying


def _today() -> str:
    return _dt.date.today().isoformat()


async def execute_move(op: Operation, ctx: Any, *, today: str | None = None) -> str:
    """Carry out one migration operation through the applier's ``Context`` (idempotent).

    1. terminate the user's subscription if it is still active there;
    2. create the org's subscription unless it is already active for the org;
    3. add the user to the org's ``migrated_from`` record, keeping every other metadata entry by id.
    """
    from .applier import payloads as pl
    from .client import LagoNotFound
    from .errors import LagosyncError

    d = op.details or {}
    if d.get("blocked"):
        raise LagosyncError(f"{op.id}: {d.get('hint')}")
    c = ctx.client
    user, org = d["from_customer"], d["to_customer"]
    done: list[str] = []
    if not d.get("record_only"):
        src, dst = d["from_subscription"], d["to_subscription"]
        try:
            current = await c.get_subscription(src)
        except LagoNotFound:
            current = None
        if current is not None and current.get("external_customer_id") == user \
                and current.get("status", "active") == "active":
            path = pl.path_for("subscription", src)
            await ctx.write(op, "DELETE", path, c.request(
                "DELETE", path, params=[("on_termination_invoice", d["on_termination_invoice"]),
                                        ("on_termination_credit_note", d["on_termination_credit_note"])]))
            ctx.raw["subscription"].pop(src, None)
            done.append(f"terminated '{src}' of '{user}'")
        try:
            existing = await c.get_subscription(dst)
        except LagoNotFound:
            existing = None
        if existing is None or existing.get("external_customer_id") != org:
            after = dict(op.after or {})
            body = pl.subscription_payload(after, ctx.live_plan_code(after["plan_code"]))["subscription"]
            result = await ctx.write(op, "POST", "/subscriptions", c.create_subscription(body))
            if result is not None:
                ctx.raw["subscription"][dst] = result
            done.append(f"started '{dst}' for '{org}'")
    await _record(op, ctx, org, user, today or _today())
    return f"moved customer '{user}' to org '{org}'" + (f": {', '.join(done)}" if done else "")


async def _record(op: Operation, ctx: Any, org: str, user: str, today: str) -> None:
    c = ctx.client
    org_raw = await c.get_customer(org)
    ctx.raw["customer"][org] = org_raw
    recorded = recorded_users(org_raw)
    if user in recorded or _record_full(org_raw):
        return
    entries = []
    for m in org_raw.get("metadata") or []:
        if m.get("key") == RECORD_KEY:
            continue
        entry = {"key": m.get("key"), "value": m.get("value"),
                 "display_in_invoice": bool(m.get("display_in_invoice"))}
        entries.append({"id": m["lago_id"], **entry} if m.get("lago_id") else entry)
    old = next((m for m in org_raw.get("metadata") or [] if m.get("key") == RECORD_KEY), None)
    entry = {"key": RECORD_KEY, "value": format_record(sorted(recorded | {user}), today),
             "display_in_invoice": False}
    if old is not None and old.get("lago_id"):
        entry = {"id": old["lago_id"], **entry}
    entries.append(entry)
    # notes §4.5: entries not sent are deleted, so every existing one goes back with its id
    body = {"external_id": org, "metadata": entries}
    result = await ctx.write(op, "POST", "/customers", c.create_customer(body))
    if result is not None:
        ctx.raw["customer"][org] = result
