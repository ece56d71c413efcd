"""``make_plan``: the pure function from (desired State, LiveState) to a ``Plan``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .compare import COMPARE, KINDS, Context, create_op, delete_op, is_absent, references, strip
from .ops import Operation, Plan


def _model():
    from .. import model  # the canonical model owns fingerprint() and yearly_amount_cents()

    return model


def make_plan(
    desired: dict[str, dict[str, dict]],
    live: Any,
    *,
    prune: bool = False,
    environment: str = "local",
    lago_url: str | None = None,
    workspace_digest: str = "",
    created_at: str | None = None,
) -> Plan:
    """Compare ``desired`` with ``live`` (a LiveState: ``state``, ``raw``, ``facts``) and return the plan.

    Pure: no I/O, inputs are not mutated. Objects in Lago that the workspace does not declare are
    listed as unmanaged; with ``prune`` those carrying the lagosync marker (``facts.managed``) are
    deleted instead. A declared object with ``ensure: absent`` is deleted when it exists.
    """
    model = _model()
    ctx = Context(desired=desired, live=live.state, facts=live.facts,
                  yearly_amount_cents=model.yearly_amount_cents)
    managed = getattr(live.facts, "managed", None) or {}
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
            op = COMPARE[kind](ctx, key, strip(current), strip(obj))
            if op is None:
                unchanged += 1
            else:
                ops.append(op)
        for key in sorted(set(have) - set(want)):
            # applied coupons of an org that declares `coupons:` are managed by that list: one it no
            # longer lists is terminated without --prune (live.py puts them in facts.managed)
            if (prune or kind == "applied_coupon") and key in (managed.get(kind) or set()):
                ops.append(delete_op(ctx, kind, key, strip(have[key]), pruned=True))
            else:
                unmanaged.append((kind, key))
    # the subscriptions of a customer this plan deletes are terminated by that delete (its blast
    # radius counts them): they are not "left alone", so not listed as unmanaged
    deleted_customers = {op.key for op in ops if op.kind == "customer" and op.action == "delete"}
    unmanaged = [
        (kind, key) for kind, key in unmanaged
        if not (kind in ("subscription", "applied_coupon")
                and (ctx.l(kind).get(key) or {}).get("external_customer_id") in deleted_customers)
    ]
    ordered = order_operations(ops)
    # issue 6: user-to-org moves (orgs.yaml migrate_from) come last, with their own depends_on
    from ..migration import plan_moves

    ordered, unmanaged = plan_moves(desired, live, ordered, unmanaged)
    fingerprints = {
        f"{kind}:{key}": model.fingerprint(obj)
        for kind in KINDS
        for key, obj in sorted(ctx.l(kind).items())
    }
    return Plan(
        environment=environment,
        lago_url=lago_url,
        workspace_digest=workspace_digest,
        created_at=created_at or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        operations=tuple(ordered),
        unmanaged=tuple(unmanaged),
        fingerprints=fingerprints,
        unchanged=unchanged,
    )


def order_operations(ops: list[Operation]) -> list[Operation]:
    """Creates/updates/replaces/migrates in dependency order (taxes, metrics, add-ons, plans, coupons,
    customers, subscriptions), then deletes in reverse order; ``depends_on`` filled from references.

    A non-delete op depends on the ops of the objects its desired state refers to; a delete op depends
    on the ops of the objects that referred to it (they must let go first).
    """
    rank = {k: i for i, k in enumerate(KINDS)}
    forward = sorted((o for o in ops if o.action != "delete"), key=lambda o: (rank[o.kind], o.key))
    deletes = sorted((o for o in ops if o.action == "delete"), key=lambda o: (-rank[o.kind], o.key))
    ids = {o.id for o in forward}
    refs_before = {o.id: references(o.kind, o.before) for o in ops}
    out: list[Operation] = []
    for op in forward + deletes:
        if op.action == "delete":
            deps = {other for other, refs in refs_before.items() if op.id in refs and other != op.id}
        else:
            deps = references(op.kind, op.after) & ids
        deps.discard(op.id)
        out.append(_with_deps(op, tuple(sorted(deps))))
    return out


def _with_deps(op: Operation, deps: tuple[str, ...]) -> Operation:
    return Operation(op.action, op.kind, op.key, op.reasons, op.changes, op.before, op.after,
                     op.details, deps)
