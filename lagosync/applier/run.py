"""``apply``: plan (or load a saved plan), check, confirm, execute, verify, re-plan.

Exit codes (docs/apply.md): 0 applied and converged (or nothing to do); 1 an error, a refusal
(no terminal without --auto-approve, destructive or re-pricing operation without its flag,
preflight failure, lock held) or a partial failure; 3 the saved plan is stale or was made for
another environment, Lago URL, organization or workspace.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..client.connect import connect, resolve_environment
from ..errors import LagosyncError, UserError
from ..kinds import KINDS, describe, references
from ..live import read_live
from ..planner.ops import Action
from ..planner.stale import live_fingerprints
from ..planner.targeting import Targeting, apply_targeting
from ..render import render_text
from ..workflow import desired_state, load_saved_plan, read_and_plan
from ..workspace import load_workspace
from .audit import AuditLog
from .execute import Context, Outcome, run_all
from .lock import ApplyLock
from .verify import verify_response

if TYPE_CHECKING:
    from ..workspace import Workspace

STALE_EXIT_CODE = 3


class StalePlanError(UserError):
    """The saved plan no longer matches Lago or the workspace; make a new plan."""

    exit_code = STALE_EXIT_CODE


class ApplyRefused(UserError):
    """lagosync will not start this apply (nothing was written)."""


class ApplyFailed(LagosyncError):
    """Some operations failed or were skipped, or Lago did not converge (summary printed)."""


@dataclass
class ApplyResult:
    plan: Any
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    not_converged: list[str] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)

    def ids(self, status: str) -> list[str]:
        return [k for k, o in self.outcomes.items() if o.status == status]

    @property
    def ok(self) -> bool:
        return all(o.status == "done" for o in self.outcomes.values()) and not self.not_converged


def is_destructive(op) -> bool:
    """Needs --allow-destroy: deletes, and operations with a reason in ``DESTROY_REASONS`` (a metric
    delete, a subscription termination incl. a user-to-org move, a charge Lago deletes): the same
    rule as the ``lagosync:destroy`` PR label."""
    return op.destructive


def is_reprice(op) -> bool:
    """Needs --allow-reprice: in-place price changes hitting active subscribers, subscription plan
    changes (upgrade now / downgrade at period end), versions that move subscribers: the same rule
    as the ``lagosync:reprice`` PR label."""
    return op.reprices


# ------------------------------------------------------------------ desired state and plan
# One planning path: lagosync.workflow builds the desired state and the plan for plan, apply, drift
# (desired_state is re-exported by lagosync.applier).


# ------------------------------------------------------------------ checks


def check_saved_plan(plan, live, *, environment: str, lago_url: str | None, digest: str) -> None:
    """Refuse a saved plan made elsewhere, or whose objects changed in Lago since (exit 3)."""
    if plan.environment != environment:
        raise StalePlanError(
            f"plan was made for environment '{plan.environment}', not '{environment}': "
            f"apply it with -e {plan.environment}, or make a new plan"
        )
    if plan.lago_url and lago_url and plan.lago_url.rstrip("/") != lago_url.rstrip("/"):
        raise StalePlanError(
            f"plan was made for Lago at {plan.lago_url}, but environment '{environment}' is {lago_url}: "
            "make a new plan"
        )
    organization = live.facts.organization
    if plan.organization and organization and plan.organization != organization:
        raise StalePlanError(
            f"plan was made for organization '{plan.organization}', but the API key of environment "
            f"'{environment}' belongs to organization '{organization}': make a new plan with this key, "
            f"or apply the plan with a key of '{plan.organization}'"
        )
    if plan.workspace_digest != digest:
        raise StalePlanError(
            "plan is stale: the workspace files changed since the plan was made; run lagosync plan again"
        )
    problems: list[str] = []
    state = live.state
    now = live_fingerprints(live)
    seen: set[str] = set()
    for oid, recorded in sorted(plan.fingerprints.items()):
        kind, _, key = oid.partition(":")
        seen.add(oid)
        current = now.get(oid)
        if current is None:
            problems.append(f"{describe(kind, key)} was deleted since the plan was made")
        elif current != recorded:
            problems.append(f"{describe(kind, key)} changed since the plan was made")
    for op in plan.operations:
        if op.id not in seen and (state.get(op.kind) or {}).get(op.key) is not None:
            problems.append(f"{op.label} was created since the plan was made")
    if problems:
        raise StalePlanError("plan is stale: " + "; ".join(problems) + "; run lagosync plan again")


def preflight(plan, live, desired: dict) -> list[str]:
    """Problems found before any write: the operations the planner marked blocked (Lago would refuse
    or silently ignore them; the planner knows every such rule) and references that cannot resolve."""
    problems: list[str] = []
    ops = list(plan.operations)
    deleting = {op.id for op in ops if op.action is Action.DELETE}
    creating = {op.id for op in ops if op.action is not Action.DELETE}
    existing = {f"{k}:{key}" for k, objs in (live.state or {}).items() for key in objs}
    existing |= {f"{k}:{key}" for k, objs in (live.raw or {}).items() for key in objs}
    for op in ops:
        if op.block is not None:
            paths = ", ".join(op.block.locked_paths)
            if paths:
                problems.append(f"{op.label}: cannot change {paths}: {op.block.why} ({op.block.hint})")
            else:  # Lago refuses it outright; the hint says why and what to do
                problems.append(f"{op.label}: cannot be applied: {op.block.hint}")
    # every reference of what will exist afterwards must resolve (codes -> lago_ids at write time)
    for kind in KINDS:
        for key, obj in (desired.get(kind) or {}).items():
            if obj.get("ensure") == "absent":
                continue
            for ref in sorted(references(kind, obj)):
                rkind, _, rkey = ref.partition(":")
                what = f"{describe(kind, key)} refers to {describe(rkind, rkey)}"
                if ref in deleting:
                    problems.append(f"{what}, which this plan deletes")
                elif ref not in existing and ref not in creating:
                    problems.append(f"{what}, which is neither in Lago nor in the workspace")
    return problems


def _planned_or_live(desired: dict, plan, live) -> dict:
    """The declared objects a targeted plan can rely on: those it changes and those Lago has (one
    left out by --target/--exclude is not created, so its references need not resolve)."""
    planned = {op.id for op in plan.operations}
    return {kind: {key: obj for key, obj in objs.items()
                   if f"{kind}:{key}" in planned or key in (live.state.get(kind) or {})}
            for kind, objs in desired.items()}


# ------------------------------------------------------------------ the apply


async def apply_async(
    workspace_dir: str | Path | Workspace = ".",
    env: str | None = None,
    *,
    plan_file: str | Path | None = None,
    auto_approve: bool = False,
    allow_destroy: bool = False,
    allow_reprice: bool = False,
    prune: bool = False,
    log_format: str = "text",
    concurrency: int = 4,
    confirm: Callable[[str], bool] | None = None,
    out: Callable[[str], None] | None = None,
    err: Callable[[str], None] | None = None,
    tty: bool = False,
    client_factory: Callable[[Any, str], Any] | None = None,
    color: bool = False,
    migrations_only: bool = False,
    override_policies: tuple[str, ...] = (),
    targeting: Targeting | None = None,
) -> ApplyResult:
    """Run one apply. Raises ApplyRefused / StalePlanError before any write, ApplyFailed after."""
    if log_format not in ("text", "json"):
        raise UserError(f"unknown --log-format {log_format!r} (use text or json)")
    out = out or (lambda s: print(s, flush=True))
    err = err or (lambda s: print(s, file=sys.stderr, flush=True))
    say = err if log_format == "json" else out  # with json logs, stdout carries only JSON lines

    saved = None
    if plan_file is not None:
        file = load_saved_plan(plan_file)
        saved = file.plan
        # the re-plan after apply must see what the saved plan saw: a plan made with --prune prunes
        prune = prune or saved.pruned
        if targeting is None or not targeting.active:  # a plan saved with --target re-plans with it
            targeting = file.targeting
    targeting = targeting or Targeting()

    # a loaded Workspace may be passed instead of a directory (tests, callers that already loaded it)
    workspace = load_workspace(workspace_dir) if isinstance(workspace_dir, (str, Path)) else workspace_dir
    env_name = resolve_environment(workspace, env).name
    factory = client_factory or connect
    desired = desired_state(workspace)  # built once: the plan, preflight and the re-plan share it
    with ApplyLock(workspace.root, env_name):
        client = factory(workspace, env_name)
        async with client:
            if saved is not None:
                # read wide (every customer/subscription): a plan made with --prune fingerprinted them
                live = await read_live(client, workspace, prune=True)
                check_saved_plan(saved, live, environment=env_name, lago_url=getattr(client, "base_url", None),
                                 digest=workspace.digest)
                plan = saved
            else:
                live, plan = await read_and_plan(workspace, client, env_name, prune=prune, desired=desired)
            if migrations_only:  # the scheduled run: what the price migrations need, nothing else
                plan = plan.only_migrations()
            plan, targeted = apply_targeting(plan, targeting)  # --target / --exclude

            say(render_text(plan, color=color, warnings=targeted).rstrip("\n"))
            if not plan.has_changes:
                say("No changes. Lago matches the workspace.")
                return ApplyResult(plan)

            problems = preflight(plan, live, _planned_or_live(desired, plan, live) if targeting.active else desired)
            if problems:
                raise ApplyRefused("preflight found problems; nothing was written:\n  - "
                                   + "\n  - ".join(problems))

            _check_policies(plan, override_policies)
            _approve(plan, env_name, saved is not None, auto_approve=auto_approve,
                     allow_destroy=allow_destroy, allow_reprice=allow_reprice, confirm=confirm)

            audit = AuditLog(Path(workspace.root) / ".lagosync" / "audit.jsonl", env_name,
                             echo=out if log_format == "json" else None)
            declared = workspace.desired.get("customer") or {}

            def verify(kind, response, after):
                return verify_response(kind, response, after,
                                       declared=declared.get(after.get("external_id")) if kind == "customer" else None)

            for name in sorted(set(override_policies) & set(plan.violated_policies)):
                audit.write(operation="override_policy", obj=f"policy:{name}", method="-", path="-",
                            status=None, outcome="overridden", error="applied although the policy is violated")
            ctx = Context.from_live(client, audit, live, verify=verify, declared=workspace.desired)
            total = sum(1 for op in plan.operations if op.action != "no-op")
            counter = {"n": 0, "bar": False}  # bar: the progress bar is drawn on the current line

            def progress(op, outcome: Outcome) -> None:
                counter["n"] += 1
                n = counter["n"]
                if outcome.status == "done":
                    line = f"[{n}/{total}] {outcome.message}"
                else:
                    line = f"[{n}/{total}] {outcome.status}: {op.id}: {outcome.message}"
                if tty and log_format == "text" and outcome.status == "done":
                    # on a terminal: one progress bar with counts, redrawn in place
                    sys.stdout.write("\r" + progress_bar(n, total, outcome.message))
                    counter["bar"] = n != total
                    if n == total:
                        sys.stdout.write("\n")
                    sys.stdout.flush()
                else:
                    if counter["bar"]:  # a failure gets a line of its own below the bar
                        sys.stdout.write("\n")
                        sys.stdout.flush()
                        counter["bar"] = False
                    say(line)

            outcomes = await run_all(plan.operations, ctx, concurrency=concurrency, on_done=progress)
            result = ApplyResult(plan, outcomes, audit=audit.records)

            # after apply, plan again: it must be empty (principle 4)
            try:
                _, again = await read_and_plan(workspace, client, env_name, prune=prune, desired=desired,
                                               usage=False)
                if migrations_only:
                    again = again.only_migrations()
                again = apply_targeting(again, targeting)[0]
                result.not_converged = [op.describe() for op in again.operations]
            except LagosyncError as exc:
                result.not_converged = [f"could not re-plan after apply: {exc}"]

    _summary(result, say, targeted=targeting.active)
    if not result.ok:
        raise ApplyFailed("apply did not complete; fix the errors above and run lagosync apply again "
                          "(it finishes what is left, nothing is done twice)")
    return result


def _check_policies(plan, overrides: tuple[str, ...]) -> None:
    """A plan that violates a billing policy is applied only when each such policy is named with
    --override-policy (lagosync.planner.policies)."""
    unknown = sorted(set(overrides) - {p.name for p in plan.policies})
    if unknown:
        raise ApplyRefused(f"--override-policy {', '.join(unknown)}: no such policy applies to this plan "
                           f"(its policies: {', '.join(p.name for p in plan.policies) or 'none'})")
    missing = [p for p in plan.policies if not p.ok and p.name not in overrides]
    if missing:
        raise ApplyRefused("refusing to apply: this plan violates billing policies of lagosync.yaml; nothing was "
                           "written:\n  - " + "\n  - ".join(p.line() for p in missing)
                           + "\nrevise the change, or add --override-policy " + " --override-policy ".join(
                               p.name for p in missing) + " once it is approved (the audit log records it)")


def progress_bar(n: int, total: int, message: str, width: int = 24, columns: int = 100) -> str:
    """The terminal progress line: ``[#########-----------]  9/23 created plan 'starter'``,
    padded to ``columns`` so a shorter message erases the previous one."""
    total = max(total, 1)
    filled = min(width, n * width // total)
    count = f"{n:>{len(str(total))}}/{total}"
    line = f"[{'#' * filled}{'-' * (width - filled)}] {count} {message}"
    return f"{line[:columns]:<{columns}}"


def _approve(plan, env_name: str, is_saved: bool, *, auto_approve: bool, allow_destroy: bool,
             allow_reprice: bool, confirm) -> None:
    destroy = [op for op in plan.operations if is_destructive(op)]
    reprice = [op for op in plan.operations if is_reprice(op)]
    need: list[str] = []  # one heading per missing flag, then its operations one per line
    if destroy and not allow_destroy:
        need.append("--allow-destroy: this plan destroys (deletes, terminations):")
        need += [f"  - {op.describe()}" for op in destroy]
    if reprice and not allow_reprice:
        need.append("--allow-reprice: this plan re-prices existing subscribers:")
        need += [f"  - {op.describe()}" for op in reprice]
    if is_saved and not need:
        return  # a saved plan is the reviewed plan: no prompt (like terraform apply plan.tfplan)
    if auto_approve or (is_saved and confirm is None):
        if need:
            flags = " ".join(line.split(":")[0] for line in need if line.startswith("--"))
            raise ApplyRefused("refusing to apply without explicit permission; nothing was written\n"
                               + "\n".join(need)
                               + f"\nreview these operations, then run again with {flags}")
        return
    if confirm is None:
        raise ApplyRefused(
            "refusing to apply: no terminal to ask for confirmation; review the plan and run again "
            "with --auto-approve (plus --allow-destroy / --allow-reprice if the plan needs them), "
            "or apply a reviewed saved plan: lagosync apply plan.json"
        )
    lines = [f"Apply these changes to environment '{env_name}'?"]
    if need:
        lines.append("WARNING: review these operations (without this prompt, each group needs its flag):")
        lines += [f"  {n}" for n in need]
    lines.append("Only 'yes' will be accepted")
    if not confirm("\n".join(lines)):
        raise ApplyRefused("apply cancelled; nothing was written")


_DONE_WORDS = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced",
               "migrate": "migrated", "move": "moved"}


def _summary(result: ApplyResult, say, *, targeted: bool = False) -> None:
    done, failed, skipped = result.ids("done"), result.ids("failed"), result.ids("skipped")
    done_ids = set(done)  # a set: a list's `in` made the summary of a 100,000-org apply quadratic
    actions: dict[str, int] = {}  # what was done, per action, in the plan's order of actions
    for op in result.plan.operations:
        if op.id in done_ids:
            actions[str(op.action)] = actions.get(str(op.action), 0) + 1
    per_action = f" ({', '.join(f'{n} {_DONE_WORDS.get(a, a)}' for a, n in actions.items())})" if actions else ""
    say(f"Apply summary: {len(done)} done{per_action}, {len(failed)} failed, {len(skipped)} skipped.")
    for oid in failed:
        say(f"  failed:  {oid}: {result.outcomes[oid].message}")
    for oid in skipped:
        say(f"  skipped: {oid}: {result.outcomes[oid].message}")
    if result.not_converged:
        say("Lago does not match the workspace after apply:")
        for line in result.not_converged:
            say(f"  - {line}")
    elif not failed and not skipped and targeted:
        say("Lago matches the targeted part of the workspace (the targeted plan is empty); "
            "run lagosync plan without --target/--exclude for the rest.")
    elif not failed and not skipped:
        say("Lago matches the workspace (plan is empty).")


def apply(workspace_dir: str | Path = ".", env: str | None = None, **kwargs) -> ApplyResult:
    """Synchronous wrapper of ``apply_async`` (what the CLI calls)."""
    return asyncio.run(apply_async(workspace_dir, env, **kwargs))


def run_cli(workspace_dir, env, *, no_color: bool = False, **kwargs) -> ApplyResult:
    """What ``lagosync apply`` runs: terminal detection, confirmation prompt, colour."""

    tty = sys.stdin.isatty() and sys.stdout.isatty()

    def confirm(text: str) -> bool:
        answer = click.prompt(text, default="", show_default=False, err=True)
        return answer.strip() == "yes"

    color = tty and not no_color and not os.environ.get("NO_COLOR")
    return apply(workspace_dir, env, confirm=confirm if tty else None, tty=tty, color=color,
                 out=click.echo, err=lambda s: click.echo(s, err=True), **kwargs)
