"""Markdown renderer for pull-request comments.

Summary and warnings first, then a table of operations, then one collapsible ``<details>`` block per
operation. The result always fits in a GitHub comment (65,536 characters): details, then table rows,
are dropped from the end with a note saying how many and where to see everything.
"""

from __future__ import annotations

from ..kinds import label
from ..planner import Plan
from .common import (
    NO_CHANGES,
    SYMBOLS,
    body,
    header,
    impact_header,
    impact_lines,
    migration_lines,
    title,
    unmanaged_lines,
)

GITHUB_COMMENT_LIMIT = 65_536
_RESERVE = 600  # room kept for the truncation note
_MAX_BLOCK = 8_000  # one operation's details block at most
_MAX_LIST = 50  # warnings / unmanaged lines shown before "and N more"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) <= _MAX_LIST:
        return lines
    return lines[:_MAX_LIST] + [f"- ... and {len(lines) - _MAX_LIST} more {what}"]


def _block(op, verbose: bool = False) -> str:
    sign = "!!" if op.blocked else SYMBOLS[op.action]
    reasons = ", ".join(f"`{r}`" for r in op.reasons)
    parts = [f"<details><summary><code>{_escape(sign)}</code> {_escape(title(op))}</summary>", "",
             f"Reasons: {reasons}"]
    impacts = op.impacts()
    if impacts:
        parts.append("")
        parts.extend(f"- {_escape(i)}" for i in impacts)
    # inside a diff fence GitHub colours the + and - lines; ~, > and ! lines stay plain
    diff_lines = [f"{line_sign} {text}" for line_sign, text in body(op, verbose)]
    if diff_lines:
        text = "\n".join(diff_lines)
        if len(text) > _MAX_BLOCK:
            cut = text[:_MAX_BLOCK].rsplit("\n", 1)[0]
            hidden = text.count("\n") - cut.count("\n")
            text = cut + f"\n  ... {hidden} more line(s) not shown (see `lagosync show --format json`)"
        parts.extend(["", "```diff", text.replace("```", "`\u200b``"), "```"])
    parts.extend(["", "</details>", ""])
    return "\n".join(parts)


GROUP_FROM = 20  # a plan with more operations is grouped by kind and action, with counts before the rows
_ACTION_WORDS = {"create": "to create", "update": "to update", "replace": "to replace", "migrate": "to migrate",
                 "move": "to move", "delete": "to delete"}


def _group_name(op, n: int) -> str:
    return f"{label(op.kind)}: {n} {_ACTION_WORDS.get(op.action.value, op.action.value)}"


def _by_group(ops: list) -> list:
    """The operations grouped by (kind, action), groups in the order they first appear (the plan's order:
    kinds in dependency order, deletes last), each group in plan order."""
    order: dict = {}
    for op in ops:
        order.setdefault((op.kind, op.action), len(order))
    return sorted(ops, key=lambda op: order[(op.kind, op.action)])


def _counts_table(ops: list) -> str:
    """One row per kind, one column per action in the plan: how many operations of each."""
    actions = [a for a in _ACTION_WORDS if any(op.action.value == a for op in ops)]
    kinds: dict[str, dict[str, int]] = {}
    for op in ops:
        row = kinds.setdefault(op.kind, {})
        row[op.action.value] = row.get(op.action.value, 0) + 1
    lines = ["| kind | " + " | ".join(_ACTION_WORDS[a] for a in actions) + " |",
             "|---|" + "---:|" * len(actions)]
    for kind, counts in kinds.items():
        lines.append(f"| {label(kind)} | " + " | ".join(str(counts.get(a, "")) for a in actions) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(plan: Plan, *, warnings: list[str] | tuple = (), limit: int = GITHUB_COMMENT_LIMIT,
                    verbose: bool = False) -> str:
    head: list[str] = [f"### {_escape(header(plan))}", ""]
    for w in _capped([f"- {_escape(w)}" for w in warnings], "warnings"):
        head.append(f"> [!WARNING]\n> {w[2:]}" if not w.startswith("- ... and") else w)
    if warnings:
        head.append("")
    if not plan.operations:
        head.append(f"**{NO_CHANGES}**")
    else:
        head.append(f"**{plan.totals_line()}**")
    head.append("")
    money = impact_lines(plan)
    if money:
        head.append("> [!IMPORTANT]")
        head.append(f"> **{_escape(impact_header(plan))}**")
        head.append(">")
        head.extend(f"> {line}" for line in _capped([f"- {_escape(i)}" for i in money], "subscriptions"))
        head.append("")
    usage = plan.usage_impact
    if usage is not None:
        head.append(f"**{_escape(usage.header())}**")
        head.append("")
        head.extend(f"- {_escape(line)}" for line in usage.lines(limit=_MAX_LIST) if not line.startswith("!"))
        head.append("")
        if usage.mismatches:
            head.append("> [!WARNING]")
            head.extend(f"> - {_escape(m)}" for m in usage.mismatches)
            head.append("")
    if plan.price_impact:
        head.append("**Price impact** (the workspace's usage profiles, one billing period)")
        head.append("")
        head.extend(_capped([f"- {_escape(p.line())}" for p in plan.price_impact], "profiles"))
        head.append("")
    violated = [p for p in plan.policies if not p.ok]
    if violated:
        head.append("> [!WARNING]")
        head.append("> **Policies violated** (apply needs `--override-policy NAME`)")
        head.append(">")
        head.extend(f"> - {_escape(p.line())}" for p in violated)
        head.append("")
    elif plan.policies:
        head.append(f"Policies: {len(plan.policies)} checked, all ok.")
        head.append("")
    impacts = plan.impacts()
    if impacts:
        head.append("> [!CAUTION]")
        head.append("> **Blast radius**")
        head.append(">")
        head.extend(f"> {line}" for line in _capped([f"- {_escape(i)}" for i in impacts], "impacts"))
        head.append("")
    migrations = migration_lines(plan)
    if migrations:
        head.append("**Migrations**")
        head.append("")
        head.extend(_capped([f"- {_escape(line.strip())}" for line in migrations], "migration lines"))
        head.append("")
    unmanaged = unmanaged_lines(plan)
    if unmanaged:
        head.append(f"Unmanaged (in Lago, not in the workspace, left alone): {len(unmanaged)}")
        head.append("")
        head.extend(_capped([f"- {_escape(u)}" for u in unmanaged], "unmanaged objects"))
        head.append("")
    text = "\n".join(head) + "\n"
    budget = limit - _RESERVE
    ops = list(plan.operations)
    if ops:
        grouped = len(ops) > GROUP_FROM
        if grouped:
            text += _counts_table(ops) + "\n"
            ops = _by_group(ops)
        rows = ["| | resource | reasons |", "|---|---|---|"]
        shown_rows = 0
        group = None
        for op in ops:
            sign = "!!" if op.blocked else SYMBOLS[op.action]
            row = f"| `{sign}` | {_escape(title(op))} | {', '.join(op.reasons)} |"
            if grouped and (op.kind, op.action) != group:
                group = (op.kind, op.action)
                n = sum(1 for o in ops if (o.kind, o.action) == group)
                row = f"| | **{_escape(_group_name(op, n))}** | |\n" + row
            if len(text) + sum(len(r) + 1 for r in rows) + len(row) + 1 > budget // 2:
                break
            rows.append(row)
            shown_rows += 1
        text += "\n".join(rows) + "\n"
        if shown_rows < len(ops):
            text += f"\n_... {len(ops) - shown_rows} more operation(s) not listed in this table._\n"
        text += "\n"
        shown_blocks = 0
        for op in ops:
            block = _block(op, verbose)
            if len(text) + len(block) > budget:
                break
            text += block
            shown_blocks += 1
        if shown_blocks < len(ops):
            text += (
                f"\n_Details of {len(ops) - shown_blocks} operation(s) not shown: this comment is kept under "
                f"GitHub's {limit:,}-character limit. Run `lagosync show plan.json` for the full plan._\n"
            )
    return text
