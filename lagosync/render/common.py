"""Presentation helpers shared by the text and markdown renderers."""

from __future__ import annotations

import json
from typing import Any

from ..planner import Operation, Plan
from ..planner.diff import leaves
from ..planner.ops import KIND_LABELS

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "migrate": ">"}
NO_CHANGES = "No changes. Lago matches the workspace."


def value(v: Any) -> str:
    """A canonical value as JSON (strings quoted, so "5" and 5 never look alike)."""
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def title(op: Operation) -> str:
    label = f"{KIND_LABELS.get(op.kind, op.kind)} '{op.key}'"
    if op.kind == "applied_coupon" and op.blocked:
        return f"{label} cannot be applied"
    if op.kind == "applied_coupon" and op.action == "replace":
        return f"{label} terminated and applied again"  # lago-behaviour#applied-coupon-no-update
    if op.action == "replace" and op.blocked:
        return f"{label} cannot be updated in place"
    if op.action == "replace":
        return f"{label} -> new version '{op.details.get('new_code')}'"
    if op.action == "migrate" and "customer_move" in op.reasons and op.details.get("to_customer"):
        from ..migration import describe_move  # issue 6: a user-to-org move has no from/to plan

        return describe_move(op)[0]
    if op.action == "migrate":
        return f"{label}: plan '{op.details.get('from_plan')}' -> '{op.details.get('to_plan')}'"
    return label


def reasons(op: Operation) -> str:
    return ", ".join(op.reasons)


def body(op: Operation) -> list[tuple[str, str]]:
    """(sign, text) lines under an operation: what a create sets, what an update changes."""
    lines: list[tuple[str, str]] = []
    if op.action == "create":
        for path, v in leaves(op.after or {}):
            if v is not None and v != [] and v != {}:
                lines.append(("+", f"{path} = {value(v)}"))
        return lines
    if op.action == "delete":
        return lines
    for c in op.changes:
        if c.old is None and isinstance(c.new, (dict, list)) and c.new:
            lines.extend(("+", f"{p} = {value(v)}") for p, v in leaves(c.new, c.path) if v is not None)
        elif c.new is None and isinstance(c.old, dict) and c.old:
            lines.append(("-", f"{c.path} (removed)"))
        else:
            lines.append(("~", f"{c.path}: {value(c.old)} -> {value(c.new)}"))
    d = op.details
    if op.action == "replace" and not op.blocked and d.get("migrate"):
        lines.append((">", f"moves subscriptions: {', '.join(d['migrate'])}"))
    if op.blocked and d.get("hint"):
        lines.append(("!", f"to do: {d['hint']}"))
    return lines


def unmanaged_lines(plan: Plan) -> list[str]:
    return [f"{KIND_LABELS.get(k, k)} '{key}'" for k, key in plan.unmanaged]


def header(plan: Plan) -> str:
    where = f" ({plan.lago_url})" if plan.lago_url else ""
    return f"lagosync plan for environment '{plan.environment}'{where}"
