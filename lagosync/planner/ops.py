"""Plan data: ``Action``, ``Change``, ``Operation``, ``Plan`` and their JSON form (format_version 2).

Plain frozen dataclasses, no I/O. An operation's ``action`` (a closed set) and its typed fields
(``version``, ``move``, ``block``, ``cancel_pending``, ``pruned``) are what the applier executes;
its ``reasons`` and ``details`` only explain the change to people (like Terraform's ActionReason).
Every operation describes itself (``describe()``, ``impacts()``) so the renderers never re-derive
billing rules.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from ..kinds import describe as _describe
from ..kinds import split_version

FORMAT_VERSION = 2


class Action(str, Enum):
    """What the applier does to one object. Closed: the applier has one handler per (kind, action)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # a new plan version (or, blocked, a change Lago cannot make in place)
    MIGRATE = "migrate"  # a subscription moves to another plan
    MOVE = "move"  # a user-based customer's subscription moves to an org (orgs.yaml migrate_from)

    def __str__(self) -> str:
        return self.value


ACTIONS: tuple[str, ...] = tuple(a.value for a in Action) + ("no-op",)
"""Actions as they appear in plan summaries; ``no-op`` counts declared objects that already match."""

# Reason codes (docs/ARCHITECTURE.md "Plan"); each is explained in docs/plans.md.
REASONS = (
    "new",
    "changed",
    "removed",
    "reprices_subscribers",
    "locked_after_subscription",
    "new_version",  # price_change: new_version: a new version for new subscriptions, existing ones stay
    "migration",  # a price migration (plans/*.yaml migrations) moves the subscription to another version
    "unused_version",  # --prune: an older plan version no subscription is on any more
    "metric_locked",
    "coupon_locked",
    "subscription_locked",  # billing_time or the customer of a subscription (lago-behaviour#subscription-fixed-fields)
    "upgrade_immediate",
    "downgrade_at_period_end",
    "destroys_events",
    "terminates_subscriptions",
    "charge_removed",
    "customer_move",
    "terminates_coupon",  # an org's applied coupon is terminated (lago-behaviour#applied-coupon-no-update)
    "coupon_not_reusable",  # a non-reusable coupon cannot be applied to the org again (lago-behaviour#coupon-reusable)
    "premium_only",  # an input this Lago, without a premium license, ignores or refuses (lago-behaviour#premium-ignored-fields)
)

# Reasons that make an operation unsafe to take without review (blast radius, warnings).
WARNING_REASONS = (
    "reprices_subscribers",
    "locked_after_subscription",
    "metric_locked",
    "coupon_locked",
    "subscription_locked",
    "downgrade_at_period_end",
    "upgrade_immediate",
    "destroys_events",
    "terminates_subscriptions",
    "charge_removed",
    "terminates_coupon",
    "coupon_not_reusable",
    "premium_only",
)

# Reasons that mean something is destroyed in Lago: a metric delete destroys its events
# (lago-behaviour#metric-delete), a plan/customer delete or a user-to-org move terminates subscriptions
# (lago-behaviour#subscription-terminate), a charge omitted from a plan update is deleted by Lago
# (lago-behaviour#plan-charges-reconciled). Such operations need --allow-destroy.
DESTROY_REASONS = ("destroys_events", "terminates_subscriptions", "charge_removed", "terminates_coupon")

# Reasons that say existing subscribers pay differently: an in-place price change on a plan with active
# subscriptions (lago-behaviour#plan-update-reprices), a subscription moved to another plan
# (lago-behaviour#plan-change-upgrade-downgrade). They explain; the --allow-reprice gate itself is
# derived from each operation's money impact (Operation.impact, lagosync.planner.impact).
REPRICE_REASONS = ("reprices_subscribers", "upgrade_immediate", "downgrade_at_period_end")


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

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Change:
        return cls(path=d["path"], old=d.get("old"), new=d.get("new"))


@dataclass(frozen=True)
class Blocked:
    """Lago cannot do this change: the applier refuses the operation, the plan says what to do."""

    why: str  # the Lago rule, in plain words
    hint: str  # what to do instead
    locked_paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"why": self.why, "hint": self.hint, "locked_paths": list(self.locked_paths)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Blocked:
        return cls(why=d["why"], hint=d["hint"], locked_paths=tuple(d.get("locked_paths") or ()))


@dataclass(frozen=True)
class NewVersion:
    """A plan ``replace``: create version ``code``, then move the ``migrate`` subscriptions onto it."""

    code: str  # live code of the new version, ``<code>__v<N>``
    live_code: str  # live code of the current version
    migrate: tuple[str, ...] = ()  # subscription external_ids to move
    locked_paths: tuple[str, ...] = ()  # why a version is needed

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "live_code": self.live_code, "migrate": list(self.migrate),
                "locked_paths": list(self.locked_paths)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NewVersion:
        return cls(code=d["code"], live_code=d["live_code"], migrate=tuple(d.get("migrate") or ()),
                   locked_paths=tuple(d.get("locked_paths") or ()))


@dataclass(frozen=True)
class CustomerMove:
    """A ``move``: terminate a user's subscription, start the org's, record the user on the org.

    ``record_only``: nothing left to move, only the org's ``migrated_from`` record is written.
    """

    from_customer: str
    to_customer: str
    migrated_from: tuple[str, ...]  # the org's record after this move
    from_subscription: str | None = None
    to_subscription: str | None = None  # None: the org declares none (the operation is blocked)
    plan_code: str | None = None
    on_termination_invoice: str = "generate"  # Lago's defaults, sent explicitly (lago-behaviour#subscription-terminate)
    on_termination_credit_note: str = "credit"
    record_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "migrated_from": list(self.migrated_from)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CustomerMove:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["migrated_from"] = tuple(d.get("migrated_from") or ())
        return cls(**values)


IMPACT_CHANGES = ("price", "tax", "discount", "plan", "timing", "termination")
"""What changes for a subscriber: its plan's prices, its taxes, its discount, the plan it is on, when a
change takes effect (a scheduled downgrade cancelled), or the subscription ends."""


@dataclass(frozen=True)
class Impact:
    """One subscription that pays differently because of an operation: how, and from when.

    ``subscription`` is None for ``count`` subscriptions lagosync did not read one by one (subscribers of
    a plan that belong to customers the workspace does not declare); they are counted, not named.
    ``when``: ``now`` (the current period is billed the new way), ``period_end`` (from the end of the
    subscription's current billing period; ``date`` when Lago says which day), ``date`` (on ``date``).
    """

    subscription: str | None
    customer: str | None
    change: str  # one of IMPACT_CHANGES
    detail: str  # what changes, for people
    when: str = "now"  # now | period_end | date
    date: str | None = None  # YYYY-MM-DD, when known
    count: int = 1
    # the subscription's base fee per year before and after (Lago's yearly amount), when it changes
    yearly_before: int | None = None
    yearly_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Impact:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def sentence(self) -> str:
        who = (f"subscription '{self.subscription}' of '{self.customer}'" if self.subscription
               else f"{_plural(self.count, 'other subscription')} (not in this workspace)")
        if self.when == "now":
            when = "now"
        elif self.when == "date":
            when = f"on {self.date}"
        else:
            when = (f"at the end of its billing period ({self.date})" if self.date
                    else "at the end of its billing period")
        return f"{who}: {self.change}: {self.detail}, {when}"


@dataclass(frozen=True)
class Operation:
    """One thing the applier would do to one Lago object (identified by kind and key).

    The applier reads ``action``, ``kind``, ``key``, ``after``, ``depends_on`` and the typed fields;
    ``reasons`` and ``details`` (display facts: counts, amounts, names) are for people only.
    """

    action: Action
    kind: str
    key: str
    reasons: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    block: Blocked | None = None
    version: NewVersion | None = None
    move: CustomerMove | None = None
    cancel_pending: str | None = None  # a subscription's scheduled downgrade (to this plan) is cancelled
    pruned: bool = False  # a delete of an object merely absent from the workspace (--prune)
    impact: tuple[Impact, ...] = ()  # the money impact (planner.impact): who pays differently, how, when
    target_plan: str | None = None  # a subscription's plan as Lago names it, when not its plan's current version
    migration: str | None = None  # the price migration this operation carries out (planner.migrations)

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            object.__setattr__(self, "action", Action(self.action))

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def label(self) -> str:
        return _describe(self.kind, self.key)

    @property
    def blocked(self) -> bool:
        """Lago cannot do this; the applier refuses it (``block`` says why and what to do)."""
        return self.block is not None

    @property
    def destructive(self) -> bool:
        """Needs --allow-destroy: a delete, an operation that destroys something in Lago
        (``DESTROY_REASONS``), or one that ends a subscription (its money impact)."""
        return (self.action is Action.DELETE or any(r in DESTROY_REASONS for r in self.reasons)
                or any(i.change == "termination" for i in self.impact))

    @property
    def reprices(self) -> bool:
        """Needs --allow-reprice: an existing subscription pays differently or at another time (its money
        impact: price, tax, discount, plan or timing). Derived from ``impact`` only."""
        return any(i.change != "termination" for i in self.impact)

    def with_(self, **changes: Any) -> Operation:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line for people, e.g. ``update plan 'pro': re-prices 37 active subscriptions``."""
        impacts = self.impacts()
        head = self.head()
        return f"{head}: {'; '.join(impacts)}" if impacts else head

    def head(self) -> str:
        label, form = self.label, self.form
        if form == "move" and self.move is not None:
            m = self.move
            if m.record_only:
                return f"record the move of customer '{m.from_customer}' into org '{m.to_customer}'"
            return f"move subscription '{self.key}' of user '{m.from_customer}' to org '{m.to_customer}'"
        heads = {
            "coupon_blocked": f"cannot apply {label}", "coupon_again": f"re-apply {label}",
            "blocked_create": f"cannot create {label} as declared", "blocked": f"cannot update {label} in place",
            "version": f"replace {label} with new version '{self.version.code if self.version else ''}'",
            "plan_change": (f"move {label} from plan '{self.details.get('from_plan')}' "
                            f"to '{self.details.get('to_plan')}'"),
        }
        return heads.get(form, f"{self.action} {label}")

    @property
    def form(self) -> str:
        """Which sentence shape describes this operation (``head()`` and the renderers' titles word it)."""
        if self.kind == "applied_coupon" and self.blocked:
            return "coupon_blocked"
        if self.kind == "applied_coupon" and self.action is Action.REPLACE:
            return "coupon_again"
        if self.move is not None:
            return "move"
        if self.blocked:
            return "blocked_create" if self.action is Action.CREATE else "blocked"
        if self.version is not None:
            return "version"
        if self.action is Action.MIGRATE:
            return "plan_change"
        return "plain"

    def impacts(self) -> list[str]:
        """Blast-radius sentences for this operation (empty when it harms nothing)."""
        if self.move is not None:
            return self._move_impacts(self.move)
        d = self.details
        out: list[str] = []
        label = self.label
        block = self.block
        if block is not None and self.kind in ("plan", "customer"):
            # nothing happens (apply refuses it): say why, not what a version or an update would do
            return [f"{label}: cannot change {', '.join(block.locked_paths)}: {block.why}"]
        for reason in self.reasons:
            if reason == "reprices_subscribers":
                n = d.get("active_subscriptions", 0)
                out.append(f"re-prices {_plural(n, 'active subscription')} on '{self.key}'")
            elif reason == "locked_after_subscription" and self.version is not None:
                v = self.version
                out.append(
                    f"plan '{self.key}' has had subscriptions, so {', '.join(v.locked_paths)} cannot change in "
                    f"place: creates version '{v.code}' and moves {_plural(len(v.migrate), 'subscription')} to it"
                )
            elif reason == "new_version" and self.version is not None:
                n = int(d.get("grandfathered") or 0)
                out.append(f"creates version '{self.version.code}' of plan '{self.key}' for new subscriptions; "
                           f"{_plural(n, 'existing subscription')} stay on their version (grandfathered) until a "
                           "migration moves them")
            elif reason in ("metric_locked", "coupon_locked") and block is not None:
                out.append(f"{label} is in use, so {', '.join(block.locked_paths)} cannot change in place; "
                           f"{block.hint}".rstrip())
            elif reason == "subscription_locked" and block is not None:
                out.append(f"cannot change {', '.join(block.locked_paths)}: {block.why}; {block.hint}")
            elif reason in ("upgrade_immediate", "downgrade_at_period_end") and self.version is not None:
                when = ("immediately" if reason == "upgrade_immediate"
                        else "at the end of their current billing period")
                kind_of = "an upgrade" if reason == "upgrade_immediate" else "a downgrade"
                out.append(f"moving to '{self.version.code}' is {kind_of} (yearly base "
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
                if self.kind == "subscription":
                    out.append(f"terminates subscription '{self.key}'")
                else:
                    subs = d.get("subscriptions") or []
                    named = f": {', '.join(repr(s) for s in subs)}" if subs else ""
                    out.append(f"terminates {_plural(n, 'active subscription')} (deletes {label}){named}")
            elif reason == "terminates_coupon":
                org, _, code = self.key.partition("/")
                tail = " and applies it again with the new terms (Lago has no update)" \
                    if self.action is Action.REPLACE else ""
                out.append(f"terminates coupon '{code}' on org '{org}' (its remaining balance is lost){tail}")
            elif reason == "customer_move" and block is not None:
                out.append(f"cannot change customer: {block.why}; {block.hint}")
            elif reason == "coupon_not_reusable" and block is not None:
                out.append(block.hint)
            elif reason == "unused_version":
                out.append(f"deletes version {d.get('version')} of plan '{split_version(self.key)[0]}' "
                           f"('{self.target_plan}'): no subscription is on it any more")
            elif reason == "charge_removed":
                codes = ", ".join(repr(c) for c in d.get("removed_charges", []))
                if codes:
                    out.append(f"removes charge {codes} from plan '{self.key}'")
                fixed = ", ".join(repr(c) for c in d.get("removed_fixed_charges", []))
                if fixed:  # lago-behaviour#fixed-charges
                    out.append(f"removes fixed charge {fixed} from plan '{self.key}'")
        if self.kind == "applied_coupon" and self.action is Action.CREATE and self.impact and block is None:
            org, _, code = self.key.partition("/")
            n = len(self.impact)
            out.append(f"applies coupon '{code}' to org '{org}': {_plural(n, 'subscription')} "
                       f"{'pays' if n == 1 else 'pay'} less")
        if self.kind == "subscription" and self.cancel_pending and self.action is Action.UPDATE:
            # lago-behaviour#pending-downgrade: the pending row is cancelled; the subscriber stays on its plan
            out.append(f"cancels the downgrade of {label} to '{self.cancel_pending}' scheduled "
                       "at the end of its billing period (it stays on its current plan)")
        elif self.kind == "subscription" and self.cancel_pending and self.action is Action.MIGRATE:
            # lago-behaviour#pending-downgrade: a plan change (upgrade or downgrade) cancels the pending one
            out.append(f"cancels the downgrade of {label} to '{self.cancel_pending}' scheduled "
                       f"at the end of its billing period (it moves to '{d.get('to_plan')}' instead)")
        return out

    def _move_impacts(self, m: CustomerMove) -> list[str]:
        record = f"records '{m.from_customer}' in org '{m.to_customer}' metadata migrated_from"
        if m.record_only:
            return [record]
        if self.block is not None:
            return [f"org '{m.to_customer}' declares no subscription to take it over: {self.block.hint}"]
        return [
            f"terminates subscription '{m.from_subscription}' of '{m.from_customer}' now "
            f"(on_termination_invoice={m.on_termination_invoice}, "
            f"on_termination_credit_note={m.on_termination_credit_note})",
            f"starts subscription '{m.to_subscription}' for '{m.to_customer}' on plan '{m.plan_code}'",
            record,
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action.value,
            "kind": self.kind,
            "key": self.key,
            "reasons": list(self.reasons),
            "changes": [c.to_dict() for c in self.changes],
            "before": self.before,
            "after": self.after,
            "details": self.details,
            "depends_on": list(self.depends_on),
            "blocked": self.block.to_dict() if self.block else None,
            "version": self.version.to_dict() if self.version else None,
            "move": self.move.to_dict() if self.move else None,
            "cancel_pending_downgrade": self.cancel_pending,
            "pruned": self.pruned,
            "impact": [i.to_dict() for i in self.impact],
            "target_plan": self.target_plan,
            "migration": self.migration,
            "description": self.describe(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Operation:
        return cls(
            action=Action(d["action"]),
            kind=d["kind"],
            key=d["key"],
            reasons=tuple(d.get("reasons", ())),
            changes=tuple(Change.from_dict(c) for c in d.get("changes", ())),
            before=d.get("before"),
            after=d.get("after"),
            details=dict(d.get("details") or {}),
            depends_on=tuple(d.get("depends_on", ())),
            block=Blocked.from_dict(d["blocked"]) if d.get("blocked") else None,
            version=NewVersion.from_dict(d["version"]) if d.get("version") else None,
            move=CustomerMove.from_dict(d["move"]) if d.get("move") else None,
            cancel_pending=d.get("cancel_pending_downgrade"),
            pruned=bool(d.get("pruned")),
            impact=tuple(Impact.from_dict(i) for i in d.get("impact") or ()),
            target_plan=d.get("target_plan"),
            migration=d.get("migration"),
        )


@dataclass(frozen=True)
class MigrationStatus:
    """Where a migration stands, as a plan sees it (shown in every format, and by ``lagosync migrations``)."""

    code: str
    plan_code: str
    to_code: str | None  # the target version's Lago code
    moved: tuple[str, ...] = ()  # on the target version, or Lago's downgrade onto it scheduled
    due: tuple[str, ...] = ()  # moved by this plan
    waiting: tuple[tuple[str, str, str], ...] = ()  # (subscription, from when, why it waits)
    blocked: str | None = None  # why the migration cannot run at all

    @property
    def state(self) -> str:
        if self.blocked:
            return "blocked"
        if self.due:
            return "due"
        if self.waiting:
            return "waiting"
        return "done"

    def line(self) -> str:
        target = f" -> '{self.to_code}'" if self.to_code else ""
        head = f"migration '{self.code}' (plan '{self.plan_code}'{target}): {self.state}"
        if self.blocked:
            return f"{head}: {self.blocked}"
        parts = [f"{len(self.moved)} moved", f"{len(self.due)} due now", f"{len(self.waiting)} waiting"]
        nxt = sorted(w[1] for w in self.waiting if w[1][:1].isdigit())
        tail = f"; next on {nxt[0]}" if nxt else ""
        return f"{head}: {', '.join(parts)}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "plan_code": self.plan_code, "to_code": self.to_code, "state": self.state,
                "moved": list(self.moved), "due": list(self.due),
                "waiting": [{"subscription": s, "from": when, "why": why} for s, when, why in self.waiting],
                "blocked": self.blocked}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MigrationStatus:
        return cls(code=d["code"], plan_code=d["plan_code"], to_code=d.get("to_code"),
                   moved=tuple(d.get("moved") or ()), due=tuple(d.get("due") or ()),
                   waiting=tuple((w["subscription"], w["from"], w["why"]) for w in d.get("waiting") or ()),
                   blocked=d.get("blocked"))


@dataclass(frozen=True)
class PriceImpact:
    """One usage profile's invoice for one billing period, before and after (lagosync.pricing.impact)."""

    plan: str
    profile: str  # the pricing test case whose usage it is
    where: str  # its file:line
    currency: str
    before_cents: int | None  # with taxes; None: the plan is not in Lago yet (or could not be priced)
    after_cents: int | None
    before_tax_before_cents: int | None = None
    before_tax_after_cents: int | None = None
    not_modelled: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "not_modelled": list(self.not_modelled)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PriceImpact:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["not_modelled"] = tuple(d.get("not_modelled") or ())
        return cls(**values)

    def line(self) -> str:
        def money(cents: int | None) -> str:
            return "-" if cents is None else f"{Decimal(cents) / 100:.2f}"

        head = f"plan '{self.plan}', {self.profile}: {money(self.before_cents)} -> {money(self.after_cents)} {self.currency}"
        if self.before_cents is not None and self.after_cents is not None:
            delta = self.after_cents - self.before_cents
            pct = f", {Decimal(delta) * 100 / Decimal(self.before_cents):+.1f}%" if self.before_cents else ""
            head += f" ({'+' if delta >= 0 else '-'}{Decimal(abs(delta)) / 100:.2f}{pct}) per period, taxes included"
        if self.not_modelled:
            head += f" (not modelled: {'; '.join(self.not_modelled)})"
        return head


@dataclass(frozen=True)
class UsageRow:
    """One affected subscription's current billing period (its usage so far, read from Lago) priced on the
    plan it is on and on the plan as this plan leaves it (lagosync.pricing.usage_impact). Amounts are
    invoices of the period (subscription fee, charges, fixed charges, coupons, taxes); ``before``/``after``
    and ``change`` are the same in the currency's units (``"73.80"``, ``"+10.00"``)."""

    subscription: str
    customer: str | None
    plan_before: str | None
    plan_after: str | None
    currency: str
    before_cents: int | None  # None: it could not be priced (``not_modelled`` says why)
    after_cents: int | None
    before: str | None = None
    after: str | None = None
    change: str | None = None
    lago_usage_cents: int | None = None  # Lago's own current usage (charges and their taxes)
    engine_usage_cents: int | None = None  # the engine's for the same usage and plan (the self-check)
    not_modelled: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "not_modelled": list(self.not_modelled)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UsageRow:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["not_modelled"] = tuple(d.get("not_modelled") or ())
        return cls(**values)

    def line(self) -> str:
        who = f"subscription '{self.subscription}'" + (f" of '{self.customer}'" if self.customer else "")
        plans = f"plan '{self.plan_before}'" if self.plan_before == self.plan_after \
            else f"plan '{self.plan_before}' -> '{self.plan_after}'"
        if self.before is None or self.after is None:
            return f"{who} ({plans}): not priced ({'; '.join(self.not_modelled) or 'no usage'})"
        text = f"{who} ({plans}): {self.before} -> {self.after} {self.currency} ({self.change}"
        if self.before_cents and self.after_cents is not None:
            text += f", {Decimal(self.after_cents - self.before_cents) * 100 / Decimal(self.before_cents):+.1f}%"
        text += ")"
        if self.not_modelled:
            text += f" (not modelled: {'; '.join(self.not_modelled)})"
        return text


@dataclass(frozen=True)
class UsageStats:
    """The change per subscription in one currency: min / median / max, the total, the top movers."""

    currency: str
    subscriptions: int
    min_cents: int
    median_cents: str  # a decimal string: the mean of the middle two for an even count
    max_cents: int
    total_cents: int
    min: str
    median: str
    max: str
    total: str
    top: tuple[tuple[str, str], ...] = ()  # (subscription, signed change), largest change first

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "top": [{"subscription": s, "change": c} for s, c in self.top]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UsageStats:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["top"] = tuple((t["subscription"], t["change"]) for t in d.get("top") or ())
        return cls(**values)

    def lines(self) -> list[str]:
        out = [f"change per subscription ({self.subscriptions}, {self.currency}): min {self.min}, median "
               f"{self.median}, max {self.max}; total change {self.total} {self.currency} per period"]
        if self.top:
            out.append("top movers: " + ", ".join(f"'{s}' {c}" for s, c in self.top))
        return out


@dataclass(frozen=True)
class UsageImpact:
    """The price impact on each affected subscription's real current-period usage (Lago's current usage),
    for a sample of the subscriptions the plan's money impact names (lagosync.pricing.usage_impact)."""

    affected: int  # subscriptions named in the money impact with a price, tax, discount or plan change
    sample_size: int  # at most this many are read (LAGOSYNC_USAGE_SAMPLE)
    read: int  # subscriptions whose current usage was read
    requests: int  # requests made to Lago for it
    rows: tuple[UsageRow, ...] = ()
    stats: tuple[UsageStats, ...] = ()
    mismatches: tuple[str, ...] = ()  # where lagosync's engine and Lago disagree on the current usage
    notes: tuple[str, ...] = ()  # reads that failed, what was left out

    def to_dict(self) -> dict[str, Any]:
        return {"affected": self.affected, "sample_size": self.sample_size, "read": self.read,
                "requests": self.requests, "rows": [r.to_dict() for r in self.rows],
                "stats": [s.to_dict() for s in self.stats], "mismatches": list(self.mismatches),
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UsageImpact:
        return cls(affected=int(d.get("affected") or 0), sample_size=int(d.get("sample_size") or 0),
                   read=int(d.get("read") or 0), requests=int(d.get("requests") or 0),
                   rows=tuple(UsageRow.from_dict(r) for r in d.get("rows") or ()),
                   stats=tuple(UsageStats.from_dict(s) for s in d.get("stats") or ()),
                   mismatches=tuple(d.get("mismatches") or ()), notes=tuple(d.get("notes") or ()))

    def header(self) -> str:
        sampled = f"{self.read} of {self.affected} affected subscription(s) read"
        if self.affected > self.sample_size:
            sampled += f", a sample of {self.sample_size}"
        return (f"Price impact on real usage (each subscription's current billing period so far; {sampled}, "
                f"{self.requests} request(s) to Lago)")

    def lines(self, limit: int = 20) -> list[str]:
        """The rows (at most ``limit``; the JSON plan has all), the statistics, the self-check, the notes."""
        out = [f"= {r.line()}" for r in self.rows[:limit]]
        if len(self.rows) > limit:
            out.append(f"= ... and {len(self.rows) - limit} more subscription(s) (see the JSON plan)")
        out.extend(line for s in self.stats for line in s.lines())
        out.extend(f"! {m}" for m in self.mismatches)
        out.extend(f"note: {n}" for n in self.notes)
        return out


@dataclass(frozen=True)
class PolicyResult:
    """One billing policy of lagosync.yaml evaluated on a plan (lagosync.planner.policies)."""

    name: str
    kind: str
    violations: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "ok": self.ok, "violations": list(self.violations)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PolicyResult:
        return cls(d["name"], d["kind"], tuple(d.get("violations") or ()))

    def line(self) -> str:
        if self.ok:
            return f"policy '{self.name}' ({self.kind}): ok"
        return f"policy '{self.name}' ({self.kind}): violated: " + "; ".join(self.violations)


class Fingerprints(Mapping[str, str]):
    """``kind:key`` -> ``model.fingerprint`` (sha256 hex) of each live object a plan read, as plan
    documents write them. Held by kind and key, as digests: the keys are the live state's own strings,
    so 200,000 objects add their digests and little else. A fingerprint read from a plan document
    that is not hex is kept as written (it then matches nothing)."""

    __slots__ = ("_by_kind",)

    def __init__(self, by_kind: dict[str, dict[str, Any]] | None = None) -> None:
        self._by_kind = by_kind if by_kind is not None else {}

    @classmethod
    def read(cls, written: Mapping[str, Any]) -> Fingerprints:
        """From a plan document's ``fingerprints``."""
        by_kind: dict[str, dict[str, Any]] = {}
        for oid, value in written.items():
            kind, _, key = str(oid).partition(":")
            digest: Any = value  # kept as written unless it is hex
            if isinstance(value, str):
                try:
                    digest = bytes.fromhex(value)
                except ValueError:
                    pass
            by_kind.setdefault(kind, {})[key] = digest
        return cls(by_kind)

    def __getitem__(self, oid: str) -> str:
        kind, _, key = oid.partition(":")
        value = self._by_kind.get(kind, {})[key]
        return value.hex() if isinstance(value, bytes) else value

    def __iter__(self) -> Iterator[str]:
        return (f"{kind}:{key}" for kind, keys in self._by_kind.items() for key in keys)

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_kind.values())

    def __repr__(self) -> str:
        return f"Fingerprints({len(self)} objects)"


@dataclass(frozen=True)
class Plan:
    """The result of ``make_plan``: ordered operations plus what is needed to detect staleness."""

    environment: str
    lago_url: str | None
    workspace_digest: str
    created_at: str
    operations: tuple[Operation, ...] = ()
    unmanaged: tuple[tuple[str, str], ...] = ()
    fingerprints: Mapping[str, str] = field(default_factory=Fingerprints)
    unchanged: int = 0  # number of declared objects that already match (no-op, not listed)
    format_version: int = FORMAT_VERSION
    organization: str | None = None  # the organization the plan was made for (its API key's), when Lago says
    migrations: tuple[MigrationStatus, ...] = ()  # where each price migration stands (planner.migrations)
    policies: tuple[PolicyResult, ...] = ()  # the billing policies of lagosync.yaml (planner.policies)
    price_impact: tuple[PriceImpact, ...] = ()  # usage profiles priced before and after (lagosync.pricing.impact)
    usage_impact: UsageImpact | None = None  # real current usage priced before and after (lagosync.workflow)

    @property
    def has_changes(self) -> bool:
        return bool(self.operations)

    @property
    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ACTIONS}
        for op in self.operations:
            out[op.action.value] += 1
        out["no-op"] = self.unchanged
        return out

    @property
    def violated_policies(self) -> list[str]:
        return [p.name for p in self.policies if not p.ok]

    @property
    def pruned(self) -> bool:
        """Made with ``--prune`` deletes (the re-plan after applying it must prune too)."""
        return any(op.pruned for op in self.operations)

    def only_migrations(self) -> Plan:
        """This plan reduced to what its price migrations do (``apply --migrations``): their due moves and
        their records."""
        keep = tuple(op for op in self.operations if op.migration is not None or op.kind == "migration")
        return dataclasses.replace(self, operations=keep)

    def impacts(self) -> list[str]:
        """Blast-radius summary of the whole plan, in operation order."""
        return [line for op in self.operations for line in op.impacts()]

    @property
    def money_impact(self) -> list[tuple[Operation, Impact]]:
        """Every subscription that pays differently, with the operation that does it, in plan order."""
        return [(op, i) for op in self.operations for i in op.impact]

    def impacted_subscriptions(self) -> int:
        """How many subscriptions pay differently (counted ones included), each once."""
        named = {i.subscription for _, i in self.money_impact if i.subscription}
        return len(named) + sum(i.count for _, i in self.money_impact if not i.subscription)

    def totals_line(self) -> str:
        c = self.counts
        moves = f"{c['move']} to move, " if c["move"] else ""
        return (
            f"Plan: {c['create']} to create, {c['update']} to update, {c['replace']} to replace, "
            f"{c['migrate']} to migrate, {moves}{c['delete']} to delete."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "environment": self.environment,
            "lago_url": self.lago_url,
            "organization": self.organization,
            "migrations": [m.to_dict() for m in self.migrations],
            "policies": [p.to_dict() for p in self.policies],
            "price_impact": [p.to_dict() for p in self.price_impact],
            "usage_impact": self.usage_impact.to_dict() if self.usage_impact is not None else None,
            "workspace_digest": self.workspace_digest,
            "created_at": self.created_at,
            "has_changes": self.has_changes,
            "summary": self.counts,
            # the money impact first: which subscriptions pay differently, how, from when
            "impact": [{"operation": op.id, **i.to_dict()} for op, i in self.money_impact],
            "operations": [op.to_dict() for op in self.operations],
            "unmanaged": [{"kind": k, "key": key} for k, key in self.unmanaged],
            "fingerprints": dict(sorted(self.fingerprints.items())),
        }

    @classmethod
    def from_dict(cls, d: Any) -> Plan:
        """Read a plan document; unknown keys are ignored (consumers must do the same)."""
        if not isinstance(d, dict):
            raise ValueError(f"a plan document is a JSON object, not a JSON {type(d).__name__}")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            if isinstance(version, int) and version < FORMAT_VERSION:
                age = "an older lagosync"
            elif isinstance(version, int):
                age = "a newer lagosync"
            else:
                age = "something that is not lagosync"
            raise ValueError(
                f"plan format_version {version!r} was written by {age}; this lagosync reads format_version "
                f"{FORMAT_VERSION} only: make the plan again with this lagosync (lagosync plan --out FILE)"
            )
        summary = d.get("summary") or {}
        return cls(
            format_version=version,
            environment=d["environment"],
            lago_url=d.get("lago_url"),
            organization=d.get("organization"),
            migrations=tuple(MigrationStatus.from_dict(m) for m in d.get("migrations") or ()),
            policies=tuple(PolicyResult.from_dict(p) for p in d.get("policies") or ()),
            price_impact=tuple(PriceImpact.from_dict(p) for p in d.get("price_impact") or ()),
            usage_impact=UsageImpact.from_dict(d["usage_impact"]) if d.get("usage_impact") else None,
            workspace_digest=d["workspace_digest"],
            created_at=d["created_at"],
            operations=tuple(Operation.from_dict(o) for o in d.get("operations", ())),
            unmanaged=tuple((u["kind"], u["key"]) for u in d.get("unmanaged", ())),
            fingerprints=Fingerprints.read(d.get("fingerprints") or {}),
            unchanged=int(summary.get("no-op", 0)),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.from_dict(json.loads(text))
