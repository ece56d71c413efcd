"""After each write, compare Lago's answer with what was asked.

Lago answers 200 while silently ignoring some fields: metric fields once a plan uses the metric
(lago-behaviour#metric-locked-fields), plan fields once the plan has had a subscription (lago-behaviour#plan-locked-fields), coupon fields once
applied (lago-behaviour#coupon-locked-fields), premium-only fields without a license (lago-behaviour#premium-ignored-fields). The response is turned
into the canonical model and compared field by field with the desired canonical object; every
difference is reported as an error naming the field, what was sent and what Lago kept. The
comparison is the planner's (``lagosync.planner.diff``), so ``True`` and ``1`` differ here as they
do in a plan.
"""

from __future__ import annotations

from typing import Any

from .. import model
from ..planner.diff import diff


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def differences(path: str, want: Any, got: Any) -> list[str]:
    """``want`` (sent, canonical) against ``got`` (Lago's answer, canonical), one line per field.

    A key missing on one side counts as ``None`` (Lago omits empty fields), so only changes with
    a value on at least one side are reported.
    """
    return [
        f"{c.path} (sent {_short(c.old)}, Lago has {_short(c.new)})"
        for c in diff(want, got, path)
        if c.old is not None or c.new is not None
    ]


def verify_response(kind: str, response: dict, after: dict, *, declared: dict | None = None) -> list[str]:
    """Differences between the canonical form of ``response`` and ``after`` (desired, canonical)."""
    if kind == "subscription":
        return _verify_subscription(response, after)
    got = model.from_api(kind, response, declared=declared) if kind == "customer" else model.from_api(kind, response)
    problems: list[str] = []
    for key, want in after.items():
        if kind == "plan" and key == "code":
            continue  # a plan version has code <code>__v<N> (ARCHITECTURE "Plan versions")
        problems.extend(differences(key, want, got.get(key)))
    return problems


def _verify_subscription(response: dict, after: dict) -> list[str]:
    problems: list[str] = []
    want_plan = after.get("plan_code")
    plan_now = response.get("plan_code")
    if want_plan not in (plan_now, response.get("next_plan_code")):
        problems.append(f"plan_code (sent {want_plan!r}, Lago has {plan_now!r})")
    if plan_now == want_plan:  # a scheduled downgrade keeps the current row (and its name) until then
        want_name = after.get("name") if after.get("name") is not None else ""
        if (response.get("name") or "") != want_name:
            problems.append(f"name (sent {want_name!r}, Lago has {response.get('name')!r})")
    if after.get("external_customer_id") not in (None, response.get("external_customer_id")):
        problems.append(
            f"external_customer_id (sent {after.get('external_customer_id')!r}, "
            f"Lago has {response.get('external_customer_id')!r})"
        )
    if after.get("ending_at") is not None and model.timestamp_str(response.get("ending_at")) != after["ending_at"]:
        problems.append(f"ending_at (sent {after['ending_at']!r}, Lago has {response.get('ending_at')!r})")
    if after.get("billing_time") and response.get("billing_time") not in (None, after.get("billing_time")):
        problems.append(f"billing_time (sent {after['billing_time']!r}, Lago has {response.get('billing_time')!r})")
    return problems
