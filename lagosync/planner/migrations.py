"""Price migrations: which subscriptions of a plan move to which version, and when (pure).

A migration (plans/*.yaml ``migrations``, planner.versions.Migration) selects the declared
subscriptions of a plan (on given versions, of given orgs, of orgs with given metadata, the first N),
and moves them to a version (default: the newest) ``now``, at the end of each one's billing period, or
on a date. Lago's own timing is honoured (lago-behaviour#plan-change-upgrade-downgrade): a move to a
cheaper version is a downgrade Lago makes at the period end itself, so lagosync sends it when the
migration allows it; a move Lago would make at once (an upgrade) is held by lagosync until the day it
is due, and sent by the apply that runs on or after that day. A notice window refuses moves that
would take effect sooner than ``notice_days`` after the migration was first applied, a day Lago keeps
in the plan's metadata (kind ``migration``, lago-behaviour#migration-record).

Progress needs no other record: a subscription on the target version (or with Lago's downgrade onto it
scheduled) has moved; what is left is due or waiting, and an interrupted apply is finished by the next
one. A migration removed from the workspace stops; moves made stay.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..kinds import split_version
from .compare import Context, lago_plan_code, strip, yearly
from .ops import Action, Change, MigrationStatus, Operation
from .versions import Migration, state_code, sub_version


def plan_migrations(ctx: Context, ops: list[Operation]) -> tuple[list[Operation], list[MigrationStatus]]:
    """The moves that are due today, and each migration's status."""
    moves: list[Operation] = []
    statuses: list[MigrationStatus] = []
    taken = {op.id for op in ops}
    for migration in ctx.directives.migrations:
        found, status = _one(ctx, migration, ops, taken)
        moves += found
        taken |= {op.id for op in found}
        statuses.append(status)
    return moves, statuses


def _one(ctx: Context, m: Migration, ops: list[Operation], taken: set[str]
         ) -> tuple[list[Operation], MigrationStatus]:
    today = ctx.directives.date()
    versions = dict(ctx.facts.versions.get(m.plan_code) or {})
    making = next((op for op in ops if op.kind == "plan" and op.key == m.plan_code and op.version is not None
                   and not op.blocked), None)
    if making is not None and making.version is not None:  # a version this plan creates counts as existing
        versions.setdefault(split_version(making.version.code)[1], making.version.code)
    if not versions:
        return [], MigrationStatus(m.code, m.plan_code, None, blocked=f"plan '{m.plan_code}' is not in Lago yet")
    target = m.to_version or max(versions)
    target_code = versions.get(target)
    if target_code is None:
        return [], MigrationStatus(m.code, m.plan_code, None, blocked=(
            f"plan '{m.plan_code}' has no version {target} in Lago (it has {', '.join(map(str, sorted(versions)))})"))
    first = _date(ctx.facts.migration_first_seen.get(m.code)) or today
    earliest = first + _dt.timedelta(days=m.notice_days)
    moved, due, waiting = [], [], []
    out: list[Operation] = []
    for key, sub, version in _selection(ctx, m, target):
        if version == target or ctx.facts.pending_downgrades.get(key) in (target_code, _state(ctx, m, target)):
            moved.append(key)
            continue
        reason, frm, to = _move(ctx, m, sub, target, making)
        effective, send_on = _timing(ctx, m, key, reason, today, first)
        if effective is not None and effective < earliest:
            waiting.append((key, earliest.isoformat(), f"notice window: {m.notice_days} days after "
                                                         f"{first.isoformat()}, when the migration was first applied"))
            continue
        if send_on is not None and send_on > today:
            waiting.append((key, send_on.isoformat(), "held until it is due" if reason == "upgrade_immediate"
                            else "sent on its date"))
            continue
        if f"subscription:{key}" in taken:
            waiting.append((key, today.isoformat(), "after its other change in this plan"))
            continue
        due.append(key)
        out.append(_move_op(ctx, m, key, sub, target_code, reason, frm, to, making))
    status = MigrationStatus(m.code, m.plan_code, target_code, tuple(moved), tuple(due), tuple(waiting))
    return out, status


def _state(ctx: Context, m: Migration, version: int) -> str:
    return state_code(ctx.facts, m.plan_code, version)


def _selection(ctx: Context, m: Migration, target: int) -> list[tuple[str, dict[str, Any], int]]:
    """The declared subscriptions the migration is about, by external id, its sample applied (moved ones
    count: the first N stays the same cohort run after run)."""
    out = []
    for key, sub in sorted(ctx.l("subscription").items()):
        base, version = sub_version(ctx.facts, str(sub.get("plan_code")))
        desired = ctx.d("subscription").get(key)
        if base != m.plan_code or desired is None or desired.get("ensure") == "absent":
            continue  # not this plan's, or the workspace does not manage it
        if desired.get("plan_code") != m.plan_code or key in ctx.directives.pins:
            continue  # the workspace puts it elsewhere: that wins
        if m.from_versions and version not in m.from_versions and version != target:
            continue
        org = str(sub.get("external_customer_id"))
        if m.orgs and org not in m.orgs:
            continue
        if m.metadata:
            meta = (ctx.l("customer").get(org) or {}).get("metadata") or {}
            if any((meta.get(k) or {}).get("value") != v for k, v in m.metadata.items()):
                continue
        out.append((key, sub, version))
    return out[:m.sample] if m.sample else out


def _move(ctx: Context, m: Migration, sub: dict[str, Any], target: int, making: Operation | None
          ) -> tuple[str, int | None, int | None]:
    """(upgrade_immediate | downgrade_at_period_end, from, to yearly amounts): Lago's rule."""
    frm = yearly(ctx, str(sub.get("plan_code")))
    if making is not None and making.version is not None and split_version(making.version.code)[1] == target:
        to: int | None = ctx.yearly_amount_cents(making.after or {})
    else:
        to = yearly(ctx, _state(ctx, m, target))
    if frm is None or to is None:
        return "upgrade_immediate", frm, to
    return ("upgrade_immediate" if to >= frm else "downgrade_at_period_end"), frm, to


def _timing(ctx: Context, m: Migration, key: str, reason: str, today: _dt.date, first: _dt.date
            ) -> tuple[_dt.date | None, _dt.date | None]:
    """(the first day on the new version, the day lagosync may send the move).

    "The end of each subscription's current billing period" is the end of the period in which the
    migration was first applied: once a later period has begun, that end has passed and the move is due."""
    raw = (ctx.raw.get("subscription") or {}).get(key) or {}
    start = _date(raw.get("current_billing_period_started_at"))
    end = _date(raw.get("current_billing_period_ending_at"))
    after_end = end + _dt.timedelta(days=1) if end else None
    if start is not None and start > first:
        after_end = start  # the period the migration started in is over
    on = _date(m.at)
    if reason == "downgrade_at_period_end":  # Lago makes it at the period end of the day it is sent
        send = on or today
        return (after_end if after_end and after_end > send else None), (on if on else None)
    if m.at == "now":
        return today, None
    if m.at == "period_end":
        return after_end, after_end  # held until the period has ended
    return on, on


def _move_op(ctx: Context, m: Migration, key: str, sub: dict[str, Any], target_code: str, reason: str,
             frm: int | None, to: int | None, making: Operation | None) -> Operation:
    desired = strip(ctx.d("subscription")[key])
    current = str(sub.get("plan_code"))
    latest = ctx.facts.plan_versions.get(m.plan_code)
    # the plan's current version (or the one this plan makes) is reached through its declared code
    target_plan = None if target_code in (latest, making.version.code if making and making.version else None) \
        else target_code
    return Operation(
        Action.MIGRATE, "subscription", key, (reason, "migration"),
        (Change("plan_code", lago_plan_code(ctx, current), target_code),),
        strip(sub), {**desired, "plan_code": m.plan_code},
        {"migration": m.code, "from_plan": lago_plan_code(ctx, current), "to_plan": target_code,
         "from_yearly_amount_cents": frm, "to_yearly_amount_cents": to},
        depends_on=(making.id,) if making is not None else (),
        target_plan=target_plan,
        migration=m.code,
    )


def _date(value: Any) -> _dt.date | None:
    if not value or value in ("now", "period_end"):
        return None
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
