"""``make_plan``: the pure function from (desired State, LiveState) to a ``Plan``."""

from __future__ import annotations

from datetime import datetime, timezone

from .. import model
from ..facts import LiveState, State
from ..kinds import KINDS, RANK, references, version_code
from ..runtime import paused_gc
from .compare import COMPARE, Context, create_op, delete_op, is_absent, strip, view
from .impact import money_impact
from .migrations import plan_migrations
from .moves import plan_moves
from .ops import REPRICE_REASONS, Action, Change, Impact, Operation, Plan
from .premium import block_premium_inputs
from .stale import Digests, live_fingerprints
from .versions import Directives


@paused_gc()
def make_plan(
    desired: State,
    live: LiveState,
    *,
    prune: bool = False,
    environment: str = "local",
    lago_url: str | None = None,
    workspace_digest: str = "",
    created_at: str | None = None,
    directives: Directives | None = None,
    desired_digests: Digests | None = None,
) -> Plan:
    """Compare ``desired`` with ``live`` (a LiveState: ``state``, ``raw``, ``facts``) and return the plan.

    Pure: no I/O, inputs are not mutated. Objects in Lago that the workspace does not declare are
    listed as unmanaged; with ``prune`` those carrying the lagosync marker (``facts.managed``) are
    deleted instead. A declared object with ``ensure: absent`` is deleted when it exists.
    ``desired_digests``: ``stale.digests_of(desired)`` when it was computed already (with the workspace,
    ``live_fingerprints``).
    """
    ctx = Context(desired=desired, live=live.state, facts=live.facts,
                  yearly_amount_cents=model.yearly_amount_cents, raw=live.raw, directives=directives or Directives())
    managed = live.facts.managed
    ops: list[Operation] = []
    unchanged = 0
    unmanaged: list[tuple[str, str]] = []
    for kind in KINDS:
        want, have = ctx.d(kind), ctx.l(kind)
        for key in sorted(want):
            obj = want[key]
            current = have.get(key)
            if is_absent(obj):
                if current is not None:
                    ops.append(delete_op(ctx, kind, key, strip(current), pruned=False))
                else:
                    unchanged += 1
                continue
            if current is None:
                ops.append(create_op(ctx, kind, key, strip(obj)))
                continue
            # compared without copying (most objects are unchanged); an operation gets its own copies
            if COMPARE[kind](ctx, key, view(current), view(obj)) is None:
                unchanged += 1
                continue
            op = COMPARE[kind](ctx, key, strip(current), strip(obj))
            assert op is not None  # the same comparison, on copies
            ops.append(op)
        for key in sorted(set(have) - set(want)):
            if kind == "migration":
                continue  # the record of a migration removed from the workspace: it stopped, nothing to do
            # applied coupons of an org that declares `coupons:` are managed by that list: one it no
            # longer lists is terminated without --prune (live.py puts them in facts.managed)
            if (prune or kind == "applied_coupon") and key in (managed.get(kind) or set()):
                ops.append(delete_op(ctx, kind, key, strip(have[key]), pruned=True))
            else:
                unmanaged.append((kind, key))
    # the subscriptions of a customer this plan deletes are terminated by that delete (its blast
    # radius counts them): they are not "left alone", so not listed as unmanaged
    deleted_customers = {op.key for op in ops if op.kind == "customer" and op.action is Action.DELETE}
    unmanaged = [
        (kind, key) for kind, key in unmanaged
        if not (kind in ("subscription", "applied_coupon")
                and (ctx.l(kind).get(key) or {}).get("external_customer_id") in deleted_customers)
    ]
    ops = [block_premium_inputs(op, live.facts, environment) for op in ops]  # lago-behaviour#premium-ignored-fields
    ops += _coupons_following_versions(ctx, ops)
    if prune:
        ops += _unused_versions(ctx)
    moves, migrations = plan_migrations(ctx, ops)
    ops += moves
    ordered = order_operations(ops)
    # user-to-org moves (orgs.yaml migrate_from) come last, with their own depends_on
    ordered, unmanaged = plan_moves(desired, live, ordered, unmanaged)
    # the money impact of every operation, computed once: blast radius, gates and JSON read it
    impacts = [money_impact(ctx, op) for op in ordered]
    # a subscription this plan terminates pays nothing afterwards: its other changes are not an impact
    ended = {i.subscription for found in impacts for i in found
             if i.change == "termination" and i.when == "now" and i.subscription}
    ordered = [_with_impact(op, tuple(i for i in found if i.change == "termination" or i.subscription not in ended))
               for op, found in zip(ordered, impacts, strict=True)]
    fingerprints = live_fingerprints(live, desired, desired_digests)
    return Plan(
        environment=environment,
        lago_url=lago_url,
        workspace_digest=workspace_digest,
        created_at=created_at or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        operations=tuple(ordered),
        unmanaged=tuple(unmanaged),
        fingerprints=fingerprints,
        unchanged=unchanged,
        organization=live.facts.organization,
        migrations=tuple(migrations),
    )


def order_operations(ops: list[Operation]) -> list[Operation]:
    """Creates/updates/replaces/migrates in dependency order (``lagosync.kinds.KINDS``), then deletes
    in reverse order, each with ``depends_on``: the one place references become ordering.

    A non-delete op depends on the ops of the objects its desired state refers to. A delete op
    depends on the ops of the objects that referred to it (they must let go first) and on the
    deletes of the kinds after its own (subscriptions are terminated before their plan is deleted,
    plans before their metrics and taxes). The applier runs every delete after the other operations.
    """
    forward = sorted((o for o in ops if o.action is not Action.DELETE), key=lambda o: (RANK[o.kind], o.key))
    deletes = sorted((o for o in ops if o.action is Action.DELETE), key=lambda o: (-RANK[o.kind], o.key))
    ids = {o.id for o in forward}
    refs_before = {o.id: references(o.kind, o.before) for o in ops}
    out: list[Operation] = []
    for op in forward + deletes:
        if op.action is Action.DELETE:
            deps = {other for other, refs in refs_before.items() if op.id in refs and other != op.id}
            deps |= {d.id for d in deletes if RANK[d.kind] > RANK[op.kind]}
        else:
            deps = references(op.kind, op.after) & ids
        if op.kind == "applied_coupon" and op.action is not Action.DELETE:
            # lago-behaviour#applied-coupon-errors: Lago refuses a coupon whose plans overlap another active
            # one of the org (plan_overlapping), so the org's coupons this plan terminates go first
            org = op.key.partition("/")[0]
            deps |= {d.id for d in deletes if d.kind == "applied_coupon" and d.key.partition("/")[0] == org}
        deps.discard(op.id)
        out.append(op.with_(depends_on=tuple(sorted(deps))))
    return _topological(out)


def _topological(ops: list[Operation]) -> list[Operation]:
    """``ops`` reordered so each comes after its ``depends_on``, otherwise keeping their order."""
    by_id = {op.id: op for op in ops}
    placed: set[str] = set()
    out: list[Operation] = []

    def place(op: Operation, path: tuple[str, ...]) -> None:
        if op.id in placed or op.id in path:
            return
        for dep in op.depends_on:
            if dep in by_id:
                place(by_id[dep], (*path, op.id))
        placed.add(op.id)
        out.append(op)

    for op in ops:
        place(op, ())
    return out


def _with_impact(op: Operation, impact: tuple[Impact, ...]) -> Operation:
    """Attach the money impact; an operation that re-prices anyone says so in its reasons too."""
    reprices = [i for i in impact if i.change != "termination"]
    # a subscription's or an applied coupon's own reasons already say what happens to it
    if not reprices or any(r in REPRICE_REASONS for r in op.reasons) or op.kind in ("subscription", "applied_coupon"):
        return op.with_(impact=impact)
    n = len({i.subscription for i in reprices if i.subscription}) + sum(i.count for i in reprices if not i.subscription)
    details = {**op.details, "active_subscriptions": op.details.get("active_subscriptions", n)}
    return op.with_(impact=impact, reasons=(*op.reasons, "reprices_subscribers"), details=details)


def _coupons_following_versions(ctx: Context, ops: list[Operation]) -> list[Operation]:
    """A coupon limited to a plan that gets a new version, and not locked by an application, is sent
    again so it targets the new version too (Lago stores its plans by id); a locked one blocks the
    version instead (``compare._version_block``)."""
    versions = {op.key: op.version.code for op in ops
                if op.kind == "plan" and op.version is not None and not op.blocked}
    touched = {op.key for op in ops if op.kind == "coupon"}
    out: list[Operation] = []
    for code, coupon in sorted(ctx.d("coupon").items()):
        if code in touched or is_absent(coupon) or code in ctx.facts.coupons_applied or code not in ctx.l("coupon"):
            continue
        plans = list((coupon.get("applies_to") or {}).get("plan_codes") or ())
        moved = [p for p in plans if p in versions]
        if not moved:
            continue
        old = sorted(plans)
        new = sorted(versions.get(p, p) for p in plans)
        before = strip(ctx.l("coupon")[code])
        out.append(Operation(Action.UPDATE, "coupon", code, ("changed",),
                             (Change("applies_to.plan_codes", old, new),), before, strip(coupon),
                             {"follows_versions": moved}))
    return out


def _unused_versions(ctx: Context) -> list[Operation]:
    """``--prune``: an older version of a declared plan that no subscription is on (active or
    scheduled) any more is deleted, like any managed object the workspace no longer needs (the reader
    lists every subscription when pruning, so none is missed). Its key is how the state names it
    (``X__v<N>``); ``target_plan`` is its code in Lago."""
    out = []
    used = {str(s.get("plan_code")) for s in ctx.l("subscription").values()}
    used |= {str(code) for code in ctx.facts.pending_downgrades.values()}
    for plan, versions in sorted(ctx.facts.versions.items()):
        wanted = ctx.d("plan").get(plan)
        if wanted is None or is_absent(wanted):
            continue
        current = ctx.facts.plan_versions.get(plan, plan)
        for number, live_code in sorted(versions.items()):
            name = version_code(plan, number)
            if live_code == current or name in used or live_code in ctx.facts.unused_versions.values():
                continue
            out.append(Operation(Action.DELETE, "plan", name, ("removed", "unused_version"), (),
                                 None, None, {"version": number}, pruned=True, target_plan=live_code))
    return out
