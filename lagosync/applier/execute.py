"""Executing operations: dependency order, bounded concurrency, idempotent writes, verification.

Every operation is written so that running it again converges: objects keyed by code are created
only when absent from a fresh read (else updated), customers are upserted, subscriptions are
POSTed with their external_id (same plan = no-op, lago-behaviour#plan-change-upgrade-downgrade), deletes treat 404 as done.
After an uncertain failure (connection dropped, 5xx, a 422 ``value_already_exist`` from a write
whose first try had landed) the object is read again and the operation retried from that read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..client.errors import (
    LagoApiError,
    LagoConnectionError,
    LagoNotFound,
    LagoRateLimited,
    LagoServerError,
    LagoValidationError,
)
from ..errors import LagosyncError
from ..kinds import MIGRATION_RECORD_PREFIX, label, split_version
from ..model import timestamp_str
from ..planner.ops import Action, Operation
from . import payloads as pl
from .applied_coupons import execute_applied_coupon
from .context import Context, IgnoredByLago, Outcome
from .moves import execute_move

__all__ = ["ATTEMPTS", "HANDLERS", "Context", "IgnoredByLago", "Outcome", "dependencies", "execute_op", "run_all"]

ATTEMPTS = 3


# ------------------------------------------------------------------ dependencies


def dependencies(ops: Iterable[Operation]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(hard, soft) dependencies between operation ids.

    hard: the plan's ``depends_on`` (the planner derives references and order once); the operation
    is skipped when one of them did not succeed. soft: only ordering: every delete starts after the
    other operations have finished.
    """
    ops = list(ops)
    ids = {op.id for op in ops}
    hard: dict[str, set[str]] = {op.id: set() for op in ops}
    soft: dict[str, set[str]] = {op.id: set() for op in ops}
    non_delete = [op.id for op in ops if op.action is not Action.DELETE]
    for op in ops:
        hard[op.id] |= {d for d in op.depends_on if d in ids and d != op.id}
        if op.action is Action.DELETE:
            soft[op.id] |= set(non_delete)
    # a delete never waits on a non-delete that itself waits on that delete (no cycles)
    for op in ops:
        if op.action is Action.DELETE:
            soft[op.id] = {d for d in soft[op.id] if op.id not in hard[d]}
    return hard, soft


async def run_all(ops, ctx: Context, *, concurrency: int = 4,
                  on_done: Callable[[Any, Outcome], None] | None = None) -> dict[str, Outcome]:
    """Run operations: independent ones in parallel (bounded), dependants after their dependencies."""
    ops = list(ops)
    hard, soft = dependencies(ops)
    outcomes: dict[str, Outcome] = {}
    finished = {op.id: asyncio.Event() for op in ops}
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(op) -> None:
        try:
            for dep in hard[op.id] | soft[op.id]:
                await finished[dep].wait()
            failed = sorted(d for d in hard[op.id] if outcomes[d].status != "done")
            if failed:
                outcomes[op.id] = Outcome("skipped", f"depends on {', '.join(failed)}, which did not succeed")
            else:
                async with sem:
                    try:
                        msg = await execute_op(op, ctx)
                        outcomes[op.id] = Outcome("done", msg)
                    except LagosyncError as exc:
                        outcomes[op.id] = Outcome("failed", str(exc))
            if on_done:
                on_done(op, outcomes[op.id])
        finally:
            finished[op.id].set()

    _check_acyclic(ops, hard, soft)
    await asyncio.gather(*(one(op) for op in ops))
    return outcomes


def _check_acyclic(ops, hard, soft) -> None:
    graph = {op.id: hard[op.id] | soft[op.id] for op in ops}
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise LagosyncError("the plan's operations depend on each other in a cycle: "
                                + " -> ".join(stack + [n]))
        state[n] = 1
        for d in graph.get(n, ()):
            visit(d, stack + [n])
        state[n] = 2

    for op in ops:
        visit(op.id, [])


# ------------------------------------------------------------------ operations


def _retryable(exc: LagoApiError) -> bool:
    if isinstance(exc, (LagoConnectionError, LagoServerError, LagoRateLimited)):
        return True
    if isinstance(exc, LagoValidationError):
        codes = {c for cs in exc.field_codes.values() for c in cs}
        return "value_already_exist" in codes
    return False


async def execute_op(op, ctx: Context) -> str:
    for attempt in range(ATTEMPTS):
        try:
            return await _dispatch(op, ctx)
        except LagoApiError as exc:
            if not _retryable(exc) or attempt == ATTEMPTS - 1:
                raise
            await ctx.refresh(op.kind, op.key)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


async def _dispatch(op: Operation, ctx: Context) -> str:
    if op.blocked:
        # preflight refuses these before any write; never execute one that reached this far
        raise LagosyncError(f"{op.id}: {op.block.hint if op.block else 'Lago cannot do this'}")
    handler = HANDLERS.get((op.kind, op.action))
    if handler is None:
        raise LagosyncError(f"{op.id}: lagosync cannot {op.action} a {label(op.kind)}")
    return await handler(op, ctx)


async def _upsert_simple(op, ctx: Context) -> str:
    c = ctx.client
    kind, key, after = op.kind, op.key, op.after
    exists = ctx.raw[kind].get(key) is not None
    if kind == "tax":
        body = pl.tax_payload(after)["tax"]
        create, update = c.create_tax, c.update_tax
    elif kind == "billable_metric":
        body = pl.metric_payload(after, create=not exists)["billable_metric"]
        create, update = c.create_billable_metric, c.update_billable_metric
    elif kind == "add_on":
        body = pl.add_on_payload(after)["add_on"]
        create, update = c.create_add_on, c.update_add_on
    else:
        body = pl.coupon_payload(after, ctx.plan_codes, create=not exists)["coupon"]
        create, update = c.create_coupon, c.update_coupon
    base = pl.endpoint(kind)
    if exists:
        method, path = "PUT", pl.path_for(kind, key)
        result = await ctx.write(op, method, path, update(key, body))
    else:
        method, path = "POST", base
        result = await ctx.write(op, method, path, create(body))
    if result is not None:
        ctx.raw[kind][key] = result
        if kind == "billable_metric" and result.get("lago_id"):
            ctx.metric_ids[key] = result["lago_id"]
    if kind == "coupon" and after is not None:
        # the answer names plan versions by live code, as they were sent
        applies = after.get("applies_to") or {}
        sent = sorted(ctx.live_plan_code(c) for c in applies.get("plan_codes") or [])
        after = {**after, "applies_to": {**applies, "plan_codes": sent}}
    ctx.check(op, kind, result, after, method, path)
    return f"{'updated' if exists else 'created'} {label(kind)} '{key}'"


async def _upsert_plan(op, ctx: Context) -> str:
    c = ctx.client
    live = ctx.raw["plan"].get(op.key)
    if live is not None:
        code = live.get("code") or ctx.live_plan_code(op.key)
        body = pl.plan_payload(op.after, live_raw=live, metric_ids=ctx.metric_ids, code=code,
                               add_on_ids=_add_on_ids(ctx))["plan"]
        method, path = "PUT", pl.path_for("plan", code)
        result = await ctx.write(op, method, path, c.update_plan(code, body))
        verb = "updated"
    else:
        body = pl.plan_payload(op.after, live_raw=None, metric_ids=ctx.metric_ids, add_on_ids=_add_on_ids(ctx))["plan"]
        method, path = "POST", "/plans"
        result = await ctx.write(op, method, path, c.create_plan(body))
        verb = "created"
    if result is not None:
        ctx.raw["plan"][op.key] = result
        ctx.plan_codes[op.key] = result.get("code", op.key)
    ctx.check(op, "plan", _unsent_fixed_charges_dropped(result, body), op.after, method, path)
    return f"{verb} plan '{op.key}'"


def _add_on_ids(ctx: Context) -> dict[str, str]:
    """Add-on code -> lago_id, from the live read and the add-ons written earlier in this apply."""
    return {k: v["lago_id"] for k, v in (ctx.raw.get("add_on") or {}).items() if v.get("lago_id")}


def _unsent_fixed_charges_dropped(result: dict | None, body: dict) -> dict | None:
    """A PUT without ``fixed_charges`` leaves Lago's untouched (lago-behaviour#fixed-charge-reconcile); they are not managed
    then (lagosync.live did not read them), so they are not verified either."""
    if result is None or "fixed_charges" in body:
        return result
    return {k: v for k, v in result.items() if k != "fixed_charges"}


async def _replace_plan(op, ctx: Context) -> str:
    """ARCHITECTURE "Plan versions": create ``<code>__v<N>``, migrate, mark the old version."""
    c = ctx.client
    if op.version is None:
        raise LagosyncError(f"{op.id}: replace without a new plan version in the plan; run plan again")
    new_code = op.version.code
    old = ctx.raw["plan"].get(op.key)
    old_code = (old or {}).get("code") or ctx.live_plan_code(op.key)
    _, version = split_version(new_code)
    extra = {"lagosync_code": op.key, "lagosync_version": str(version)}
    # 1. the new version (adopted when a previous, interrupted apply already created it)
    try:
        existing_new = await c.get_plan(new_code)
    except LagoNotFound:
        existing_new = None
    body = pl.plan_payload(op.after, live_raw=existing_new, metric_ids=ctx.metric_ids, code=new_code,
                           extra_metadata=extra, add_on_ids=_add_on_ids(ctx))["plan"]
    if existing_new is None:
        method, path = "POST", "/plans"
        new_raw = await ctx.write(op, method, path, c.create_plan(body))
    else:
        method, path = "PUT", pl.path_for("plan", new_code)
        new_raw = await ctx.write(op, method, path, c.update_plan(new_code, body))
    ctx.check(op, "plan", _unsent_fixed_charges_dropped(new_raw, body), op.after, method, path)
    # 2. move the subscriptions listed by the planner (lago-behaviour#subscription-plan-change-name: same external_id, resend name)
    moved = 0
    for ext in op.version.migrate:
        sub = ctx.raw["subscription"].get(ext)
        if sub is None:
            try:
                sub = await c.get_subscription(ext)
            except LagoNotFound:
                continue  # terminated meanwhile: nothing to move
        if new_code in (sub.get("plan_code"), sub.get("next_plan_code")):
            continue
        sbody = {
            "external_customer_id": sub.get("external_customer_id"),
            "plan_code": new_code,
            "external_id": ext,
            "name": sub.get("name") or "",
        }
        result = await ctx.write(op, "POST", "/subscriptions", c.create_subscription(sbody))
        if result is None or new_code not in (result.get("plan_code"), result.get("next_plan_code")):
            raise IgnoredByLago(f"subscription '{ext}' was not moved to plan '{new_code}'")
        ctx.raw["subscription"][ext] = result
        moved += 1
    # 3. mark the old version (kept in Lago for its history)
    if old is not None and old_code != new_code:
        meta = dict(old.get("metadata") or {})
        if meta.get("lagosync_superseded_by") != new_code:
            meta["lagosync_superseded_by"] = new_code
            meta.setdefault(pl.MARKER_KEY, pl.MARKER_VALUE)
            # interval sent with bill_charges_monthly (lago-behaviour#plan-bill-charges-monthly); both are locked anyway
            mbody = {"interval": old.get("interval"), "bill_charges_monthly": old.get("bill_charges_monthly"),
                     "metadata": meta}
            await ctx.write(op, "PUT", pl.path_for("plan", old_code), c.update_plan(old_code, mbody))
    ctx.raw["plan"][op.key] = new_raw
    ctx.plan_codes[op.key] = new_code
    return f"replaced plan '{op.key}' by version '{new_code}', moved {moved} subscription(s)"


async def _upsert_customer(op, ctx: Context) -> str:
    live = ctx.raw["customer"].get(op.key)
    declared = (ctx.declared.get("customer") or {}).get(op.key)
    body = pl.customer_payload(op.after, live, declared)["customer"]
    result = await ctx.write(op, "POST", "/customers", ctx.client.create_customer(body))
    if result is not None:
        ctx.raw["customer"][op.key] = result
    ctx.check(op, "customer", result, op.after, "POST", "/customers")
    return f"{'updated' if live is not None else 'created'} customer '{op.key}'"


async def _upsert_subscription(op, ctx: Context) -> str:
    c = ctx.client
    after = op.after
    ext = op.key
    live = ctx.raw["subscription"].get(ext)
    # a version the plan names (a pin, a migration), else the declared plan's current version
    target = op.target_plan or ctx.live_plan_code(after["plan_code"])
    cancel = op.cancel_pending
    if live is not None and cancel and target == live.get("plan_code") and live.get("next_plan_code"):
        # back to the current plan: cancel the scheduled downgrade (lago-behaviour#pending-downgrade, DELETE ?status=pending)
        path = pl.path_for("subscription", ext) + "?status=pending"
        await ctx.write(op, "DELETE", path, c.terminate_subscription(ext, status="pending"))
        live = {**live, "next_plan_code": None}
        ctx.raw["subscription"][ext] = live
    if live is None or target not in (live.get("plan_code"), live.get("next_plan_code")):
        body = pl.subscription_payload(after, target)["subscription"]
        result = await ctx.write(op, "POST", "/subscriptions", c.create_subscription(body))
        verb = "created" if live is None else "moved"
    else:
        result = live
        verb = "updated"
    if result is not None and target in (result.get("plan_code"), result.get("next_plan_code")):
        want_name = after.get("name") if after.get("name") is not None else ""
        if (result.get("name") or "") != want_name:
            # same plan: POST returns the row unchanged (lago-behaviour#subscription-plan-change-name), so the name goes by PUT; with a
            # downgrade scheduled, the active row (what Lago shows now) and the pending row (what
            # takes over at period end) are both renamed (PUT ?status=pending selects it, lago-behaviour#subscription-plan-change-name)
            pending = result.get("next_plan_code") == target and result.get("plan_code") != target
            path = pl.path_for("subscription", ext)
            renamed = await ctx.write(op, "PUT", path, c.update_subscription(ext, {"name": want_name}))
            if pending:
                ppath = path + "?status=pending"
                await ctx.write(op, "PUT", ppath, c.update_subscription(ext, {"name": want_name}, status="pending"))
            result = renamed
    if result is not None and any(c.path == "ending_at" for c in op.changes) \
            and timestamp_str(result.get("ending_at")) != after.get("ending_at"):
        # lago-behaviour#subscription-update: PUT sets ending_at (null clears it); a plan change keeps the old row's
        result = await ctx.write(op, "PUT", pl.path_for("subscription", ext),
                                 c.update_subscription(ext, {"ending_at": after.get("ending_at")}))
    if result is not None:
        ctx.raw["subscription"][ext] = result
        ctx.check(op, "subscription", result, {**after, "plan_code": target}, "POST", "/subscriptions")
    if result is not None and result.get("next_plan_code") == target and result.get("plan_code") != target:
        return f"subscription '{ext}' moves to plan '{after['plan_code']}' at the end of its period"
    return f"{verb} subscription '{ext}'"


async def _delete(op, ctx: Context) -> str:
    c = ctx.client
    kind, key = op.kind, op.key
    if kind == "subscription":
        path = pl.path_for(kind, key)
        await ctx.write(op, "DELETE", path, c.terminate_subscription(key))
        ctx.raw[kind].pop(key, None)
        return f"terminated subscription '{key}'"
    # an older plan version is deleted by its own code (op.target_plan), a plan by its current version's
    ident = op.target_plan or (ctx.live_plan_code(key) if kind == "plan" else key)
    deleter = {
        "tax": c.delete_tax, "billable_metric": c.delete_billable_metric, "add_on": c.delete_add_on,
        "plan": c.delete_plan, "coupon": c.delete_coupon, "customer": c.delete_customer,
    }[kind]
    await ctx.write(op, "DELETE", pl.path_for(kind, ident), deleter(ident))
    ctx.raw[kind].pop(key, None)
    return f"deleted {label(kind)} '{key}'"


async def _record_migration(op: Operation, ctx: Context) -> str:
    """A migration's record: the day it was first applied, in its plan's metadata (its notice window
    counts from it; lagosync.planner.migrations). A record already there keeps its day."""
    c = ctx.client
    after = op.after or {}
    plan = str(after.get("plan_code"))
    code = ctx.live_plan_code(plan)
    raw = await c.get_plan(code)
    meta = dict(raw.get("metadata") or {})
    key = f"{MIGRATION_RECORD_PREFIX}{op.key}"
    if not meta.get(key):
        meta[key] = ctx.today()
        meta.setdefault(pl.MARKER_KEY, pl.MARKER_VALUE)
        # interval goes with bill_charges_monthly (lago-behaviour#plan-partial-update)
        body = {"interval": raw.get("interval"), "bill_charges_monthly": raw.get("bill_charges_monthly"),
                "metadata": meta}
        result = await ctx.write(op, "PUT", pl.path_for("plan", code), c.update_plan(code, body))
        if result is not None:
            ctx.raw["plan"][plan] = result
    return f"recorded migration '{op.key}' on plan '{plan}' ({meta[key]})"


Handler = Callable[[Operation, Context], Awaitable[str]]

# One handler per (kind, action): the applier executes what the plan says; reasons never decide.
HANDLERS: dict[tuple[str, Action], Handler] = {
    **{(kind, action): _upsert_simple
       for kind in ("tax", "billable_metric", "add_on", "coupon") for action in (Action.CREATE, Action.UPDATE)},
    ("plan", Action.CREATE): _upsert_plan,
    ("plan", Action.UPDATE): _upsert_plan,
    ("plan", Action.REPLACE): _replace_plan,
    ("customer", Action.CREATE): _upsert_customer,
    ("customer", Action.UPDATE): _upsert_customer,
    ("customer", Action.MOVE): execute_move,  # record-only: the user had nothing left to move
    ("subscription", Action.CREATE): _upsert_subscription,
    ("subscription", Action.UPDATE): _upsert_subscription,
    ("subscription", Action.MIGRATE): _upsert_subscription,
    ("subscription", Action.MOVE): execute_move,
    **{(kind, Action.DELETE): _delete
       for kind in ("tax", "billable_metric", "add_on", "plan", "coupon", "customer", "subscription")},
    **{("applied_coupon", action): execute_applied_coupon
       for action in (Action.CREATE, Action.REPLACE, Action.DELETE)},
    ("migration", Action.CREATE): _record_migration,
    ("migration", Action.UPDATE): _record_migration,
}
