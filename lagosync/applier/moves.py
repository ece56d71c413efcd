"""Executing a user-to-org ``move`` (planned by ``lagosync.planner.moves``).

Every step reads Lago first, so an interrupted apply is finished by running apply again, without
duplicates: terminate the user's subscription if it is still active there, create the org's
subscription unless it is already active for the org, add the user to the org's ``migrated_from``
record (keeping every other metadata entry by id).
"""

from __future__ import annotations

import datetime as _dt

from ..client import LagoNotFound
from ..errors import LagosyncError
from ..model import MIGRATED_FROM_KEY as RECORD_KEY
from ..planner.moves import format_record, record_full, recorded_users
from ..planner.ops import Operation
from . import payloads as pl
from .context import Context


def _today() -> str:
    return _dt.date.today().isoformat()


async def execute_move(op: Operation, ctx: Context, *, today: str | None = None) -> str:
    """Carry out one ``move`` operation through the applier's ``Context`` (idempotent)."""
    m = op.move
    if m is None:
        raise LagosyncError(f"{op.id}: a move without its move data; run lagosync plan again")
    c = ctx.client
    user, org = m.from_customer, m.to_customer
    done: list[str] = []
    if not m.record_only:
        src, dst = m.from_subscription, m.to_subscription
        if src is None or dst is None:
            raise LagosyncError(f"{op.id}: the move names no subscription to take over; run lagosync plan again")
        try:
            current = await c.get_subscription(src)
        except LagoNotFound:
            current = None
        if current is not None and current.get("external_customer_id") == user \
                and current.get("status", "active") == "active":
            path = pl.path_for("subscription", src)
            await ctx.write(op, "DELETE", path, c.request(
                "DELETE", path, params=[("on_termination_invoice", m.on_termination_invoice),
                                        ("on_termination_credit_note", m.on_termination_credit_note)]))
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


async def _record(op: Operation, ctx: Context, org: str, user: str, today: str) -> None:
    c = ctx.client
    org_raw = await c.get_customer(org)
    ctx.raw["customer"][org] = org_raw
    recorded = recorded_users(org_raw)
    if user in recorded or record_full(org_raw):
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
    # lago-behaviour#customer-metadata-reconcile: entries not sent are deleted, so every existing one goes back with its id
    body = {"external_id": org, "metadata": entries}
    result = await ctx.write(op, "POST", "/customers", c.create_customer(body))
    if result is not None:
        ctx.raw["customer"][org] = result
