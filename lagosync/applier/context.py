"""The applier's run-time context: the client, the fresh raw objects, the audit log, one audited write.

Shared by every operation handler (``execute``, ``moves``, ``applied_coupons``), so it lives apart from
the scheduler that calls them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..client.errors import LagoApiError, LagoNotFound
from ..errors import LagosyncError
from ..facts import LiveState
from ..kinds import KINDS
from .audit import AuditLog


class IgnoredByLago(LagosyncError):
    """Lago answered 200 but did not apply some fields (lago-behaviour#metric-locked-fields,
    lago-behaviour#plan-locked-fields, lago-behaviour#coupon-locked-fields, lago-behaviour#premium-ignored-fields)."""


@dataclass
class Outcome:
    status: str  # done | failed | skipped
    message: str = ""


@dataclass
class Context:
    client: Any
    audit: AuditLog
    raw: dict[str, dict[str, dict]]          # kind -> key -> raw API object (fresh read, kept current)
    plan_codes: dict[str, str]               # declared plan code -> live code of the current version
    metric_ids: dict[str, str] = field(default_factory=dict)
    verify: Callable[[str, dict, dict], list[str]] | None = None   # (kind, response, after) -> problems
    declared: dict[str, dict[str, dict]] = field(default_factory=dict)  # workspace objects as written

    def today(self) -> str:
        """Lago's date (the emulator's clock for `local`), YYYY-MM-DD."""
        now = getattr(self.client, "lago_now", None)
        moment = now() if callable(now) else _dt.datetime.now(_dt.timezone.utc)
        return str(moment.date().isoformat())

    @classmethod
    def from_live(cls, client: Any, audit: AuditLog, live: LiveState, verify: Any = None,
                  declared: dict[str, dict[str, dict]] | None = None) -> Context:
        raw = {k: dict(live.raw.get(k) or {}) for k in KINDS}
        plan_codes = {key: (obj or {}).get("code", key) for key, obj in raw["plan"].items()}
        plan_codes.update(live.facts.plan_versions)
        metric_ids = {k: str(v["lago_id"]) for k, v in raw["billable_metric"].items() if v.get("lago_id")}
        return cls(client, audit, raw, plan_codes, metric_ids, verify, dict(declared or {}))

    def live_plan_code(self, code: str) -> str:
        return self.plan_codes.get(code, code)

    # -------------------------------------------------------------- one audited write
    async def write(self, op, method: str, path: str, call) -> Any:
        try:
            result = await call
        except LagoApiError as exc:
            if method == "DELETE" and isinstance(exc, LagoNotFound):
                self.audit.write(operation=op.action, obj=op.id, method=method, path=path,
                                 status=exc.status, outcome="ok", error="already absent")
                return None
            self.audit.write(operation=op.action, obj=op.id, method=method, path=path,
                             status=exc.status, outcome="error", error=str(exc))
            raise
        self.audit.write(operation=op.action, obj=op.id, method=method, path=path,
                         status=200, outcome="ok")  # Lago answers every successful write 200 (lago-behaviour#writes-return-200)
        return result

    def check(self, op, kind: str, response: dict | None, after: dict, method: str, path: str) -> None:
        """Compare Lago's answer with what was asked; a silently ignored field is an error."""
        if self.verify is None or response is None:
            return
        problems = self.verify(kind, response, after)
        if problems:
            msg = "Lago accepted the write but did not apply: " + "; ".join(problems)
            self.audit.write(operation=op.action, obj=op.id, method=method, path=path,
                             status=200, outcome="ignored", error=msg)
            raise IgnoredByLago(msg)

    async def refresh(self, kind: str, key: str) -> None:
        """Re-read one object after an uncertain failure."""
        c = self.client
        if kind == "applied_coupon":
            return  # its operation lists the org's applied coupons itself (applied_coupons.py)
        try:
            if kind == "plan":
                obj = await c.get_plan(self.live_plan_code(key))
            elif kind == "subscription":
                obj = await c.get_subscription(key)
            else:
                getter = {
                    "tax": c.get_tax, "billable_metric": c.get_billable_metric, "add_on": c.get_add_on,
                    "coupon": c.get_coupon, "customer": c.get_customer,
                }[kind]
                obj = await getter(key)
        except LagoNotFound:
            self.raw[kind].pop(key, None)
            return
        self.raw[kind][key] = obj
        if kind == "billable_metric" and obj.get("lago_id"):
            self.metric_ids[key] = obj["lago_id"]
