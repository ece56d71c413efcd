"""Terraform-like text renderer: blast radius first, then each operation with field diffs, totals last."""

from __future__ import annotations

from ..planner import Plan
from .common import (
    NO_CHANGES,
    SYMBOLS,
    body,
    header,
    impact_header,
    impact_lines,
    migration_lines,
    reasons,
    title,
    unmanaged_lines,
)

_RESET = "\033[0m"
_COLORS = {
    "+": "\033[32m",  # green
    "~": "\033[33m",  # yellow
    "-": "\033[31m",  # red
    "-/+": "\033[35m",  # magenta
    ">": "\033[36m",  # cyan
    "!": "\033[1;31m",  # bold red
}
_BOLD = "\033[1m"


def render_text(plan: Plan, *, color: bool = False, warnings: list[str] | tuple = (), verbose: bool = False) -> str:
    """The plan for a terminal; a create shows the fields it sets apart from the defaults (all with ``verbose``)."""
    def paint(sign: str, text: str) -> str:
        code = _COLORS.get(sign)
        return f"{code}{text}{_RESET}" if color and code else text

    def bold(text: str) -> str:
        return f"{_BOLD}{text}{_RESET}" if color else text

    out: list[str] = []
    for w in warnings:
        out.append(paint("!", f"Warning: {w}"))
    if warnings:
        out.append("")
    out.append(bold(header(plan)))
    out.append("")
    money = impact_lines(plan)
    if money:
        out.append(bold(f"{impact_header(plan)}:"))
        out.extend(paint("!", f"  $ {line}") for line in money)
        out.append("")
    if plan.usage_impact is not None:
        out.append(bold(f"{plan.usage_impact.header()}:"))
        out.extend(paint("!", f"  {line}") if line.startswith("!") else f"  {line}"
                   for line in plan.usage_impact.lines())
        out.append("")
    if plan.price_impact:
        out.append(bold("Price impact (the workspace's usage profiles, one billing period):"))
        out.extend(f"  = {p.line()}" for p in plan.price_impact)
        out.append("")
    if plan.policies:
        out.append(bold("Policies:"))
        out.extend(paint("!" if not p.ok else "+", f"  {'!' if not p.ok else 'ok'} {p.line()}") for p in plan.policies)
        out.append("")
    impacts = plan.impacts()
    if impacts:
        out.append(bold("Blast radius:"))
        out.extend(paint("!", f"  ! {line}") for line in impacts)
        out.append("")
    if plan.operations:
        out.append("lagosync will perform these actions:")
        out.append("")
    for op in plan.operations:
        sign = "!" if op.blocked else SYMBOLS[op.action]
        mark = "!!" if op.blocked else SYMBOLS[op.action]
        out.append(paint(sign, f"  {mark} {title(op)}") + f"  [{reasons(op)}]")
        for line_sign, text in body(op, verbose):
            out.append(paint(line_sign, f"      {line_sign} {text}"))
        out.append("")
    migrations = migration_lines(plan)
    if migrations:
        out.append(bold("Migrations:"))
        out.extend(f"  {line}" for line in migrations)
        out.append("")
    unmanaged = unmanaged_lines(plan)
    if unmanaged:
        out.append(f"Unmanaged: {len(unmanaged)} object(s) in Lago are not in the workspace and are left alone:")
        out.extend(f"  {u}" for u in unmanaged)
        out.append("")
    if not plan.operations:
        out.append(bold(NO_CHANGES))
    else:
        out.append(bold(plan.totals_line()))
    return "\n".join(out) + "\n"
