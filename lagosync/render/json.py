"""JSON renderer: the plan document itself (format_version 1, see docs/plans.md)."""

from __future__ import annotations

import json as _json

from ..planner import Plan


def render_json(plan: Plan, *, warnings: list[str] | tuple = ()) -> str:
    """``plan.to_json()``; ``warnings`` (only when rendering a saved plan) go in a ``warnings`` key."""
    if not warnings:
        return plan.to_json()
    doc = plan.to_dict()
    doc["warnings"] = list(warnings)
    return _json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
