"""Staleness: has Lago changed, since a plan was made, under the objects the plan touches?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import model
from ..facts import LiveState, State
from ..kinds import KINDS, applied_coupon_key
from .ops import Fingerprints, Plan

# Lago's own fields of an applied coupon that its canonical form (declared overrides only) leaves
# out but a plan depends on: which row it is and what is left of it (lago-behaviour#applied-coupon-list).
# Terminating it loses the remaining amount, so a change of any of these makes a saved plan stale.
APPLIED_COUPON_STATE = ("lago_id", "status", "amount_cents", "amount_cents_remaining", "amount_currency",
                        "percentage_rate", "frequency", "frequency_duration", "frequency_duration_remaining",
                        "expiration_at", "terminated_at")


def _applied_rows(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``<org>/<coupon_code>`` -> the raw active applied coupon the live reader took (the newest)."""
    rows: dict[str, Mapping[str, Any]] = {}
    for a in sorted(raw.values(), key=lambda a: (str(a.get("created_at") or ""), str(a.get("lago_id") or ""))):
        org, code = a.get("external_customer_id"), a.get("coupon_code")
        if org and code and a.get("status", "active") == "active":
            rows[applied_coupon_key(str(org), str(code))] = a
    return rows


Digests = Mapping[str, Mapping[str, bytes]]  # kind -> key -> model.fingerprint_digest


def digests_of(desired: State) -> dict[str, dict[str, bytes]]:
    """The fingerprint digest of each desired object whose live fingerprint is its canonical form
    alone (every kind but the applied coupon): what ``live_fingerprints`` can take for a live
    object that is that desired object, computed where the workspace loads (``workflow.opened``)."""
    return {kind: {key: model.fingerprint_digest(obj) for key, obj in objs.items()}
            for kind, objs in desired.items() if kind != "applied_coupon"}


def live_fingerprints(live: LiveState, desired: State | None = None, digests: Digests | None = None) -> Fingerprints:
    """``kind:key`` -> ``model.fingerprint`` of what a plan read of each live object: its canonical
    form, and for an applied coupon also ``APPLIED_COUPON_STATE`` from Lago's answer. The one
    definition of a live object's fingerprint: ``make_plan`` records it, ``stale_objects`` and apply's
    saved-plan check compare against it. ``digests``: ``digests_of(desired)``; a live object that is
    its ``desired`` object (the same object: read_live's ``share``, in sync) takes its digest
    instead of being encoded again."""
    applied = _applied_rows(live.raw.get("applied_coupon") or {})
    by_kind: dict[str, dict[str, bytes | str]] = {}
    for kind in KINDS:
        objs = live.state.get(kind) or {}
        if not objs:
            continue
        out = by_kind[kind] = {}
        same = (desired or {}).get(kind) or {}
        known = (digests or {}).get(kind) or {}  # none for applied coupons (digests_of)
        for key, obj in sorted(objs.items()):
            if kind == "applied_coupon":
                row = applied.get(key) or {}
                out[key] = model.fingerprint_digest(
                    {"canonical": obj, "lago": {f: row.get(f) for f in APPLIED_COUPON_STATE}})
            elif key in known and same.get(key) is obj:
                out[key] = known[key]
            else:
                out[key] = model.fingerprint_digest(obj)
    return Fingerprints(by_kind)


def stale_objects(plan: Plan, live: LiveState) -> list[str]:
    """Messages, one per operation whose live object no longer matches what the plan read.

    ``live`` is a freshly read LiveState. Compared with ``plan.fingerprints`` (``live_fingerprints``):
    an object changed or deleted since, or an object to create that now exists.
    """
    now = live_fingerprints(live)
    out: list[str] = []
    for op in plan.operations:
        current = now.get(op.id)
        recorded = plan.fingerprints.get(op.id)
        if recorded is None:
            if current is not None:
                out.append(f"{op.id} now exists in Lago (the plan would create it)")
        elif current is None:
            out.append(f"{op.id} was deleted in Lago since the plan was made")
        elif current != recorded:
            out.append(f"{op.id} was changed in Lago since the plan was made")
    return out
