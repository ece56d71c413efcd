"""Plan versions as the workspace addresses them: price-change policy, version pins, migrations.

A declared plan ``X`` has versions 1, 2, ... in Lago (``X`` itself, then ``X__v2``, ... made by lagosync;
docs/ARCHITECTURE.md "Plan versions"). The workspace never writes ``__v`` codes: a plan says how a price
change reaches its subscribers (``price_change``: ``in_place``, Lago's own way, or ``new_version``:
existing subscribers stay on their version, grandfathered), a subscription may pin a version
(``plan_version: N``), and migrations move cohorts between versions over time (planner.migrations).

The live state names a subscription's plan ``X`` when it is on the current version and ``X__v<N>`` when
it is on an older one (lagosync.live); these helpers turn that back into (declared code, version).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..facts import LiveFacts
from ..kinds import PRICE_CHANGES, split_version, version_code


@dataclass(frozen=True)
class Migration:
    """A ``migrations`` item of plans/*.yaml (validated by the workspace)."""

    code: str
    plan_code: str
    to_version: int | None = None  # default: the newest
    from_versions: tuple[int, ...] | None = None  # default: every other version
    orgs: tuple[str, ...] | None = None
    metadata: Mapping[str, str] | None = None
    sample: int | None = None
    at: str = "period_end"  # now | period_end | YYYY-MM-DD
    notice_days: int = 0

    @classmethod
    def from_workspace(cls, raw: Mapping[str, Any]) -> Migration:
        return cls(
            code=str(raw["code"]), plan_code=str(raw["plan_code"]), to_version=raw.get("to_version"),
            from_versions=tuple(raw["from_versions"]) if raw.get("from_versions") else None,
            orgs=tuple(raw["orgs"]) if raw.get("orgs") else None,
            metadata=dict(raw["metadata"]) if raw.get("metadata") else None,
            sample=raw.get("sample"), at=str(raw.get("at") or "period_end"),
            notice_days=int(raw.get("notice_days") or 0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "plan_code": self.plan_code, "to_version": self.to_version,
                "from_versions": list(self.from_versions) if self.from_versions else None,
                "orgs": list(self.orgs) if self.orgs else None, "metadata": dict(self.metadata or {}) or None,
                "sample": self.sample, "at": self.at, "notice_days": self.notice_days}


@dataclass(frozen=True)
class Directives:
    """What the workspace says about versions, beside the objects: pure data for the planner."""

    price_change: Mapping[str, str] = field(default_factory=dict)  # declared plan code -> policy
    default_price_change: str = "in_place"
    pins: Mapping[str, int] = field(default_factory=dict)  # subscription external_id -> plan version
    migrations: tuple[Migration, ...] = ()
    today: _dt.date | None = None  # Lago's date (the emulator's clock for `local`); None: the machine's

    def policy(self, plan: str) -> str:
        return self.price_change.get(plan, self.default_price_change)

    def date(self) -> _dt.date:
        return self.today or _dt.datetime.now(_dt.timezone.utc).date()

    @classmethod
    def from_workspace(cls, desired: Mapping[str, Mapping[str, Mapping[str, Any]]], default: str = "in_place",
                       today: _dt.date | None = None) -> Directives:
        """From the raw workspace objects (``Workspace.desired``) and lagosync.yaml's ``price_change``."""
        plans = desired.get("plan") or {}
        subs = desired.get("subscription") or {}
        return cls(
            price_change={code: str(p["price_change"]) for code, p in plans.items()
                          if isinstance(p, Mapping) and p.get("price_change") in PRICE_CHANGES},
            default_price_change=default if default in PRICE_CHANGES else "in_place",
            pins={key: int(s["plan_version"]) for key, s in subs.items()
                  if isinstance(s, Mapping) and isinstance(s.get("plan_version"), int)},
            migrations=tuple(Migration.from_workspace(m) for _, m in sorted((desired.get("migration") or {}).items())
                             if isinstance(m, Mapping) and m.get("ensure") != "absent"),
            today=today,
        )


def current_version(facts: LiveFacts, plan: str) -> int:
    """The number of the plan's current version (1 when lagosync never made one)."""
    live = facts.plan_versions.get(plan, plan)
    numbers = {code: n for n, code in (facts.versions.get(plan) or {}).items()}
    return numbers.get(live) or split_version(live)[1]


def sub_version(facts: LiveFacts, plan_code: str) -> tuple[str, int]:
    """(declared plan, version) of a subscription's plan as the live state names it."""
    base, n = split_version(plan_code)
    if base == plan_code:  # no suffix: the declared code's current version
        return plan_code, current_version(facts, plan_code)
    return base, n


def state_code(facts: LiveFacts, plan: str, version: int) -> str:
    """How the live state names version ``version`` of ``plan``: ``X`` when current, else ``X__v<N>``."""
    return plan if version == current_version(facts, plan) else version_code(plan, version)


def live_code(facts: LiveFacts, plan: str, version: int) -> str | None:
    """The Lago code of version ``version`` of ``plan`` (None when Lago has no such version)."""
    return (facts.versions.get(plan) or {}).get(version)


def wanted_plan_code(facts: LiveFacts, directives: Directives, sub: str, live_plan: str | None,
                     desired_plan: str) -> str:
    """The plan (state naming) a declared subscription should be on.

    A pinned version is wanted as pinned. Under ``new_version``, an existing subscription already on a
    version of the declared plan stays there (grandfathered; a migration moves it). Otherwise the
    declared plan's current version."""
    pin = directives.pins.get(sub)
    if pin is not None and (facts.versions.get(desired_plan) or {}).get(pin):
        return state_code(facts, desired_plan, pin)
    if live_plan is not None and directives.policy(desired_plan) == "new_version":
        base, _ = sub_version(facts, live_plan)
        if base == desired_plan:
            return live_plan
    return desired_plan
