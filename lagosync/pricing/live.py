"""``lagosync test -e ENV``: the workspace's pricing cases run live against a (sandbox) Lago.

For each case: a throwaway customer and subscription on the case's plan *as it is in that Lago*, the
case's usage sent as events (``POST /events/batch``), Lago's current usage read back
(lago-behaviour#current-usage) and compared with the case's per-charge expectations, then the
subscription terminated and the customer deleted, whatever happened (docs/pricing-tests.md).

Current usage holds charges only, so only ``charges`` / ``charges_cents`` are checked live; the other
expectations (subscription fee, totals, coupons, taxes) stay checked offline. Units become events by
the metric's aggregation (lago-behaviour#current-usage-aggregation): ``count_agg`` one event per unit,
``unique_count_agg`` one per distinct value, ``sum_agg`` one per listed event value (else one carrying
the units), ``max_agg`` and ``latest_agg`` one carrying the units. Lago ingests events asynchronously,
so the usage is read again until it has counted every event sent, within ``settle_seconds``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import LagosyncError
from ..workspace.pricing_tests import CaseUsage, PricingCase
from .money import subunit_to_unit, units_text

__all__ = ["LiveResult", "live_events", "run_case_live"]

MAX_EVENTS = 1000  # per case: a live case is a smoke check, not a load test
BATCH = 100  # Lago's batch endpoint takes at most 100 events


@dataclass
class LiveResult:
    case: PricingCase
    checked: int = 0  # expectations compared with Lago
    failures: tuple[str, ...] = ()
    error: str | None = None  # the live run failed (no such plan in Lago, a Lago error)
    skipped: str | None = None  # why the case is not one a live run can send (not a failure)
    leftover: str | None = None  # what could not be removed, to remove by hand

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None and self.leftover is None


class LiveCaseError(Exception):
    """A case that cannot be run live (its usage cannot be sent as events, its plan is not in Lago)."""


def _plain(value: Decimal) -> str:
    """A unit count as an event property: plain decimal notation ("1500000", "0.5")."""
    return f"{value.normalize():f}" if value != 0 else "0"


def _properties(field: str | None, value: Any, entry: CaseUsage) -> dict[str, Any]:
    props: dict[str, Any] = dict(entry.values)  # filter values and pricing-group keys route the event
    if field:
        props[field] = value
    return props


def live_events(metric: Mapping[str, Any], entries: list[CaseUsage]) -> list[dict[str, Any]]:
    """The events (without ids) that make Lago aggregate ``entries`` of ``metric``; LiveCaseError if
    they cannot be sent (an aggregation lagosync does not send, fractional counts, too many events)."""
    kind = metric.get("aggregation_type")
    field = str(metric.get("field_name") or "") or None
    code = str(metric["code"])
    out: list[dict[str, Any]] = []
    for entry in entries:
        def one(value: Any, precise: Decimal | None = None, entry: CaseUsage = entry) -> dict[str, Any]:
            event: dict[str, Any] = {"code": code, "properties": _properties(field, value, entry)}
            if precise is not None:
                event["precise_total_amount_cents"] = str(precise)
            return event

        if kind in ("count_agg", "unique_count_agg"):
            if entry.units != entry.units.to_integral_value():
                raise LiveCaseError(f"metric '{code}' counts events: {entry.units} units is not a whole number")
            if entry.units > MAX_EVENTS:
                raise LiveCaseError(f"metric '{code}': {entry.units} units would be {entry.units} events, more than "
                                    f"a live case sends ({MAX_EVENTS}); lower the units for a live run")
            n = int(entry.units)
            out += [one(f"lagosync-test-{i}" if kind == "unique_count_agg" else 1) for i in range(n)]
        elif kind == "sum_agg":
            values = entry.event_values if entry.event_values else (entry.units,)
            out += [one(_plain(v), entry.precise_total_amount_cents if i == 0 else None)
                    for i, v in enumerate(values)]
        elif kind in ("max_agg", "latest_agg"):
            out.append(one(_plain(entry.units)))
        else:
            raise LiveCaseError(f"metric '{code}' aggregates by {kind}, which a live run does not send as events")
        if len(out) > MAX_EVENTS:
            raise LiveCaseError(f"the case's usage is more than {MAX_EVENTS} events; lower it for a live run")
    return out


def _expected_cents(case: PricingCase, currency: str) -> list[tuple[str, Decimal, str]]:
    """(charge code, expected cents, as the case wrote it) of the expectations Lago's current usage answers."""
    out = []
    for what, code, expected in case.expect:
        if what not in ("charges", "charges_cents") or code is None:
            continue
        if isinstance(expected, int):
            out.append((code, Decimal(expected), f"{expected} cents"))
        else:  # exact: "0.005" USD is half a cent, which no integer amount equals
            out.append((code, expected * subunit_to_unit(currency), f"{expected:f} {currency}"))
    return out


async def _usage(client: Any, customer: str, subscription: str, sent: int, settle_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + settle_seconds
    while True:
        usage: dict[str, Any] = await client.current_usage(customer, subscription)
        counted = sum(int(c.get("events_count") or 0) for c in usage.get("charges_usage") or [])
        if counted >= sent or time.monotonic() >= deadline:
            return usage
        await asyncio.sleep(0.5)


async def run_case_live(client: Any, case: PricingCase, metrics: Mapping[str, Mapping[str, Any]], *,
                        settle_seconds: float = 30.0) -> LiveResult:
    """Run one case against Lago through ``client`` (a LagoClient); everything it creates is removed."""
    plan = await client.get_plan_or_none(case.plan)
    if plan is None:
        return LiveResult(case, error=f"plan '{case.plan}' is not in this Lago; apply the workspace to it first")
    currency = str(plan.get("amount_currency") or "")
    expected = _expected_cents(case, currency)
    if not expected:
        return LiveResult(case, skipped="no charges or charges_cents expectation: a live run compares Lago's "
                                        "current usage, which holds charges only")
    try:
        events = [e for code, entries in case.usage.items() for e in live_events(metrics[code], entries)]
    except LiveCaseError as exc:
        return LiveResult(case, skipped=str(exc))
    token = secrets.token_hex(4)
    customer, subscription = f"lagosync-test-{token}", f"lagosync-test-{token}-sub"
    result = LiveResult(case)
    created: list[str] = []
    try:
        await client.create_customer({"external_id": customer, "name": f"lagosync test: {case.name}"[:255],
                                      "currency": currency})
        created.append("customer")
        await client.create_subscription({"external_customer_id": customer, "external_id": subscription,
                                          "plan_code": case.plan, "billing_time": "calendar"})
        created.append("subscription")
        for start in range(0, len(events), BATCH):
            batch = [{**e, "transaction_id": f"{subscription}-{start + i}", "external_subscription_id": subscription}
                     for i, e in enumerate(events[start:start + BATCH])]
            await client.send_events(batch)
        usage = await _usage(client, customer, subscription, len(events), settle_seconds)
        got = {str((c.get("charge") or {}).get("code")): int(c.get("amount_cents") or 0)
               for c in usage.get("charges_usage") or []}
        failures = []
        for code, cents, shown in expected:
            if got.get(code) != cents:
                computed = "no such charge" if code not in got else \
                    (f"{got[code]} cents" if shown.endswith("cents") else f"{units_text(got[code], currency)} {currency}")
                failures.append(f"live: expected charge {code} {shown}, Lago's current usage says {computed}")
        result.checked, result.failures = len(expected), tuple(failures)
    except LagosyncError as exc:  # the Lago error, worded by the client; the cleanup below still runs
        result.error = str(exc)
    finally:
        left = []
        if "subscription" in created:
            try:
                # no termination invoice for a throwaway subscription (lago-behaviour#subscription-termination-options)
                await client.terminate_subscription(subscription, on_termination_invoice="skip")
            except LagosyncError:
                left.append(f"subscription '{subscription}'")
        if "customer" in created:
            try:
                await client.delete_customer(customer)
            except LagosyncError:
                left.append(f"customer '{customer}'")
        if left:
            result.leftover = "could not remove " + ", ".join(left) + "; remove them in Lago by hand"
    return result
