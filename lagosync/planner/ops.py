"""Plan data: ``Change``, ``Operation``, ``Plan`` and their JSON form (format_version 1).

Plain frozen dataclasses, no I/O. Every operation describes itself (``describe()``,
``impacts()``) so the renderers never re-derive billing rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1

ACTIONS = ("create", "update", "delete", "replace", "migrate", "no-op")

# Reason codes (docs/ARCHITECTURE.md "Plan"); each is explained in README "Plans: reading the output".
REASONS = (
    "new",
    "changed",
    "removed",
    "reprices_subscribers",
    "locked_after_subscription",
    "metric_locked",
    "coupon_locked",
    "upgrade_immediate",
    "downgrade_at_period_end",
    "destroys_events",
    "terminates_subscriptions",
    "charge_removed",
    "customer_move",
    "terminates_coupon",  # an org's applied coupon is terminated (removed, or re-applied: notes §4.7)
    "coupon_not_reusable",  # a non-reusable coupon cannot be applied to the org again (notes §4.7)
)

# Reasons that make an operation unsafe to take without review (blast radius, warnings).
WARNING_REASONS = (
    "reprices_subscribers",
    "locked_after_subscription",
    "metric_locked",
    "coupon_locked",
    "downgrade_at_period_end",
    "upgrade_immediate",
    "destroys_events",
    "terminates_subscriptions",
    "charge_removed",
    "terminates_coupon",
    "coupon_not_reusable",
)

# Reasons that mean something is destroyed in Lago: a metric delete destroys its events (notes
# §4.1), a plan/customer delete or a user-to-org move terminates subscriptions (notes §4.6), a charge
# omitted from a plan update is deleted by Lago (notes §4.2). Such operations need --allow-destroy.
DESTROY_REASONS = ("destroys_events", "terminates_subscriptions", "charge_removed", "terminates_coupon")

# Reasons that change what existing subscribers pay: an in-place price change on a plan with active
# subscriptions (notes §4.2), a subscription moved to another plan (notes §4.6: an upgrade closes and
# invoices the period now, a downgrade applies at period end). Such operations need --allow-reprice.
REPRICE_REASONS = ("reprices_subscribers", "upgrade_immediate", "downgrade_at_period_end")

KIND_LABELS = {
    "tax": "tax",
    "billable_metric": "metric",
    "add_on": "add-on",
    "plan": "plan",
    "coupon": "coupon",
    "customer": "customer",
    "subscription": "subscription",
    "applied_coupon": "applied coupon",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Change:
    """One field-level difference; ``path`` like ``charges.api_call.properties.amount``.

    ``old`` is None for an added field, ``new`` is None for a removed one.
    """

    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict:
        return {"path": self.path, "old": self.old, "new": self.new}

    @classmethod
    def from_dict(cls, d: dict) -> Change:
        return cls(path=d["path"], old=d.get("old"), new=d.get("new"))


@dataclass(frozen=True)
class Operation:
    """One thing the applier would do to one Lago object (identified by kind and key)."""

    action: str
    kind: str
    key: str
    reasons: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    before: dict | None = None
    after: dict | None = None
    details: dict = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def destructive(self) -> bool:
        """A delete, or an operation that destroys something in Lago (``DESTROY_REASONS``)."""
        return self.action == "delete" or any(r in DESTROY_REASONS for r in self.reasons)

    @property
    def reprices(self) -> bool:
        """Changes what existing subscribers pay (``REPRICE_REASONS``), or a new plan version that
        moves subscriptions onto it. A user-to-org move keeps the plan: destructive, not re-pricing."""
        if any(r in REPRICE_REASONS for r in self.reasons):
            return True
        return self.kind == "plan" and self.action == "replace" and bool(self.details.get("migrate"))

    @property
    def blocked(self) -> bool:
        """True when Lago cannot do this in place and the applier refuses it (details['blocked'])."""
        return bool(self.details.get("blocked"))

    def describe(self) -> str:
        """One line for people, e.g. ``update plan 'pro': re-prices 37 active subscriptions``."""
        label = f"{KIND_LABELS.get(self.kind, self.kind)} '{self.key}'"
        if self.kind == "applied_coupon" and self.blocked:
            head = f"cannot apply {label}"
        elif self.kind == "applied_coupon" and self.action == "replace":
            head = f"re-apply {label}"
        elif self.action == "replace" and self.blocked:
            head = f"cannot update {label} in place"
        elif self.action == "replace":
            head = f"replace {label} with new version '{self.details.get('new_code')}'"
        elif self.action == "migrate" and "customer_move" in self.reasons and self.details.get("to_customer"):
            from ..migration import describe_move  # issue 6: user-to-org move

            head = describe_move(self)[0]
        elif self.action == "migrate":
            head = (
                f"move {label} from plan '{self.details.get('from_plan')}' "
                f"to '{self.details.get('to_plan')}'"
            )
        else:
            head = f"{self.action} {label}"
        impacts = self.impacts()
        return f"{head}: {'; '.join(impacts)}" if impacts else head

    def impacts(self) -> list[str]:
        """Blast-radius sentences for this operation (empty when it harms nothing)."""
        d = self.details
        out: list[str] = []
        label = f"{KIND_LABELS.get(self.kind, self.kind)} '{self.key}'"
        for reason in self.reasons:
            if reason == "reprices_subscribers":
                n = d.get("active_subscriptions", 0)
                out.append(f"re-prices {_plural(n, 'active subscription')} on '{self.key}'")
            elif reason == "locked_after_subscription":
                moved = len(d.get("migrate", []))
                locked = ", ".join(d.get("locked_paths", []))
                out.append(
                    f"plan '{self.key}' has had subscriptions, so {locked} cannot change in place: "
                    f"creates version '{d.get('new_code')}' and moves {_plural(moved, 'subscription')} to it"
                )
            elif reason in ("metric_locked", "coupon_locked"):
                locked = ", ".join(d.get("locked_paths", []))
                out.append(f"{label} is in use, so {locked} cannot change in place; {d.get('hint', '')}".rstrip())
            elif reason in ("upgrade_immediate", "downgrade_at_period_end") and self.kind == "plan":
                when = ("immediately" if reason == "upgrade_immediate"
                        else "at the end of their current billing period")
                kind_of = "an upgrade" if reason == "upgrade_immediate" else "a downgrade"
                out.append(f"moving to '{d.get('new_code')}' is {kind_of} (yearly base "
                           f"{d.get('from_yearly_amount_cents')} -> {d.get('to_yearly_amount_cents')} cents): "
                           f"subscriptions move {when}")
            elif reason == "upgrade_immediate":
                out.append(
                    f"upgrades {label} from '{d.get('from_plan')}' to '{d.get('to_plan')}' immediately "
                    "(the current period is closed and invoiced)"
                )
            elif reason == "downgrade_at_period_end":
                out.append(
                    f"downgrades {label} from '{d.get('from_plan')}' to '{d.get('to_plan')}' "
                    "at the end of the current billing period"
                )
            elif reason == "destroys_events":
                used = d.get("used_by_plans") or []
                tail = f", and removes its charges from {', '.join(repr(p) for p in used)}" if used else ""
                out.append(f"deletes metric '{self.key}' and its events{tail}")
            elif reason == "terminates_subscriptions":
                n = d.get("active_subscriptions", 0)
                if "customer_move" in self.reasons:
                    continue  # the move's own sentences name the termination and its options
                if self.kind == "subscription":
                    out.append(f"terminates subscription '{self.key}'")
                else:
                    subs = d.get("subscriptions") or []
                    named = f": {', '.join(repr(s) for s in subs)}" if subs else ""
                    out.append(f"terminates {_plural(n, 'active subscription')} (deletes {label}){named}")
            elif reason == "terminates_coupon":
                org, _, code = self.key.partition("/")
                tail = " and applies it again with the new terms (Lago has no update)" \
                    if self.action == "replace" else ""
                out.append(f"terminates coupon '{code}' on org '{org}' (its remaining balance is lost){tail}")
            elif reason == "coupon_not_reusable":
                out.append(d.get("hint", ""))
            elif reason == "charge_removed":
                codes = ", ".join(repr(c) for c in d.get("removed_charges", []))
                if codes:
                    out.append(f"removes charge {codes} from plan '{self.key}'")
                fixed = ", ".join(repr(c) for c in d.get("removed_fixed_charges", []))
                if fixed:  # notes §3.4
                    out.append(f"removes fixed charge {fixed} from plan '{self.key}'")
            elif reason == "customer_move" and d.get("to_customer"):
                from ..migration import describe_move  # issue 6: user-to-org move

                out.extend(describe_move(self)[1])
            elif reason == "customer_move":
                out.append(f"moves {label} to another customer")
        if self.kind == "subscription" and d.get("cancel_pending_downgrade") and self.action == "update":
            # notes §4.6: the pending row is cancelled; the subscriber stays on the current plan and price
            out.append(f"cancels the downgrade of {label} to '{d['cancel_pending_downgrade']}' scheduled "
                       "at the end of its billing period (it stays on its current plan)")
        elif self.kind == "subscription" and d.get("cancel_pending_downgrade") and self.action == "migrate":
            # notes §4.6: a plan change (upgrade or downgrade) cancels the pending one
            out.append(f"cancels the downgrade of {label} to '{d['cancel_pending_downgrade']}' scheduled "
                       f"at the end of its billing period (it moves to '{d.get('to_plan')}' instead)")
        return out

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "action": self.action,
            "kind": self.kind,
            "key": self.key,
            "reasons": list(self.reasons),
            "changes": [c.to_dict() for c in self.changes],
            "before": self.before,
            "after": self.after,
            "details": self.details,
            "depends_on": list(self.depends_on),
            "description": self.describe(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Operation:
        return cls(
            action=d["action"],
            kind=d["kind"],
            key=d["key"],
            reasons=tuple(d.get("reasons", ())),
            changes=tuple(Change.from_dict(c) for c in d.get("changes", ())),
            before=d.get("before"),
            after=d.get("after"),
            details=dict(d.get("details") or {}),
            depends_on=tuple(d.get("depends_on", ())),
        )


@dataclass(frozen=True)
class Plan:
    """The result of ``make_plan``: ordered operations plus what is needed to detect staleness."""

    environment: str
    lago_url: str | None
    workspace_digest: str
    created_at: str
    operations: tuple[Operation, ...] = ()
    unmanaged: tuple[tuple[str, str], ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0  # number of declared objects that already match (no-op, not listed)
    format_version: int = FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return bool(self.operations)

    @property
    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ACTIONS}
        for op in self.operations:
            out[op.action] += 1
        out["no-op"] = self.unchanged
        return out

    def impacts(self) -> list[str]:
        """Blast-radius summary of the whole plan, in operation order."""
        return [line for op in self.operations for line in op.impacts()]

    def totals_line(self) -> str:
        c = self.counts
        return (
            f"Plan: {c['create']} to create, {c['update']} to update, {c['replace']} to replace, "
            f"{c['migrate']} to migrate, {c['delete']} to delete."
        )

    def to_dict(self) -> dict:
        return {
            "format_version": self.format_version,
            "environment": self.environment,
            "lago_url": self.lago_url,
            "workspace_digest": self.workspace_digest,
            "created_at": self.created_at,
            "has_changes": self.has_changes,
            "summary": self.counts,
            "operations": [op.to_dict() for op in self.operations],
            "unmanaged": [{"kind": k, "key": key} for k, key in self.unmanaged],
            "fingerprints": dict(sorted(self.fingerprints.items())),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        """Read a plan document; unknown keys are ignored (consumers must do the same)."""
        if not isinstance(d, dict):
            raise ValueError(f"a plan document is a JSON object, not a JSON {type(d).__name__}")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"unsupported plan format_version {version!r} (this lagosync reads {FORMAT_VERSION})"
            )
        summary = d.get("summary") or {}
        return cls(
            format_version=version,
            environment=d["environment"],
            lago_url=d.get("lago_url"),
            workspace_digest=d["workspace_digest"],
            created_at=d["created_at"],
            operations=tuple(Operation.from_dict(o) for o in d.get("operations", ())),
            unmanaged=tuple((u["kind"], u["key"]) for u in d.get("unmanaged", ())),
            fingerprints=dict(d.get("fingerprints") or {}),
            unchanged=int(summary.get("no-op", 0)),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.from_dict(json.loads(text))
