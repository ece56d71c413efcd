"""Subscriptions (lago-behaviour#subscription-response, lago-behaviour#plan-change-upgrade-downgrade) and the
passing of time (lago-behaviour#emulator-clock)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from ..common import Request, iso
from ..errors import forbidden, method_not_allowed, not_found, unprocessable
from ..rules import YEARLY_FACTOR, Errors, as_bool, blank
from .base import CUSTOMER, PLAN, SUB, _parse_time, _public
from .customers import CustomersMixin
from .plans import PlansMixin


def _add_months(d: date, months: int, day: int | None = None) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = day or d.day
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


class SubscriptionsMixin(PlansMixin, CustomersMixin):
    # ======== subscriptions (lago-behaviour#subscription-response, lago-behaviour#plan-change-upgrade-downgrade)
    def _period(self, s: dict, plan: dict, now: datetime) -> tuple[datetime, datetime]:
        """Current billing period [start, end] for calendar/anniversary billing."""
        interval = plan["interval"]
        today = now.date()
        anchor = (_parse_time(s["subscription_at"]) or now).date()
        months = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}.get(interval)
        if interval == "weekly":
            if s["billing_time"] == "anniversary":
                delta = (today - anchor).days % 7
                start = today - timedelta(days=delta)
            else:
                start = today - timedelta(days=today.weekday())
            end = start + timedelta(days=6)
        elif s["billing_time"] == "anniversary":
            assert months is not None  # the plan's interval is one of PLAN_INTERVALS
            total = (today.year - anchor.year) * 12 + today.month - anchor.month
            k = total // months
            if _add_months(anchor, k * months, anchor.day) > today:
                k -= 1  # this month's anniversary has not come yet: the period began a cycle earlier
            start = _add_months(anchor, k * months, anchor.day)
            end = _add_months(anchor, (k + 1) * months, anchor.day) - timedelta(days=1)
        else:
            assert months is not None  # the plan's interval is one of PLAN_INTERVALS
            first_month = ((today.month - 1) // months) * months + 1
            start = date(today.year, first_month, 1)
            end = _add_months(start, months) - timedelta(days=1)
        start_dt = datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc)
        end_dt = datetime.combine(end, datetime.max.time().replace(microsecond=0), tzinfo=timezone.utc)
        return start_dt, end_dt

    def _next_sub(self, s: dict) -> dict | None:
        for n in self.store.find(SUB, "_previous_id", s["lago_id"]):
            if n["status"] in ("pending", "active"):
                return n
        return None

    def _sub_out(self, s: dict, single: bool = True) -> dict:
        plan = self._ref(PLAN, s["_plan_id"])
        prev = self.store.get(SUB, s["_previous_id"]) if s.get("_previous_id") else None
        prev_plan = self.store.get(PLAN, prev["_plan_id"]) if prev else None
        nxt = self._next_sub(s)
        next_plan = self.store.get(PLAN, nxt["_plan_id"]) if nxt else None
        out = _public(s)
        out["plan_code"] = plan["code"]
        out["plan_amount_cents"] = plan["amount_cents"]
        out["plan_amount_currency"] = plan["amount_currency"]
        out["previous_plan_code"] = prev_plan["code"] if prev_plan else None
        out["next_plan_code"] = next_plan["code"] if next_plan else None
        out["downgrade_plan_date"] = None
        out["current_billing_period_started_at"] = None
        out["current_billing_period_ending_at"] = None
        if s["status"] == "active":
            start, end = self._period(s, plan, self.emu.now())
            out["current_billing_period_started_at"] = iso(start)
            out["current_billing_period_ending_at"] = iso(end)
            if nxt is not None and nxt["status"] == "pending":
                # lago-behaviour#pending-downgrade: downgrade happens at the end of the billing period it was scheduled in
                at = _parse_time(nxt.get("_downgrade_at")) or end + timedelta(seconds=1)
                out["downgrade_plan_date"] = at.date().isoformat()
        out["payment_method"] = {"payment_method_id": None, "payment_method_type": "provider"}
        out["activation_rules"] = []
        if single:
            # lago-behaviour#subscription-response: single-object responses embed the plan; list items do not
            out["plan"] = self._plan_out(plan)
            out["entitlements"] = []
            out["applicable_usage_thresholds"] = []
            out["applied_invoice_custom_sections"] = []
        return out

    def _sub_rows(self, ext: str, status: str | None) -> dict:
        status = status or "active"
        rows = [s for s in self.store.find(SUB, "external_id", ext) if s["status"] == status]
        if not rows:
            raise not_found("subscription")
        rows.sort(key=lambda s: s["_created"], reverse=True)
        return rows[0]

    def _sub_list(self, req: Request, customer_id: str | None = None):
        # lago-behaviour#subscription-list-status: only active unless status[] is given
        statuses = req.qlist("status") or ["active"]
        ext_cust = req.q("external_customer_id")
        plan_code = req.q("plan_code")
        ext_id = req.q("external_id")
        key = (SUB, tuple(statuses), ext_cust, plan_code, ext_id, customer_id)
        rows = self._listed(key, lambda: self._sub_rows_listed(statuses, ext_cust, plan_code, ext_id, customer_id))
        # a listed subscription's billing period is that of the current day (_period)
        return self.emu.paginate(req, rows, "subscriptions", lambda s: self._sub_out(s, single=False),
                                 kept=(key, self.emu.now().date()))

    def _sub_rows_listed(self, statuses: list[str], ext_cust: str | None, plan_code: str | None, ext_id: str | None,
                         customer_id: str | None) -> list[dict]:
        rows = []
        source: Iterable[dict]
        if customer_id:
            source = self.store.find(SUB, "_customer_id", customer_id)
        elif ext_id is not None:
            source = self.store.find(SUB, "external_id", ext_id)
        elif ext_cust is not None:
            source = [s for c in self.store.find(CUSTOMER, "external_id", ext_cust)
                      for s in self.store.find(SUB, "_customer_id", c["lago_id"])]
        else:
            source = self.store.all(SUB)
        for s in source:
            if s["status"] not in statuses:
                continue
            if customer_id and s["_customer_id"] != customer_id:
                continue
            if ext_cust is not None and s["external_customer_id"] != ext_cust:
                continue
            if ext_id is not None and s["external_id"] != ext_id:
                continue
            if plan_code is not None:
                plan = self._ref(PLAN, s["_plan_id"])
                if plan["code"] != plan_code:
                    continue
            rows.append(s)
        # lago-behaviour#list-order: subscriptions ordered by subscription_at DESC NULLS LAST, created_at DESC
        rows.sort(key=lambda s: s["_created"], reverse=True)
        rows.sort(key=lambda s: s["subscription_at"] or "", reverse=True)
        return rows

    def sub_list(self, req: Request):
        return self._sub_list(req)

    def sub_get(self, req: Request):
        # lago-behaviour#subscription-list-status: GET defaults to status=active; ?status= selects another
        return {"subscription": self._sub_out(self._sub_rows(req.params["external_id"], req.q("status")))}

    @staticmethod
    def _yearly(plan: dict) -> int:
        # lago-behaviour#plan-yearly-amount: base fee normalised to a year, charges ignored
        return plan["amount_cents"] * YEARLY_FACTOR[plan["interval"]]

    def _check_sub_currency(self, customer: dict, plan: dict, errors: Errors) -> None:
        """lago-behaviour#customer-currency [≤v1.51.0]: customer currency set from the first plan; other currency → 422."""
        if customer["currency"] is None:
            return
        if customer["currency"] != plan["amount_currency"]:
            errors.add("currency", "currencies_does_not_match")

    def sub_create(self, req: Request):
        p = req.root("subscription")
        errors = Errors()
        ext_cust = p.get("external_customer_id")
        if blank(ext_cust):
            errors.add("external_customer_id", "value_is_mandatory")
        errors.raise_if_any()
        if "plan_overrides" in p:
            raise forbidden("feature_unavailable")  # lago-behaviour#plan-overrides-premium: premium only
        plan = self._find_code(PLAN, p.get("plan_code"))  # includes pending_deletion plans
        if plan is None:
            raise not_found("plan")
        ext_id = p.get("external_id")
        if blank(ext_id):
            errors.add("external_id", "value_is_mandatory")
        billing_time = p.get("billing_time", "calendar") or "calendar"
        if billing_time not in ("calendar", "anniversary"):
            errors.add("billing_time", "value_is_invalid")
        errors.raise_if_any()
        ext_cust, ext_id = str(ext_cust), str(ext_id)
        now = self.emu.now()
        # lago-behaviour#customer-implicit-create: POST /subscriptions creates the customer implicitly
        customer = self._find_customer(ext_cust)
        if customer is None:
            customer = self._new_customer(ext_cust)
        # lago-behaviour#subscription-current-lookup: current subscription searched within the customer: active, or pending in future
        current = None
        same_ext = sorted(self.store.find(SUB, "external_id", ext_id), key=lambda s: s["_created"])
        for s in same_ext:
            if s["_customer_id"] == customer["lago_id"]:
                if s["status"] == "active":
                    current = s
                    break
                if s["status"] == "pending" and not s.get("_previous_id"):
                    current = s
        name = str(p.get("name") or "").strip()
        if current is None:
            if any(s["status"] == "active" for s in same_ext):
                errors.add("external_id", "value_already_exist")
                errors.raise_if_any()
            sub_at = _parse_time(p.get("subscription_at")) if p.get("subscription_at") else now
            if p.get("subscription_at") and sub_at is None:
                errors.add("subscription_at", "invalid_date")
            ending_at = self._ending_at(p, sub_at or now, now, errors)
            self._check_sub_currency(customer, plan, errors)
            errors.raise_if_any()
            self._set_customer_currency(customer, plan)
            assert sub_at is not None  # else invalid_date was raised above
            future = sub_at > now
            s = self._new_sub(customer, plan, ext_id, name or None, billing_time, sub_at, p, ending_at)
            if future:
                s["status"] = "pending"
                self._note_due(s["subscription_at"])  # activated when it starts (see tick)
            else:
                s.update(status="active", started_at=iso(sub_at), activated_at=iso(now))
            return {"subscription": self._sub_out(s)}
        cur_plan = self._ref(PLAN, current["_plan_id"])
        if cur_plan["lago_id"] == plan["lago_id"]:
            # lago-behaviour#plan-change-upgrade-downgrade: same plan → existing subscription returned unchanged
            return {"subscription": self._sub_out(current)}
        self._check_sub_currency(customer, plan, errors)
        errors.raise_if_any()
        if current["status"] == "pending":
            # lago-behaviour#subscription-pending-swap: a pending (future) subscription swaps plan and name in place
            cur = self.store.edit(SUB, current["lago_id"])
            cur["_plan_id"], cur["name"] = plan["lago_id"], name
            return {"subscription": self._sub_out(cur)}
        if self._yearly(plan) >= self._yearly(cur_plan):
            ending_at = self._ending_at(p, now, now, errors) if "ending_at" in p else current["ending_at"]
            errors.raise_if_any()
            return {"subscription": self._sub_out(self._upgrade_now(current, plan, name, p, ending_at))}
        # lago-behaviour#pending-downgrade: pending next subscription; earlier pending one canceled
        self._cancel_next(current)
        new = self._new_sub(customer, plan, ext_id, name, current["billing_time"],
                            _parse_time(current["subscription_at"]), p, current["ending_at"])
        _, end = self._period(current, cur_plan, now)
        downgrade_at = iso(end + timedelta(seconds=1))  # next period start
        new.update(status="pending", _previous_id=current["lago_id"], _downgrade_at=downgrade_at)
        self._note_due(downgrade_at)
        return {"subscription": self._sub_out(self._ref(SUB, current["lago_id"]))}

    # -- the passing of time (Lago's clock/billing jobs, lago-behaviour#emulator-clock) --
    def _note_due(self, when) -> None:
        """Remember the earliest moment a subscription changes by itself (start, end, downgrade)."""
        at = _parse_time(when) if isinstance(when, str) else when
        if at is not None and (self._due is None or at < self._due):
            self._due = at

    def tick(self) -> bool:
        """Apply the subscription transitions Lago's clock jobs make once their time has come.

        Run by the core before each authenticated request (its own unit of work); cheap when nothing is
        due. lago-behaviour#emulator-clock: a pending subscription starting in the future is activated at subscription_at;
        a scheduled downgrade is executed at the end of the billing period (old row terminated, pending
        row active); an active subscription with ending_at in the past is terminated (its pending
        successor canceled). Returns True if anything changed.
        """
        now = self.emu.now()
        if not self._due_scan and (self._due is None or self._due > now):
            return False
        self._due_scan, self._due = False, None
        changed = False
        for s in list(self.store.all(SUB)):
            if s["status"] == "pending" and not s.get("_previous_id"):
                at = _parse_time(s["subscription_at"])
                if at is not None and at <= now:
                    self.store.edit(SUB, s["lago_id"]).update(
                        status="active", started_at=s["subscription_at"], activated_at=iso(now))
                    changed = True
                else:
                    self._note_due(at)
        for s in list(self.store.all(SUB)):
            if s["status"] == "pending" and s.get("_previous_id"):
                at = _parse_time(s.get("_downgrade_at"))
                prev = self.store.get(SUB, s["_previous_id"])
                if at is None or prev is None or prev["status"] != "active":
                    continue
                if at <= now:
                    self.store.edit(SUB, prev["lago_id"]).update(status="terminated", terminated_at=iso(at))
                    self.store.edit(SUB, s["lago_id"]).update(status="active", started_at=iso(at),
                                                              activated_at=iso(now))
                    changed = True
                else:
                    self._note_due(at)
        for s in list(self.store.all(SUB)):
            if s["status"] == "active" and s.get("ending_at"):
                at = _parse_time(s["ending_at"])
                if at is not None and at <= now:
                    self._cancel_next(s)
                    self.store.edit(SUB, s["lago_id"]).update(status="terminated", terminated_at=s["ending_at"])
                    changed = True
                else:
                    self._note_due(at)
        return changed

    def _cancel_next(self, current: dict) -> None:
        """Cancel the pending next (downgrade) subscription of ``current``, if any (lago-behaviour#pending-downgrade)."""
        pending = self._next_sub(current)
        if pending is not None and pending["status"] == "pending":
            self.store.edit(SUB, pending["lago_id"]).update(status="canceled", canceled_at=iso(self.emu.now()))

    def _upgrade_now(self, current: dict, plan: dict, name, p: dict, ending_at) -> dict:
        """lago-behaviour#subscription-upgrade: a new active row now (same external_id; subscription_at and billing_time
        copied from the old row, the request's are ignored); any pending downgrade canceled; the old
        row terminated. Returns the new row."""
        now_iso = iso(self.emu.now())
        self._cancel_next(current)
        old = self.store.edit(SUB, current["lago_id"])
        old.update(status="terminated", terminated_at=now_iso)
        customer = self.store.get(CUSTOMER, current["_customer_id"])
        new = self._new_sub(customer, plan, current["external_id"], name, current["billing_time"],
                            _parse_time(current["subscription_at"]), p, ending_at)
        new.update(status="active", started_at=now_iso, activated_at=now_iso, _previous_id=old["lago_id"])
        return new

    def _reevaluate_plan_changes(self, plan: dict) -> None:
        """lago-behaviour#plan-amount-change-reevaluates: an amount_cents change re-evaluates scheduled plan
        changes (update_service.rb:332-364).

        1. active subscriptions on this plan whose pending downgrade target is now *more* expensive
           (yearly amount, lago-behaviour#plan-yearly-amount) get that pending subscription canceled;
        2. pending (downgrade) subscriptions *targeting* this plan whose new yearly amount is >= the
           current plan's are executed now as upgrades (new active row, name from the pending row).
        """
        yearly = self._yearly(plan)
        for s in self.store.find(SUB, "_plan_id", plan["lago_id"]):
            if s["status"] == "active":
                nxt = self._next_sub(s)
                if nxt is not None and nxt["status"] == "pending" and nxt["_plan_id"] != plan["lago_id"]:
                    if self._yearly(self._ref(PLAN, nxt["_plan_id"])) > yearly:
                        self._cancel_next(s)
        for s in self.store.find(SUB, "_plan_id", plan["lago_id"]):
            if s["status"] != "pending" or not s.get("_previous_id"):
                continue
            current = self.store.get(SUB, s["_previous_id"])
            if current is None or current["status"] != "active":
                continue
            if yearly >= self._yearly(self._ref(PLAN, current["_plan_id"])):
                self._upgrade_now(current, plan, s["name"], {}, current["ending_at"])

    def _set_customer_currency(self, customer: dict, plan: dict) -> None:
        if customer["currency"] is None:
            self._edit(CUSTOMER, customer)["currency"] = plan["amount_currency"]

    def _ending_at(self, p: dict, start: datetime, now: datetime, errors: Errors) -> str | None:
        if p.get("ending_at") is None:
            return None
        at = _parse_time(p["ending_at"])
        # lago-behaviour#subscription-ending-at: ending_at must be after today and after subscription_at
        if at is None or at <= now or at <= start:
            errors.add("ending_at", "invalid_date")
            return None
        return iso(at)

    def _new_sub(self, customer, plan, ext_id, name, billing_time, sub_at, p, ending_at) -> dict:
        s = {
            "lago_id": self.emu.new_id(), "external_id": ext_id, "lago_customer_id": customer["lago_id"],
            "external_customer_id": customer["external_id"], "name": name, "status": "pending",
            "billing_time": billing_time, "subscription_at": iso(sub_at), "started_at": None,
            "trial_ended_at": None, "ending_at": ending_at, "terminated_at": None, "canceled_at": None,
            "created_at": iso(self.emu.now()), "on_termination_credit_note": None,
            "on_termination_invoice": "generate",
            "progressive_billing_disabled": bool(as_bool(p.get("progressive_billing_disabled"), False)),
            "consolidate_invoice": bool(as_bool(p.get("consolidate_invoice"), True)),
            "cancellation_reason": None, "activated_at": None,
            "_customer_id": customer["lago_id"], "_plan_id": plan["lago_id"], "_previous_id": None,
        }
        if plan["pay_in_advance"]:
            s["on_termination_credit_note"] = "credit"
        self._note_due(ending_at)
        return self._new(SUB, s)

    def _sub_to_update(self, ext: str, status: str | None) -> dict:
        """lago-behaviour#subscription-update: the only row with this external_id, whatever its status; among
        several, the newest (subscription_at) with ?status=pending / incomplete, else the active one."""
        rows = sorted(self.store.find(SUB, "external_id", ext), key=lambda s: s["_created"], reverse=True)
        rows.sort(key=lambda s: s["subscription_at"] or "", reverse=True)
        if len(rows) > 1:
            wanted = status if status in ("pending", "incomplete") else "active"
            rows = [s for s in rows if s["status"] == wanted]
        if not rows:
            raise not_found("subscription")
        if rows[0]["status"] == "incomplete":
            raise method_not_allowed("subscription_incomplete")
        return rows[0]

    def sub_update(self, req: Request):
        p = req.root("subscription")
        s = self.store.edit(SUB, self._sub_to_update(req.params["external_id"], req.q("status"))["lago_id"])
        errors = Errors()
        now = self.emu.now()
        if "name" in p:
            s["name"] = p["name"]
        if "ending_at" in p:
            start = _parse_time(s["subscription_at"]) or now
            s["ending_at"] = self._ending_at(p, start, now, errors)  # null clears
            self._note_due(s["ending_at"])
        if "subscription_at" in p and s["status"] == "pending":
            at = _parse_time(p["subscription_at"])
            if at is None:
                errors.add("subscription_at", "invalid_date")
            else:
                s["subscription_at"] = iso(at)
                self._note_due(s["subscription_at"])
        for key in ("progressive_billing_disabled", "consolidate_invoice"):
            if key in p:
                s[key] = bool(as_bool(p[key], s[key]))
        if "on_termination_invoice" in p:
            if p["on_termination_invoice"] not in ("generate", "skip"):
                errors.add("on_termination_invoice", "value_is_invalid")
            else:
                s["on_termination_invoice"] = p["on_termination_invoice"]
        if "on_termination_credit_note" in p:
            if p["on_termination_credit_note"] not in (None, "credit", "skip", "refund", "offset"):
                errors.add("on_termination_credit_note", "value_is_invalid")
            elif self._ref(PLAN, s["_plan_id"])["pay_in_advance"]:
                s["on_termination_credit_note"] = p["on_termination_credit_note"]
        if "plan_overrides" in p:
            raise forbidden("feature_unavailable")
        errors.raise_if_any()
        return {"subscription": self._sub_out(s)}

    def sub_terminate(self, req: Request):
        # lago-behaviour#subscription-terminate: DELETE targets the active row, or the pending row with ?status=pending
        status = req.q("status") or "active"
        if status not in ("active", "pending"):
            raise not_found("subscription")
        s = self.store.edit(SUB, self._sub_rows(req.params["external_id"], status)["lago_id"])
        now = iso(self.emu.now())
        inv = req.q("on_termination_invoice")
        if inv is not None:
            if inv not in ("generate", "skip"):
                raise unprocessable({"on_termination_invoice": ["value_is_invalid"]})
            s["on_termination_invoice"] = inv
        if s["status"] == "pending":
            s.update(status="canceled", canceled_at=now)
        else:
            nxt = self._next_sub(s)
            if nxt is not None and nxt["status"] == "pending":
                self.store.edit(SUB, nxt["lago_id"]).update(status="canceled", canceled_at=now)
            s.update(status="terminated", terminated_at=now)
        return {"subscription": self._sub_out(s)}

    # -- GET /customers/{external_customer_id}/subscriptions --
    def customer_subscriptions(self, req: Request):
        c = self._customer_by_ext(req.params["external_customer_id"])
        return self._sub_list(req, customer_id=c["lago_id"])
