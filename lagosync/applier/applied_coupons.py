"""Applying and terminating an org's coupons (kind ``applied_coupon``, key ``<org>/<coupon_code>``).

Idempotent: every operation first lists the org's active applied coupons of that code
(lago-behaviour#applied-coupon-list), so a re-run after a crash neither applies a coupon twice nor fails on one already gone.
Lago has no update (lago-behaviour#applied-coupon-no-update): a replace terminates the active one and applies it again.
"""

from __future__ import annotations

from urllib.parse import quote

from ..errors import LagosyncError
from ..model import from_api
from . import payloads as pl


def _split(key: str) -> tuple[str, str]:
    org, _, code = key.partition("/")
    return org, code


def _path(org: str, lago_id: str) -> str:
    return f"/customers/{quote(org, safe='')}/applied_coupons/{quote(lago_id, safe='')}"


async def _active(ctx, org: str, code: str) -> list[dict]:
    found = await ctx.client.list_applied_coupons(org, status="active", coupon_codes=[code])
    return [a for a in found if a.get("coupon_code") == code and a.get("external_customer_id") == org
            and a.get("status", "active") == "active"]


def _matches(live: dict, after: dict) -> bool:
    """The live applied coupon already has the declared overrides (the rest defaults, lago-behaviour#applied-coupon-overrides-default)."""
    return from_api("applied_coupon", live, declared={k: v for k, v in after.items() if v is not None}) == after


async def _terminate(op, ctx, org: str, rows: list[dict]) -> int:
    for a in rows:
        await ctx.write(op, "DELETE", _path(org, a["lago_id"]),
                        ctx.client.delete_applied_coupon(org, a["lago_id"]))
    return len(rows)


async def _apply(op, ctx, after: dict) -> dict | None:
    body = pl.applied_coupon_payload(after)["applied_coupon"]
    return await ctx.write(op, "POST", "/applied_coupons", ctx.client.create_applied_coupon(body))


async def execute_applied_coupon(op, ctx) -> str:
    org, code = _split(op.key)
    if op.block is not None:
        raise LagosyncError(f"{op.id}: {op.block.hint}")
    active = await _active(ctx, org, code)
    if op.action == "delete":
        n = await _terminate(op, ctx, org, active)
        return f"terminated coupon '{code}' on org '{org}'" if n else f"coupon '{code}' on org '{org}' already gone"
    after = op.after or {}
    if op.action == "replace":
        # done when a previous, interrupted run already re-applied it with the new terms
        stale = [a for a in active if not _matches(a, after)]
        await _terminate(op, ctx, org, stale)
        if len(stale) < len(active):
            return f"coupon '{code}' on org '{org}' already re-applied"
        await _apply(op, ctx, after)
        return f"re-applied coupon '{code}' on org '{org}'"
    if active:
        return f"coupon '{code}' already applied to org '{org}'"
    await _apply(op, ctx, after)
    return f"applied coupon '{code}' to org '{org}'"
