"""``lagosync drift``: what changed in Lago outside lagosync.

Drift is the planner's comparison read the other way round: the same ``make_plan`` that tells
``apply`` what to write tells ``drift`` where Lago differs from the workspace, so the two can never
disagree (and normalisation lives only in ``lagosync.model``). Mapping of plan operations:

- ``create``                      -> ``missing``  (declared, absent from Lago)
- ``update`` / ``replace`` / plan-change ``migrate`` -> ``changed`` (field paths, declared, live)
- ``delete`` (``ensure: absent``) -> ``changed`` on the field ``ensure``
- ``migrate`` with reason ``customer_move`` -> ``user_customers`` (a pending user-to-org move)
- ``Plan.unmanaged``              -> ``unmanaged`` (in Lago, not declared)

plus user-based customers (``migration.is_user_customer``: ``migrate_from``, ``user_id_prefix`` or
``org_id_prefix``) that still have active subscriptions, coverage, and
ignore rules from ``lagosync.yaml``. The JSON document (``format_version`` 1) is a stable contract
read by CI workflows; its fields are documented in docs/drift-import.md "Drift".
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import fnmatch
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .client.connect import connect, resolve_environment
from .errors import UserError
from .kinds import KINDS, RANK, describe, kind_choices, parse_kind
from .planner import Action
from .planner.moves import is_user_customer
from .workflow import desired_state, read_and_plan
from .workspace import load_workspace

if TYPE_CHECKING:
    from .workspace.model import Location

FORMAT_VERSION = 1
FORMATS = ("text", "markdown", "json")


# --------------------------------------------------------------------------- ignore rules


@dataclass(frozen=True)
class IgnoreRule:
    """One ``ignore:`` item of lagosync.yaml. ``key`` and ``field`` accept ``*`` globs."""

    kind: str
    key: str
    reason: str
    field: str | None = None
    expires: _dt.date | None = None
    index: int = 0

    def label(self) -> str:
        where = f"{self.kind}:{self.key}"
        return f"{where} field {self.field}" if self.field else where

    def expired(self, today: _dt.date) -> bool:
        # The rule is valid through its expiry day and stops ignoring the day after.
        return self.expires is not None and today > self.expires

    def matches_object(self, kind: str, key: str) -> bool:
        return kind == self.kind and fnmatch.fnmatchcase(str(key), self.key)

    def matches_field(self, path: str) -> bool:
        f = self.field or ""
        return (
            path == f
            or path.startswith(f + ".")
            or path.startswith(f + "[")
            or fnmatch.fnmatchcase(path, f)
        )

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "key": self.key,
            "field": self.field,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def _parse_date(value: Any, where: str) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError:
        raise UserError(
            f"lagosync.yaml: {where}.expires: {value!r} is not a date (write it as YYYY-MM-DD)"
        ) from None


def parse_ignore_rules(items: list[dict] | None) -> list[IgnoreRule]:
    """Rules from ``Settings.ignore``; a malformed rule is a UserError saying what to fix."""
    rules: list[IgnoreRule] = []
    for i, item in enumerate(items or []):
        where = f"ignore[{i}]"
        if not isinstance(item, dict):
            raise UserError(f"lagosync.yaml: {where}: expected a mapping with kind, key and reason")
        written, key, reason = item.get("kind"), item.get("key"), item.get("reason")
        kind = parse_kind(written) if isinstance(written, str) else None
        if kind is None:
            raise UserError(
                f"lagosync.yaml: {where}.kind: {written!r} is not a kind (use one of {kind_choices()})"
            )
        if not key:
            raise UserError(f"lagosync.yaml: {where}.key: required (a code or external id, '*' globs allowed)")
        if not reason or not str(reason).strip():
            raise UserError(f"lagosync.yaml: {where}.reason: required (say why this drift is accepted)")
        rules.append(
            IgnoreRule(
                kind=kind,
                key=str(key),
                reason=str(reason),
                field=str(item["field"]) if item.get("field") else None,
                expires=_parse_date(item.get("expires"), where),
                index=i,
            )
        )
    return rules


# --------------------------------------------------------------------------- report


@dataclass
class DriftReport:
    """The drift of one environment. ``to_dict()`` is the documented JSON (format_version 1)."""

    environment: str
    lago_url: str | None
    generated_at: str
    changed: list[dict] = field(default_factory=list)       # {kind,key,id,source,fields:[{path,declared,live}]}
    missing: list[dict] = field(default_factory=list)       # {kind,key,id,source}
    unmanaged: list[dict] = field(default_factory=list)     # {kind,key,id}
    user_customers: list[dict] = field(default_factory=list)  # {external_id, subscriptions, migrating_to}
    coverage: dict = field(default_factory=dict)
    ignored: list[dict] = field(default_factory=list)       # {rule, kind, key, path?}
    warnings: list[str] = field(default_factory=list)

    @property
    def has_drift(self) -> bool:
        return bool(self.changed or self.missing or self.unmanaged or self.user_customers)

    @property
    def exit_code(self) -> int:
        return 2 if self.has_drift else 0

    def content(self) -> dict:
        """What the fingerprint covers: the drift itself, no timestamps, urls or warnings."""
        return {
            "changed": [
                {"id": c["id"], "fields": [[f["path"], f["declared"], f["live"]] for f in c["fields"]]}
                for c in self.changed
            ],
            "missing": [m["id"] for m in self.missing],
            "unmanaged": [u["id"] for u in self.unmanaged],
            "user_customers": [
                [u["external_id"], [s["external_id"] for s in u["subscriptions"]]] for u in self.user_customers
            ],
        }

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    @property
    def summary(self) -> dict[str, int]:
        return {
            "changed": len(self.changed),
            "missing": len(self.missing),
            "unmanaged": len(self.unmanaged),
            "user_customers": len(self.user_customers),
            "ignored": len(self.ignored),
        }

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "environment": self.environment,
            "lago_url": self.lago_url,
            "generated_at": self.generated_at,
            "has_drift": self.has_drift,
            "fingerprint": self.fingerprint,
            "summary": self.summary,
            "coverage": self.coverage,
            "changed": self.changed,
            "missing": self.missing,
            "unmanaged": self.unmanaged,
            "user_customers": self.user_customers,
            "ignored": self.ignored,
            "warnings": self.warnings,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def _source(sources: Mapping[tuple[str, str], Location] | None, kind: str, key: str) -> str | None:
    loc = (sources or {}).get((kind, key))
    if loc is None:
        return None
    file, line = loc.file, loc.line
    return f"{file}:{line}" if file and line else (str(file) if file else None)


def compute_drift(
    plan,
    *,
    desired: dict[str, dict[str, Any]],
    live_state: dict[str, dict[str, Any]],
    user_subscriptions: dict[str, list[dict]] | None = None,
    migrate_from: dict[str, str] | None = None,
    user_id_prefix: str | None = None,
    org_id_prefix: str | None = None,
    ignore: list[dict] | None = None,
    sources: Mapping[tuple[str, str], Location] | None = None,
    today: _dt.date | None = None,
) -> DriftReport:
    """Build the drift report from a ``Plan`` (pure).

    ``desired`` / ``live_state``: kind -> key -> canonical (only the keys are used here, for
    coverage). ``user_subscriptions``: customer external_id -> its active subscriptions
    (``LiveFacts.user_subscriptions``). ``migrate_from``: user id -> org external_id.
    """
    today = today or _dt.date.today()
    rules = parse_ignore_rules(ignore)
    report = DriftReport(environment=plan.environment, lago_url=plan.lago_url, generated_at=plan.created_at)
    active: list[IgnoreRule] = []
    for r in rules:
        if r.expired(today):
            assert r.expires is not None  # expired() is False without an expiry date
            report.warnings.append(
                f"ignore rule {r.label()} expired on {r.expires.isoformat()} (reason was: {r.reason}); "
                "its drift is reported again: renew 'expires' or remove the rule from lagosync.yaml"
            )
        else:
            active.append(r)

    def object_rule(kind: str, key: str) -> IgnoreRule | None:
        return next((r for r in active if r.field is None and r.matches_object(kind, key)), None)

    def field_rule(kind: str, key: str, path: str) -> IgnoreRule | None:
        return next(
            (r for r in active if r.field is not None and r.matches_object(kind, key) and r.matches_field(path)),
            None,
        )

    def ignored(rule: IgnoreRule, kind: str, key: str, path: str | None = None) -> None:
        entry = {"kind": kind, "key": key, "id": f"{kind}:{key}", "rule": rule.to_dict()}
        if path is not None:
            entry["path"] = path
        report.ignored.append(entry)

    for op in plan.operations:
        kind, key = op.kind, op.key
        if op.action is Action.MOVE:
            continue  # reported under user_customers below, from live facts
        rule = object_rule(kind, key)
        if rule:
            ignored(rule, kind, key)
            continue
        if op.action == "create":
            report.missing.append(
                {"kind": kind, "key": key, "id": op.id, "source": _source(sources, kind, key)}
            )
            continue
        if op.action == "no-op":
            continue
        if op.action == "delete":
            pairs = [("ensure", "absent", "present")]
        else:
            # Change.old is the live value, Change.new the declared one (planner: live -> desired).
            pairs = [(c.path, c.new, c.old) for c in op.changes]
        fields = []
        for path, declared, live in pairs:
            frule = field_rule(kind, key, path)
            if frule:
                ignored(frule, kind, key, path)
            else:
                fields.append({"path": path, "declared": declared, "live": live})
        if fields:
            report.changed.append(
                {"kind": kind, "key": key, "id": op.id, "source": _source(sources, kind, key), "fields": fields}
            )

    migrate_from = migrate_from or {}
    for kind, key in plan.unmanaged:
        if kind == "customer" and key in migrate_from:
            # a user customer that an org's migrate_from names is accounted for by the workspace:
            # reported under user_customers while it has active subscriptions, silent once moved
            continue
        rule = object_rule(kind, key)
        if rule:
            ignored(rule, kind, key)
        else:
            report.unmanaged.append({"kind": kind, "key": key, "id": f"{kind}:{key}"})

    for uid in sorted(user_subscriptions or {}):
        subs = [s for s in (user_subscriptions or {})[uid] if s.get("status", "active") == "active"]
        is_user = is_user_customer(uid, migrate_from=migrate_from, user_id_prefix=user_id_prefix,
                                   org_id_prefix=org_id_prefix, declared=(desired or {}).get("customer") or {})
        if not subs or not is_user:
            continue
        rule = object_rule("customer", uid)
        if rule:
            ignored(rule, "customer", uid)
            continue
        report.user_customers.append(
            {
                "external_id": uid,
                "subscriptions": [
                    {"external_id": s.get("external_id"), "plan_code": s.get("plan_code")}
                    for s in sorted(subs, key=lambda s: str(s.get("external_id")))
                ],
                "migrating_to": migrate_from.get(uid),
            }
        )

    report.changed.sort(key=lambda c: (RANK.get(c["kind"], 99), c["key"]))
    report.missing.sort(key=lambda c: (RANK.get(c["kind"], 99), c["key"]))
    report.unmanaged.sort(key=lambda c: (RANK.get(c["kind"], 99), c["key"]))
    report.coverage = coverage(desired, live_state, plan.unmanaged, referenced={"customer": set(migrate_from)})
    return report


def coverage(desired: dict, live_state: dict, unmanaged, referenced: dict | None = None) -> dict:
    """Share of live objects that the workspace declares, overall and per kind.

    ``referenced``: kind -> keys the workspace names without declaring them (the user customers of
    an org's ``migrate_from``); they count as covered."""
    by_kind: dict[str, dict] = {}
    total = covered = 0
    extra: dict[str, set] = {}
    for kind, key in unmanaged:
        extra.setdefault(kind, set()).add(key)
    for kind in KINDS:
        live_keys = set((live_state or {}).get(kind, {})) | extra.get(kind, set())
        declared = (set((desired or {}).get(kind, {})) | (referenced or {}).get(kind, set())) & live_keys
        if not live_keys:
            continue
        by_kind[kind] = {"declared": len(declared), "live": len(live_keys)}
        total += len(live_keys)
        covered += len(declared)
    return {
        "declared": covered,
        "live": total,
        # one decimal, as a string: stable across platforms, never a float in the contract
        "percent": _percent(covered, total),
        "by_kind": by_kind,
    }


def _percent(part: int, whole: int) -> str:
    if whole == 0:
        return "100.0"
    tenths = (part * 1000 + whole // 2) // whole
    return f"{tenths // 10}.{tenths % 10}"


# --------------------------------------------------------------------------- renderers



def _v(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _label(kind: str, key: str) -> str:
    return describe(kind, key)


def _totals(report: DriftReport) -> str:
    s = report.summary
    return (
        f"{s['changed']} changed, {s['missing']} missing, {s['unmanaged']} unmanaged, "
        f"{s['user_customers']} user customer{'s' if s['user_customers'] != 1 else ''} with active subscriptions"
    )


def render_text(report: DriftReport) -> str:
    cov = report.coverage
    lines = [f"Drift of environment '{report.environment}'" + (f" ({report.lago_url})" if report.lago_url else "")]
    for w in report.warnings:
        lines.append(f"warning: {w}")
    for c in report.changed:
        src = f" ({c['source']})" if c.get("source") else ""
        lines.append(f"  ~ {_label(c['kind'], c['key'])} changed in Lago{src}")
        for f in c["fields"]:
            lines.append(f"      {f['path']}: declared {_v(f['declared'])}, live {_v(f['live'])}")
    for m in report.missing:
        src = f" ({m['source']})" if m.get("source") else ""
        lines.append(f"  - {_label(m['kind'], m['key'])} is declared{src} but missing from Lago")
    for u in report.unmanaged:
        lines.append(f"  ? {_label(u['kind'], u['key'])} is in Lago but not declared")
    for u in report.user_customers:
        subs = ", ".join(f"'{s['external_id']}' on '{s['plan_code']}'" for s in u["subscriptions"])
        tail = (
            f"; orgs.yaml moves it to org '{u['migrating_to']}' (run plan/apply)"
            if u["migrating_to"]
            else "; declare its org with migrate_from in orgs.yaml to move it"
        )
        lines.append(f"  ! user customer '{u['external_id']}' still has active subscriptions: {subs}{tail}")
    if report.ignored:
        lines.append(f"  ({len(report.ignored)} difference{'s' if len(report.ignored) != 1 else ''} "
                     "hidden by ignore rules in lagosync.yaml)")
    lines.append(f"Coverage: the workspace declares {cov.get('declared', 0)} of {cov.get('live', 0)} "
                 f"live objects ({cov.get('percent', '100.0')}%).")
    if report.has_drift:
        lines.append(f"Drift: {_totals(report)}.")
    else:
        lines.append("No drift: Lago matches the workspace.")
    lines.append(f"Drift fingerprint: {report.fingerprint}")
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    return "`" + _v(value).replace("|", "\\|").replace("`", "'") + "`"


def render_markdown(report: DriftReport) -> str:
    cov = report.coverage
    out = [f"### lagosync drift: `{report.environment}`", ""]
    if report.has_drift:
        out.append(f"**Drift detected**: {_totals(report)}.")
    else:
        out.append("**No drift**: Lago matches the workspace.")
    out.append("")
    for w in report.warnings:
        out.append(f"> ⚠️ {w}")
    if report.warnings:
        out.append("")
    if report.changed:
        out += ["#### Changed in Lago", "", "| object | field | declared | live |", "|---|---|---|---|"]
        for c in report.changed:
            for f in c["fields"]:
                out.append(f"| `{c['id']}` | `{f['path']}` | {_md(f['declared'])} | {_md(f['live'])} |")
        out.append("")
    if report.missing:
        out += ["#### Declared but missing from Lago", ""]
        out += [f"- `{m['id']}`" + (f" ({m['source']})" if m.get("source") else "") for m in report.missing]
        out.append("")
    if report.unmanaged:
        out += ["#### In Lago but not declared", ""]
        out += [f"- `{u['id']}`" for u in report.unmanaged]
        out.append("")
    if report.user_customers:
        out += ["#### User customers with active subscriptions", "", "| customer | subscriptions | moving to |",
                "|---|---|---|"]
        for u in report.user_customers:
            subs = ", ".join(f"`{s['external_id']}` ({s['plan_code']})" for s in u["subscriptions"])
            out.append(f"| `{u['external_id']}` | {subs} | {('`' + u['migrating_to'] + '`') if u['migrating_to'] else '-'} |")
        out.append("")
    if report.ignored:
        out.append(f"{len(report.ignored)} difference(s) hidden by ignore rules in `lagosync.yaml`.")
        out.append("")
    out.append(f"Coverage: {cov.get('declared', 0)} of {cov.get('live', 0)} live objects declared "
               f"({cov.get('percent', '100.0')}%).")
    out.append("")
    out.append(f"Drift fingerprint: `{report.fingerprint}`")
    return "\n".join(out) + "\n"


def render(report: DriftReport, fmt: str = "text") -> str:
    if fmt == "json":
        return report.to_json()
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "text":
        return render_text(report)
    raise UserError(f"unknown drift format {fmt!r} (use one of {', '.join(FORMATS)})")


# --------------------------------------------------------------------------- I/O entry point


async def drift_async(root=".", env: str | None = None, *, client_factory=None,
                      today: _dt.date | None = None) -> DriftReport:
    """Load the workspace, read every live object of ``env`` and return its drift (no writes)."""
    workspace = load_workspace(root)
    settings = workspace.settings
    rules_items = list(settings.ignore)
    parse_ignore_rules(rules_items)  # a malformed rule fails before any request
    env_name = resolve_environment(workspace, env).name
    desired = desired_state(workspace)
    async with (client_factory or connect)(workspace, env_name) as client:
        # the plan's own path; read_wide lists every customer and subscription (unmanaged, coverage)
        live, plan = await read_and_plan(workspace, client, env_name, prune=False, read_wide=True, usage=False,
                                         desired=desired)
    facts = live.facts
    return compute_drift(
        plan,
        desired=desired,
        live_state=live.state,
        user_subscriptions=facts.user_subscriptions,
        migrate_from=facts.migrate_from,
        user_id_prefix=settings.user_id_prefix,
        org_id_prefix=settings.org_id_prefix,
        ignore=rules_items,
        sources=workspace.sources,
        today=today,
    )


def run_drift(root=".", env: str | None = None, fmt: str = "text", *, client_factory=None,
              today: _dt.date | None = None) -> tuple[str, int]:
    """(rendered report, exit code): 0 no drift, 2 drift; errors raise LagosyncError (exit 1)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r} (use one of {', '.join(FORMATS)})")
    report = asyncio.run(drift_async(root, env, client_factory=client_factory, today=today))
    return render(report, fmt), report.exit_code
