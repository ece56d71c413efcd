"""``--target KIND:KEY`` and ``--exclude KIND:KEY`` (plan and apply), as Terraform's ``-target``/``-exclude``.

One pure function on a ``Plan``: ``apply_targeting`` keeps the targeted operations and, transitively,
the operations they depend on (``depends_on``), then drops the excluded operations and, transitively,
the operations that depend on them. It returns the smaller plan and the warning lines that say that
targeting is in effect. Nothing else of the plan changes (fingerprints, migrations, unchanged count).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..kinds import describe, kind_choices, parse_kind
from .ops import Operation, Plan

ALL = "*"  # KIND:* names every object of a kind


@dataclass(frozen=True)
class Targeting:
    """What ``--target`` and ``--exclude`` asked for, as ``(kind, key)`` pairs (``key`` may be ``*``)."""

    targets: tuple[tuple[str, str], ...] = ()
    excludes: tuple[tuple[str, str], ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.targets or self.excludes)

    @classmethod
    def parse(cls, targets: Iterable[str] = (), excludes: Iterable[str] = ()) -> Targeting:
        """From the flags' values; a bad ``KIND:KEY`` is a UserError naming the flag."""
        return cls(tuple(_parse("--target", t) for t in targets), tuple(_parse("--exclude", e) for e in excludes))

    def flags(self) -> list[str]:
        """The flags as a user would write them again (``--target plan:pro``)."""
        return ([f"--target {k}:{key}" for k, key in self.targets]
                + [f"--exclude {k}:{key}" for k, key in self.excludes])

    def to_dict(self, warnings: Sequence[str] = ()) -> dict[str, list[str]]:
        """As a saved plan records it: the flags, and the ``warnings`` the plan was shown with."""
        d = {"target": [f"{k}:{key}" for k, key in self.targets],
             "exclude": [f"{k}:{key}" for k, key in self.excludes]}
        if warnings:
            d["warnings"] = [str(w) for w in warnings]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Targeting:
        if not isinstance(d, Mapping):
            return cls()
        return cls.parse([str(t) for t in d.get("target") or ()], [str(e) for e in d.get("exclude") or ()])


def recorded_warnings(document: Mapping[str, Any]) -> list[str]:
    """The targeting warnings a saved plan document was made with (``show`` and the PR comment show
    them first, as ``plan`` did); none for an untargeted plan."""
    saved = document.get("targeting")
    if not isinstance(saved, Mapping) or not isinstance(saved.get("warnings"), list):
        return []
    return [str(w) for w in saved["warnings"]]


def _parse(flag: str, text: str) -> tuple[str, str]:
    word, sep, key = str(text).partition(":")
    kind = parse_kind(word)
    if not sep or kind is None or not key.strip():
        raise UserError(f"{flag} {text!r}: expected KIND:KEY, e.g. {flag} plan:pro or {flag} customer:org_acme "
                        f"(KIND one of {kind_choices()})")
    return kind, key.strip()


def _matches(op: Operation, wanted: Sequence[tuple[str, str]]) -> bool:
    return any(kind == op.kind and key in (ALL, op.key) for kind, key in wanted)


def _closure(start: set[int], edges: Mapping[int, set[int]]) -> set[int]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in edges.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _names(ops: Sequence[Operation], idx: Iterable[int]) -> str:
    return ", ".join(ops[i].label for i in sorted(idx))


def apply_targeting(plan: Plan, targeting: Targeting) -> tuple[Plan, list[str]]:
    """``plan`` reduced to the targeted operations, what they depend on, minus the excluded ones and
    what depends on them; and the warnings to show with it (empty when ``targeting`` is not active)."""
    if not targeting.active:
        return plan, []
    ops = plan.operations
    by_id: dict[str, set[int]] = {}
    for i, op in enumerate(ops):
        by_id.setdefault(op.id, set()).add(i)
    needs = {i: {j for dep in op.depends_on for j in by_id.get(dep, set()) if j != i} for i, op in enumerate(ops)}
    needed_by: dict[int, set[int]] = {}
    for i, deps in needs.items():
        for j in deps:
            needed_by.setdefault(j, set()).add(i)

    warnings: list[str] = []
    keep = set(range(len(ops)))
    if targeting.targets:
        chosen = {i for i, op in enumerate(ops) if _matches(op, targeting.targets)}
        keep = _closure(chosen, needs)
        head = ("Resource targeting is in effect: this plan holds only the changes of "
                + ", ".join(f"{k}:{key}" for k, key in targeting.targets)
                + " and of what they depend on, not every change the workspace asks for; "
                  "use it for exceptional cases, then run a plan without --target")
        warnings.append(head)
        if keep - chosen:
            warnings.append("included because the targeted changes depend on them: " + _names(ops, keep - chosen))
        for kind, key in targeting.targets:
            if not any(_matches(ops[i], [(kind, key)]) for i in chosen):
                what = f"any {kind}" if key == ALL else describe(kind, key)
                warnings.append(f"--target {kind}:{key}: no change is planned for {what}")
    if targeting.excludes:
        excluded = {i for i in keep if _matches(ops[i], targeting.excludes)}
        dropped = _closure(excluded, needed_by) & keep
        keep -= dropped
        prefix = "" if targeting.targets else "Resource targeting is in effect: "
        warnings.append(prefix + "--exclude " + ", ".join(
            f"{k}:{key}" for k, key in targeting.excludes) + " leaves out "
            + (_names(ops, dropped) if dropped else "nothing (no change is planned for it)"))
        if dropped - excluded:
            warnings.append("left out because they depend on an excluded change: " + _names(ops, dropped - excluded))
    reduced = dataclasses.replace(plan, operations=tuple(op for i, op in enumerate(ops) if i in keep))
    return reduced, warnings
