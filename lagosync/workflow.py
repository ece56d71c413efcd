"""The I/O around the planner, as the CLI calls it: load the workspace, connect, read live, plan;
save and load plan files; render a saved plan with a staleness check.

The planner itself (``lagosync.planner.make_plan``) stays pure; everything that touches files or
the network for ``lagosync plan`` and ``lagosync show`` is here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from . import kinds, model
from .client.connect import OrganizationMismatch, connect, resolve_environment
from .errors import LagosyncError, UserError
from .live import FirstReads, first_reads, read_live
from .planner import Plan, make_plan, stale_objects
from .planner.ops import FORMAT_VERSION, PriceImpact, UsageImpact
from .planner.policies import evaluate as evaluate_policies
from .planner.stale import Digests, digests_of
from .planner.targeting import Targeting, apply_targeting, recorded_warnings
from .planner.versions import Directives
from .pricing.impact import price_impact
from .pricing.usage_impact import Reading, affected_subscriptions, plans_to_read, usage_impact
from .render import FORMATS, render
from .runtime import Child, paused_gc
from .workspace import Workspace, declared_orgs_at_most, load_settings, load_workspace
from .workspace.loader import ORGS_FILE, SETTINGS_FILE
from .workspace.pricing_tests import TESTS_DIR, load_pricing_tests

if TYPE_CHECKING:
    from .live import LiveState

log = logging.getLogger("lagosync.workflow")

# exit codes of `lagosync plan --detailed-exitcode` (docs/plans.md)
EXIT_NO_CHANGES = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_POLICY = 4  # plan --detailed-exitcode: a billing policy of lagosync.yaml is violated

_MAX_STALE = 10  # stale objects named in the warning before "and N more"


def desired_state(workspace) -> dict[str, dict[str, dict]]:
    """Canonical desired State of a workspace; ``ensure: absent`` objects stay ``{"ensure": "absent"}``
    (the model drops ``ensure``, the planner needs it to plan a delete)."""
    state: dict[str, dict[str, dict]] = {kind: {} for kind in kinds.KINDS}
    for kind in kinds.KINDS:
        for key, obj in (workspace.desired.get(kind) or {}).items():
            if isinstance(obj, dict) and obj.get("ensure") == "absent":
                state[kind][key] = {"ensure": "absent", kinds.kind(kind).key_field: key}
            else:
                state[kind][key] = model.from_yaml(kind, obj)
    return state


def use_color(no_color: bool) -> bool:
    """Colour unless ``--no-color`` or the NO_COLOR environment variable (https://no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR")


async def read_and_plan(workspace, client, env_name: str, *, prune: bool = False,
                        read_wide: bool | None = None, desired: dict | None = None,
                        usage: bool = True, first: Awaitable[FirstReads] | None = None,
                        digests: Digests | None = None) -> tuple[LiveState, Plan]:
    """Read Lago through ``client`` and plan ``workspace`` against it: ``(LiveState, Plan)``.

    The one planning path shared by ``plan``, ``apply`` (before and after its writes) and ``drift``.
    ``read_wide`` (default: ``prune``) makes the reader list every customer and subscription.
    ``desired`` (default: ``desired_state(workspace)``) lets a caller that already built it reuse it.
    ``usage``: read the affected subscriptions' current usage for the price impact (off for drift and
    for apply's check after writing, which only need to know whether anything is left to do).
    ``first``: the reads ``opened`` started while the workspace loaded. ``digests``: the fingerprint
    digests of ``desired`` (``stale.digests_of``), when they were computed with it.
    """
    if desired is None:
        desired = desired_state(workspace)
    live = await read_live(client, workspace, prune=prune if read_wide is None else read_wide, share=desired,
                           first=first)
    plan = make_plan(desired, live, prune=prune, environment=env_name,
                     lago_url=getattr(client, "base_url", None), workspace_digest=workspace.digest,
                     directives=directives_of(workspace, client), desired_digests=digests)
    plan = dataclasses.replace(plan, price_impact=_price_impact(workspace, plan, live))
    if usage:
        plan = dataclasses.replace(plan, usage_impact=await _usage_impact(workspace, client, plan, live, desired))
    policies = getattr(getattr(workspace, "settings", None), "policies", None) or []
    if policies:  # lagosync.yaml billing policies, on the plan and its money impact
        plan = dataclasses.replace(plan, policies=evaluate_policies(plan, policies))
    return live, plan


def _price_impact(workspace: Any, plan: Plan, live: LiveState) -> tuple[PriceImpact, ...]:
    """The workspace's usage profiles (its pricing test cases) priced before and after the plan."""
    root = getattr(workspace, "root", None)
    if root is None or not (Path(root) / TESTS_DIR).is_dir():
        return ()
    cases, _ = load_pricing_tests(root, workspace.desired)
    env = workspace.settings.environments.get(plan.environment) if getattr(workspace, "settings", None) else None
    return price_impact(plan, workspace.desired, live, cases, premium=bool(getattr(env, "premium", False)))


USAGE_SAMPLE = 50  # subscriptions whose current usage a plan reads at most (LAGOSYNC_USAGE_SAMPLE)


def usage_sample_size() -> int:
    """How many affected subscriptions a plan reads the current usage of (``LAGOSYNC_USAGE_SAMPLE``)."""
    text = os.environ.get("LAGOSYNC_USAGE_SAMPLE", "").strip()
    if not text:
        return USAGE_SAMPLE
    if not text.isdigit():
        raise UserError(f"LAGOSYNC_USAGE_SAMPLE must be a whole number of subscriptions (0 reads none), got {text!r}")
    return int(text)


async def _usage_impact(workspace: Any, client: Any, plan: Plan, live: LiveState, desired: dict
                        ) -> UsageImpact | None:
    """The price impact on each affected subscription's real current usage: a sample of them read from
    Lago concurrently (the client bounds the concurrency and keeps to rate limits), priced before and
    after by lagosync.pricing.usage_impact. It never fails the plan: what could not be read is a note."""
    affected = affected_subscriptions(plan)
    if not affected:
        return None
    sample = usage_sample_size()
    chosen = affected[:sample]
    env = workspace.settings.environments.get(plan.environment) if getattr(workspace, "settings", None) else None
    premium = bool(getattr(env, "premium", False))
    requests = 0
    notes: list[str] = []
    if not chosen:
        notes.append("LAGOSYNC_USAGE_SAMPLE is 0: no current usage read")

    async def one(sub: str, customer: str | None) -> Reading:
        nonlocal requests
        owner = customer or (live.state.get("subscription", {}).get(sub) or {}).get("external_customer_id")
        if not owner:
            return Reading(sub, None, error="its customer is not known")
        requests += 1
        try:
            return Reading(sub, owner, usage=await client.current_usage(owner, sub))
        except Exception as exc:  # noqa: BLE001 - a failed read is a note, never a failed plan
            return Reading(sub, owner, error=str(exc) or type(exc).__name__)

    async def version(code: str) -> tuple[str, dict | None]:
        nonlocal requests
        requests += 1
        try:
            return code, model.from_api("plan", await client.get_plan(code))
        except Exception as exc:  # noqa: BLE001 - as above
            notes.append(f"plan version '{code}' could not be read: {exc}")
            return code, None

    try:
        readings = list(await asyncio.gather(*(one(sub, customer) for sub, customer in chosen)))
        codes = plans_to_read(plan, live, [sub for sub, _ in chosen])
        versions = {code: p for code, p in await asyncio.gather(*(version(c) for c in codes)) if p is not None}
        return usage_impact(plan, desired, live, readings, versions=versions, affected=len(affected),
                            sample_size=sample, requests=requests, premium=premium, notes=notes)
    except Exception as exc:  # noqa: BLE001 - as above
        return UsageImpact(affected=len(affected), sample_size=sample, read=0, requests=requests,
                           notes=(*notes, f"the price impact on real usage could not be computed: {exc}"))


def directives_of(workspace: Any, client: Any) -> Directives:
    """What the workspace says about plan versions (price_change, pins, migrations), on Lago's date."""
    now = getattr(client, "lago_now", None)
    today = now().date() if callable(now) else None
    default = getattr(getattr(workspace, "settings", None), "price_change", "in_place")
    return Directives.from_workspace(workspace.desired, default, today)


@dataclass
class Opened:
    """A loaded workspace and an open client for one of its environments (``opened``)."""

    workspace: Any
    env_name: str
    client: Any
    first: asyncio.Future | None  # live.first_reads, started while the workspace loaded (or None)
    desired: dict | None = None  # desired_state(workspace), when it was built with the workspace
    digests: Digests | None = None  # stale.digests_of(desired), when they were computed with it


# the orgs.yaml sizes for which `plan` loads the workspace in a child process while it reads Lago
# (docs/plans.md "Reading Lago"; docs/benchmarks.md measures both): below, loading takes about a
# round of requests (some 3,500 orgs of the benchmark's); above (some 29,000), the two processes
# together would hold more than one plan of 100,000 orgs does in one process
LOAD_APART_FROM_BYTES = 1 << 20
LOAD_APART_UP_TO_BYTES = 8 << 20


def _early_environment(root: str | Path, env: str | None) -> tuple[Workspace, str] | None:
    """The workspace's settings alone and the environment ``env`` names, when Lago is worth reading
    before the rest of the workspace is loaded: a Lago reached over the network (the embedded
    emulator answers at once), a lagosync.yaml that loads by itself and an orgs.yaml whose size is
    within the LOAD_APART bounds. None otherwise."""
    try:
        size = (Path(root) / ORGS_FILE).stat().st_size
    except OSError:
        return None
    if not LOAD_APART_FROM_BYTES <= size <= LOAD_APART_UP_TO_BYTES:
        return None
    try:
        settings = load_settings(root)
        provisional = Workspace(root=Path(root), settings=settings, desired={}, sources={}, digest="")
        environment = resolve_environment(provisional, env)
    except LagosyncError:
        return None  # the full load words it, with the workspace's other problems
    return None if environment.emulator else (provisional, environment.name)


def _loaded(root: str | Path) -> tuple[Workspace, dict[str, dict[str, dict]], Digests]:
    """The workspace at ``root``, its desired state and the fingerprint digests of its objects (what
    the child process of ``opened`` builds: the plan then encodes only the live objects that differ)."""
    workspace = load_workspace(root)
    desired = desired_state(workspace)
    return workspace, desired, digests_of(desired)


@asynccontextmanager
async def opened(root: str | Path, env: str | None = None, *, prune: bool = False,
                 client_factory: Callable[[Any, str], Any] | None = None) -> AsyncIterator[Opened]:
    """The workspace at ``root`` loaded and a client for ``env`` open.

    For a large workspace and a Lago over the network (``_early_environment``) the two waits
    overlap: the workspace loads in a child process, on another core (``runtime.Child``), while
    ``live.first_reads`` asks what needs no workspace (the organization, the catalogue and, when the
    read will list every customer and subscription, their pages); ``Opened.first`` hands those to
    ``read_and_plan``. Problems come in the same order as when one waits for the other: the
    workspace's (from a load in this process whenever the child's did not succeed), then the
    environment's, then Lago's (the early reads are dropped when the workspace does not load)."""
    factory = client_factory or connect
    early = _early_environment(root, env)
    child = Child.start(partial(_loaded, root)) if early is not None else None
    async with AsyncExitStack() as stack:
        stack.callback(lambda: child.stop() if child is not None else None)
        client = None
        if child is not None and early is not None:
            try:  # opened now, before the workspace has loaded
                client = await stack.enter_async_context(factory(*early))
            except Exception:  # noqa: BLE001 - e.g. its API key is not set: the workspace's problems come first
                child.stop()
        if client is None:
            workspace = load_workspace(root)
            env_name = resolve_environment(workspace, env).name
            async with factory(workspace, env_name) as client:
                yield Opened(workspace, env_name, client, None)
            return
        assert child is not None and early is not None  # a client is opened early only beside a child
        log.info("loading the workspace in a child process while Lago is read")
        provisional, env_name = early
        first = asyncio.ensure_future(first_reads(client, read_ahead_for=declared_orgs_at_most(root), prune=prune))
        try:
            with paused_gc():  # the pages read ahead meanwhile, then the answer: many objects that live on
                done, value = await child.result()
                if done:
                    log.info("the child process loaded the workspace (its peak resident memory: %.0f MiB)",
                             child.peak_rss / 2**20)
                else:
                    log.info("the child process did not load the workspace: loading it in this one")
                workspace, desired, digests = value if done else (load_workspace(root), None, None)
            if workspace.settings != provisional.settings:
                raise UserError(f"{SETTINGS_FILE} changed while lagosync read it: run the command again")
            yield Opened(workspace, env_name, client, first, desired, digests)
        finally:
            if not first.done():
                first.cancel()
            await asyncio.gather(first, return_exceptions=True)  # its outcome is read_and_plan's to report
            if not first.cancelled() and first.exception() is None:
                await first.result().drop()  # pages still read ahead when the read ended early


async def plan_workspace(
    root: str | Path,
    env: str | None = None,
    *,
    prune: bool = False,
    client_factory: Callable[[Any, str], Any] | None = None,
) -> Plan:
    """Load the workspace at ``root``, read ``env`` from Lago and return the plan (no writes)."""
    async with opened(root, env, prune=prune, client_factory=client_factory) as o:
        return (await read_and_plan(o.workspace, o.client, o.env_name, prune=prune, desired=o.desired,
                                    first=o.first, digests=o.digests))[1]


def save_plan(plan: Plan, path: str | Path, targeting: Targeting | None = None,
              warnings: Sequence[str] = ()) -> None:
    """Write the plan document (JSON) to ``path``; a plan made with --target/--exclude records them
    (``targeting``: apply re-plans with them after its writes) and the ``warnings`` it was shown with
    (``show`` and the PR comment show them again)."""
    text = plan.to_json()
    if targeting is not None and targeting.active:
        text = json.dumps({**plan.to_dict(), "targeting": targeting.to_dict(warnings)},
                          indent=2, ensure_ascii=False) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write the plan file ({exc.strerror or exc})") from None


ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # a plain environment name, as plan and drift documents carry it
_SAVED_PLAN = "saved plan (lagosync plan --out plan.json)"  # what raw mode's messages ask for


@overload
def load_plan(path: str | Path, *, raw: Literal[False] = False) -> Plan: ...
@overload
def load_plan(path: str | Path, *, raw: Literal[True]) -> dict[str, Any]: ...
def load_plan(path: str | Path, *, raw: bool = False) -> Plan | dict[str, Any]:
    """Read a plan file written by ``lagosync plan --out``; a clear UserError (exit code 1) otherwise.

    The one reader of plan files. ``raw=True`` (``lagosync ci``) returns the JSON document itself,
    checked for what ``lagosync.ci`` reads from it (``format_version``, ``operations`` with an
    ``action``, a plain ``environment`` name), and words its errors as the ``ci`` commands always did.
    """
    data = _read_plan_file(path, raw)
    if raw:
        return _checked_plan_document(path, data)
    return _plan_from(path, data)


@dataclass(frozen=True)
class SavedPlan:
    """A saved plan and what its file records besides: the --target/--exclude it was made with (apply
    re-plans with them) and the warnings those gave (show prints them again)."""

    plan: Plan
    targeting: Targeting
    warnings: list[str]


def load_saved_plan(path: str | Path) -> SavedPlan:
    """``load_plan`` with the file's targeting, from one read of the file."""
    data = _read_plan_file(path, raw=False)
    plan = _plan_from(path, data)
    return SavedPlan(plan, Targeting.from_dict(data.get("targeting")), recorded_warnings(data))


def _read_plan_file(path: str | Path, raw: bool) -> Any:
    """The JSON value of a plan file (errors worded for ``ci`` when ``raw``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if raw:
            raise UserError(f"{path}: no such file (the {_SAVED_PLAN} to read; produce it first)") from None
        raise UserError(f"{path}: no such plan file (make one with lagosync plan --out {path})") from None
    except UnicodeDecodeError as exc:
        if raw:
            raise UserError(f"{path}: not a UTF-8 text file; expected a {_SAVED_PLAN}") from None
        raise UserError(f"{path}: cannot read the plan file ({exc})") from None
    except OSError as exc:
        if raw:
            raise UserError(f"{path}: cannot read the {_SAVED_PLAN}: {exc.strerror}") from None
        raise UserError(f"{path}: cannot read the plan file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{path}:{exc.lineno}:{exc.colno}"
        if raw:
            raise UserError(f"{where}: not valid JSON ({exc.msg}); expected a {_SAVED_PLAN}") from None
        raise UserError(f"{where}: not JSON ({exc.msg}); make the file with lagosync plan --out") from None


def _plan_from(path: str | Path, data: Any) -> Plan:
    try:
        return Plan.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"{path}: not a lagosync plan ({what}); make one with lagosync plan --out") from None


def _checked_plan_document(path: str | Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object (a {_SAVED_PLAN}), got {type(data).__name__}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{path}: plan format_version {version!r} is not supported (this lagosync reads version "
            f"{FORMAT_VERSION}); re-run `lagosync plan --out` with this lagosync version"
        )
    ops = data.get("operations")
    if not isinstance(ops, list) or not all(isinstance(o, dict) and "action" in o for o in ops):
        raise UserError(f"{path}: 'operations' must be a list of operations with an 'action'")
    env = data.get("environment")
    if not isinstance(env, str) or not ENV_NAME.match(env):
        raise UserError(f"{path}: 'environment' is missing or not a plain name: {env!r}")
    return data


async def staleness_warnings(
    plan: Plan,
    root: str | Path,
    env: str | None = None,
    *,
    client_factory: Callable[[Any, str], Any] | None = None,
) -> list[str]:
    """Why a saved plan may no longer describe what apply would do (empty when it is current).

    Compares the workspace digest, then re-reads the plan's environment (when reachable) and
    compares the fingerprints of the objects the plan touches. Never raises for an unreachable
    environment or a missing workspace: it says what could not be checked. An API key of another
    organization than lagosync.yaml pins raises ``OrganizationMismatch``, as for every read.
    """
    out: list[str] = []
    try:
        workspace = load_workspace(root)
    except LagosyncError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [f"not checked against the workspace or Lago: cannot load the workspace at {root} ({first})"]
    if workspace.digest != plan.workspace_digest:
        out.append("the workspace files changed since this plan was made; run lagosync plan again")
    env_name = env or plan.environment
    if env_name != plan.environment:
        out.append(f"this plan was made for environment '{plan.environment}', not '{env_name}'")
    try:
        env_name = resolve_environment(workspace, env_name).name
        client = (client_factory or connect)(workspace, env_name)
        async with client:
            live = await read_live(client, workspace, prune=any(
                op.pruned for op in plan.operations))
            lago_url = getattr(client, "base_url", None)
    except OrganizationMismatch:
        raise  # the pin refuses every read (lagosync.yaml organization:), not only a plan's
    except LagosyncError as exc:
        out.append(f"not checked against Lago: environment '{env_name}' is not reachable ({exc})")
        return out
    if plan.lago_url and lago_url and plan.lago_url.rstrip("/") != lago_url.rstrip("/"):
        out.append(f"this plan was made for Lago at {plan.lago_url}, not {lago_url}")
    organization = live.facts.organization
    if plan.organization and organization and plan.organization != organization:
        out.append(f"this plan was made for organization '{plan.organization}', but the API key of "
                   f"environment '{env_name}' belongs to organization '{organization}'")
    changed = stale_objects(plan, live)
    if changed:
        shown = changed[:_MAX_STALE] + ([f"and {len(changed) - _MAX_STALE} more"] if len(changed) > _MAX_STALE else [])
        out.append(f"Lago changed since this plan was made ({len(changed)} object(s)): " + "; ".join(shown)
                   + "; run lagosync plan again")
    return out


@dataclass(frozen=True)
class PlanRun:
    plan: Plan
    output: str


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (use one of: {', '.join(FORMATS)})")


def run_plan(
    root: str | Path,
    env: str | None = None,
    *,
    fmt: str = "text",
    out: str | Path | None = None,
    prune: bool = False,
    color: bool = False,
    client_factory: Callable[[Any, str], Any] | None = None,
    targeting: Targeting | None = None,
    verbose: bool = False,
) -> PlanRun:
    """``lagosync plan``: make the plan (reduced by ``targeting``: --target/--exclude), save it to
    ``out`` if given, render it in ``fmt`` (``verbose``: every field of a create, not only those
    that differ from Lago's defaults)."""
    _check_format(fmt)
    plan = asyncio.run(plan_workspace(root, env, prune=prune, client_factory=client_factory))
    plan, warnings = apply_targeting(plan, targeting or Targeting())
    if out is not None:
        save_plan(plan, out, targeting, warnings)
    return PlanRun(plan=plan, output=render(plan, fmt, color=color, warnings=warnings, verbose=verbose))


def run_show(
    path: str | Path,
    root: str | Path = ".",
    env: str | None = None,
    *,
    fmt: str = "text",
    color: bool = False,
    check: bool = True,
    client_factory: Callable[[Any, str], Any] | None = None,
    verbose: bool = False,
) -> str:
    """``lagosync show plan.json``: render a saved plan, its targeting warnings first; a stale plan
    still renders, with warnings."""
    _check_format(fmt)
    saved = load_saved_plan(path)
    plan, warnings = saved.plan, list(saved.warnings)
    if check:
        warnings += asyncio.run(staleness_warnings(plan, root, env, client_factory=client_factory))
    return render(plan, fmt, color=color, warnings=warnings, verbose=verbose)


def run_migrations(root: str | Path, env: str | None = None) -> str:
    """What ``lagosync migrations`` prints: each migration's state and its subscriptions."""
    plan = asyncio.run(plan_workspace(root, env))
    if not plan.migrations:
        return "No migrations in the workspace.\n"
    lines = []
    for m in plan.migrations:
        lines.append(m.line())
        lines += [f"  moved:   {s}" for s in m.moved]
        lines += [f"  due:     {s}" for s in m.due]
        lines += [f"  waiting: {s} from {when} ({why})" for s, when, why in m.waiting]
    return "\n".join(lines) + "\n"
