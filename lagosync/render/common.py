"""Presentation helpers shared by the text and markdown renderers."""

from __future__ import annotations

import functools
import json
from typing import Any

from .. import model
from ..kinds import describe
from ..planner import Action, Operation, Plan
from ..planner.diff import leaves

SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.REPLACE: "-/+", Action.MIGRATE: ">",
           Action.MOVE: ">"}
NO_CHANGES = "No changes. Lago matches the workspace."


def value(v: Any) -> str:
    """A canonical value as JSON (strings quoted, so "5" and 5 never look alike)."""
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def title(op: Operation) -> str:
    """An operation's heading: the same shapes as ``Operation.head`` (``Operation.form``), as titles."""
    label, form = op.label, op.form
    if form == "move":
        return op.head()  # a user-to-org move has no from/to plan
    titles = {
        "coupon_blocked": f"{label} cannot be applied",
        "coupon_again": f"{label} terminated and applied again",  # lago-behaviour#applied-coupon-no-update
        "blocked_create": f"{label} cannot be created as declared", "blocked": f"{label} cannot be updated in place",
        "version": f"{label} -> new version '{op.version.code if op.version else ''}'",
        "plan_change": f"{label}: plan '{op.details.get('from_plan')}' -> '{op.details.get('to_plan')}'",
    }
    return titles.get(form, label)


def reasons(op: Operation) -> str:
    return ", ".join(op.reasons)


@functools.lru_cache(maxsize=256)
def _minimal(kind: str, collection: str | None = None, charge_model: str | None = None) -> dict[str, Any]:
    """The canonical form of a minimal object of ``kind`` (nothing declared): Lago's defaults as
    ``lagosync.model`` fills them. With ``collection`` (a plan's ``charges``...), the minimal entry
    of that collection with the given ``charge_model`` (the properties' defaults depend on it)."""
    try:
        if collection is None:
            return model.from_yaml(kind, {})
        entry = {"charge_model": charge_model} if charge_model else {}
        items = model.from_yaml(kind, {collection: [entry]}).get(collection)
    except (model.ModelError, AttributeError, TypeError, KeyError, ValueError):
        return {}
    if isinstance(items, dict) and len(items) == 1:
        only = next(iter(items.values()))
        return only if isinstance(only, dict) else {}
    return {}


def _non_default(kind: str, obj: dict[str, Any], defaults: dict[str, Any], path: str = "",
                 collection: str | None = None) -> list[tuple[str, Any]]:
    """The leaves of ``obj`` whose value differs from ``defaults`` (the same shape). A list is one
    field: shown whole when it differs. The entries of a collection of sub-objects (a plan's
    charges, keyed by code) are compared with that collection's minimal entry."""
    out: list[tuple[str, Any]] = []
    for key in sorted(obj, key=str):
        v, sub = obj[key], f"{path}.{key}" if path else str(key)
        if v is None or v == [] or v == {}:
            continue
        d = defaults.get(key) if isinstance(defaults, dict) else None
        if (collection is None and not path and d == {} and isinstance(v, dict)
                and all(isinstance(e, dict) and "code" in e for e in v.values())):
            for code in sorted(v, key=str):
                entry = v[code]
                # the properties' defaults are those of the entry's charge model; the model's own is "standard"
                entry_defaults = {**_minimal(kind, str(key), entry.get("charge_model")),
                                  "charge_model": _minimal(kind, str(key)).get("charge_model")}
                out.extend(_non_default(kind, entry, entry_defaults, f"{sub}.{code}", collection=str(key)))
            continue
        if isinstance(v, dict) and isinstance(d, dict):
            out.extend(_non_default(kind, v, d, sub, collection))
        elif v != d:
            out.extend((p, x) for p, x in leaves(v, sub) if x is not None)
    return out


def created_fields(op: Operation, verbose: bool = False) -> list[tuple[str, Any]]:
    """What a create shows: every field the object sets apart from Lago's defaults for its kind
    (``model.from_yaml`` of a minimal object), or with ``verbose`` every field that has a value."""
    after = op.after or {}
    if verbose:
        return [(p, v) for p, v in leaves(after) if v is not None and v != [] and v != {}]
    return _non_default(op.kind, after, _minimal(op.kind))


def body(op: Operation, verbose: bool = False) -> list[tuple[str, str]]:
    """(sign, text) lines under an operation: what a create sets (its non-default fields; all with
    ``verbose``), what an update changes."""
    lines: list[tuple[str, str]] = []
    if op.action is Action.CREATE:
        for path, v in created_fields(op, verbose):
            lines.append(("+", f"{path} = {value(v)}"))
        if op.block is not None:
            lines.append(("!", f"to do: {op.block.hint}"))
        return lines
    if op.action is Action.DELETE:
        return lines
    for c in op.changes:
        if c.old is None and isinstance(c.new, (dict, list)) and c.new:
            lines.extend(("+", f"{p} = {value(v)}") for p, v in leaves(c.new, c.path) if v is not None)
        elif c.new is None and isinstance(c.old, dict) and c.old:
            lines.append(("-", f"{c.path} (removed)"))
        else:
            lines.append(("~", f"{c.path}: {value(c.old)} -> {value(c.new)}"))
    if op.version is not None and op.version.migrate:
        lines.append((">", f"moves subscriptions: {', '.join(op.version.migrate)}"))
    if op.block is not None:
        lines.append(("!", f"to do: {op.block.hint}"))
    return lines


MAX_IMPACT_LINES = 20  # per operation, in text and markdown; the JSON plan lists them all


def impact_header(plan: Plan) -> str:
    n = plan.impacted_subscriptions()
    return f"Money impact: {n} subscription{' pays' if n == 1 else 's pay'} differently"


def impact_lines(plan: Plan) -> list[str]:
    """One line per subscription that pays differently (``Plan.money_impact``), at most
    ``MAX_IMPACT_LINES`` per operation, then how many more."""
    lines: list[str] = []
    for op in plan.operations:
        items = [i.sentence() for i in op.impact]
        if len(items) > MAX_IMPACT_LINES:
            rest = len(items) - MAX_IMPACT_LINES
            items = items[:MAX_IMPACT_LINES] + [
                f"... and {rest} more subscription(s) from {op.label} (lagosync show --format json lists all)"]
        lines.extend(items)
    return lines


def migration_lines(plan: Plan) -> list[str]:
    """One line per price migration, then its waiting subscriptions (at most ``MAX_IMPACT_LINES``)."""
    lines: list[str] = []
    for m in plan.migrations:
        lines.append(m.line())
        waiting = [f"  {sub}: from {when} ({why})" for sub, when, why in m.waiting]
        if len(waiting) > MAX_IMPACT_LINES:
            waiting = waiting[:MAX_IMPACT_LINES] + [f"  ... and {len(m.waiting) - MAX_IMPACT_LINES} more"]
        lines.extend(waiting)
    return lines


def unmanaged_lines(plan: Plan) -> list[str]:
    return [describe(k, key) for k, key in plan.unmanaged]


def header(plan: Plan) -> str:
    where = f" ({plan.lago_url})" if plan.lago_url else ""
    return f"lagosync plan for environment '{plan.environment}'{where}"
