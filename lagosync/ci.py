"""CI helpers: everything the GitHub workflows and the composite action do, as tested Python.

The workflows in ``.github/workflows/`` and ``action.yml`` only call ``lagosync`` commands; the
PR comment body, the labels, the drift issue text and the GitHub REST calls all live here, so the
tests exercise them (against a fake GitHub through an httpx transport).

Inputs are the documents lagosync itself writes:
- a saved plan (``lagosync plan --out plan.json``): ``format_version``, ``environment`` and
  ``operations`` with ``action``/``kind``/``key``/``reasons``/``details`` (docs/ARCHITECTURE.md, "Plan");
- a drift report (``lagosync drift --format json``, issue 6) with its ``fingerprint``.

Unknown keys are ignored (both documents are versioned and may grow).
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from .errors import LagosyncError, UserError
from .planner import Plan
from .planner.ops import Operation
from .planner.targeting import Targeting, recorded_warnings
from .render import render_markdown
from .workflow import ENV_NAME as _ENV_NAME
from .workflow import load_plan
from .workspace import Settings, find_root, load_settings

# GitHub rejects issue/PR comment bodies longer than 65,536 characters.
GITHUB_BODY_LIMIT = 65536

LABEL_NO_CHANGES = "lagosync:no-changes"
LABEL_CHANGES = "lagosync:changes"
LABEL_DESTROY = "lagosync:destroy"
LABEL_REPRICE = "lagosync:reprice"
LABEL_DRIFT = "lagosync:drift"
# A person's approval of a violated billing policy on the pull request: lagosync:approve:NAME makes
# the apply on merge run with --override-policy NAME (docs/policies.md).
LABEL_APPROVE = "lagosync:approve:"
_POLICY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # what may become a command-line word
# name -> (colour, description); the labels lagosync owns on a pull request.
PLAN_LABELS: dict[str, tuple[str, str]] = {
    LABEL_NO_CHANGES: ("c2e0c6", "lagosync plan: nothing to change in Lago"),
    LABEL_CHANGES: ("fbca04", "lagosync plan: this PR changes Lago"),
    LABEL_DESTROY: ("b60205", "lagosync plan: deletes objects, events, charges or subscriptions"),
    LABEL_REPRICE: ("d93f0b", "lagosync plan: changes what existing subscribers pay"),
}
DRIFT_LABEL = (LABEL_DRIFT, "5319e7", "lagosync drift: Lago was changed outside lagosync")


class GitHubError(LagosyncError):
    """A GitHub REST call failed; the message names the call and what to check (never the token)."""


# --------------------------------------------------------------------------- documents


def _read_json(path: str | Path, what: str) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{p}: no such file (the {what} to read; produce it first)") from None
    except OSError as exc:
        raise UserError(f"{p}: cannot read the {what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a UTF-8 text file; expected a {what}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{p}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); expected a {what}") from None
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a JSON object (a {what}), got {type(data).__name__}")
    return data


def load_drift(path: str | Path) -> dict:
    """Read a drift report written by ``lagosync drift --format json`` (issue 6)."""
    data = _read_json(path, "drift report (lagosync drift --format json)")
    fp = data.get("fingerprint")
    if not isinstance(fp, str) or not fp:
        raise UserError(f"{path}: the drift report has no 'fingerprint'; produce it with `lagosync drift --format json`")
    env = data.get("environment")
    if env is not None and (not isinstance(env, str) or not _ENV_NAME.match(env)):
        raise UserError(f"{path}: 'environment' is not a plain name: {env!r}")
    return data


# --------------------------------------------------------------------------- plan summary and labels


def _changing(plan: Mapping) -> list[dict]:
    return [op for op in plan.get("operations", []) if op.get("action") != "no-op"]


def _operation(op: Mapping) -> Operation:
    return Operation.from_dict(dict(op))


def plan_labels(plans: Iterable[Mapping]) -> list[str]:
    """The lagosync labels for a PR whose plans (one per environment) are ``plans``.

    ``lagosync:no-changes`` only when no environment changes; otherwise ``lagosync:changes``
    plus ``lagosync:destroy`` / ``lagosync:reprice`` when any operation in any environment is so.
    """
    ops = [op for plan in plans for op in _changing(plan)]
    if not ops:
        return [LABEL_NO_CHANGES]
    labels = [LABEL_CHANGES]
    if any(_operation(op).destructive for op in ops):
        labels.append(LABEL_DESTROY)
    if any(_operation(op).reprices for op in ops):
        labels.append(LABEL_REPRICE)
    return labels


# --------------------------------------------------------------------------- run context


@dataclass(frozen=True)
class RunContext:
    """What a comment footer says about the run; read from the GitHub Actions variables."""

    sha: str | None = None
    run_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunContext:
        sha = environ.get("GITHUB_SHA") or None
        event = _read_event(environ)
        head = ((event or {}).get("pull_request") or {}).get("head", {}).get("sha")
        run_url = None
        if environ.get("GITHUB_REPOSITORY") and environ.get("GITHUB_RUN_ID"):
            server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
            run_url = f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
        return cls(sha=head or sha, run_url=run_url)


def _read_event(environ: Mapping[str, str]) -> dict | None:
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- PR comment


def plan_marker(env: str) -> str:
    """The hidden first line that identifies the one sticky comment of an environment."""
    return f"<!-- lagosync:plan:{env} -->"


def render_plan_markdown(plan: Mapping, limit: int = GITHUB_BODY_LIMIT) -> str:
    """The planner's own markdown rendering of a saved plan (as ``lagosync show plan.json --format markdown``)."""
    return render_markdown(Plan.from_dict(dict(plan)), warnings=recorded_warnings(plan), limit=limit)


def _truncate(text: str, budget: int, note: str) -> str:
    """``text`` cut to ``budget`` characters at a line end, open code fences and <details> closed, plus ``note``."""
    if len(text) <= budget:
        return text
    room = max(0, budget - len(note) - 2)
    for _ in range(8):
        cut = text[:room]
        if "\n" in cut:
            cut = cut[: cut.rindex("\n")]
        suffix = "\n```" if cut.count("```") % 2 else ""
        suffix += "\n</details>" * max(0, cut.count("<details") - cut.count("</details>"))
        if len(cut) + len(suffix) + len(note) + 2 <= budget:
            return cut + suffix + "\n\n" + note
        room = max(0, room - len(suffix) - 1)
    return note[:budget]


def pr_comment_body(plan: Mapping, markdown: str | None = None, *, context: RunContext | None = None,
                    artifact: str | None = None, limit: int = GITHUB_BODY_LIMIT) -> str:
    """The sticky PR comment for one environment's plan: marker, headline, labels, the plan, footer.

    ``markdown`` is the planner's rendering (``lagosync show plan.json --format markdown``); when
    None it is rendered here. The result always fits GitHub's comment limit.
    """
    env = plan["environment"]
    labels = plan_labels([plan])
    where = f" ({plan['lago_url']})" if plan.get("lago_url") else ""
    head = [plan_marker(env), f"### lagosync plan for `{env}`{where}", "",
            "Labels: " + ", ".join(f"`{n}`" for n in labels), ""]
    warn = []
    if LABEL_DESTROY in labels:
        warn.append("> This plan **destroys** data in Lago; apply refuses it without `--allow-destroy`.")
    if LABEL_REPRICE in labels:
        warn.append("> This plan **changes what existing subscribers pay**; apply refuses it without `--allow-reprice`.")
    flags = Targeting.from_dict(plan.get("targeting")).flags()
    if flags:
        warn.append("> This plan was made with " + " ".join(f"`{f}`" for f in flags)
                    + ": it holds **only part** of the workspace's changes (see the warnings below).")
    if warn:
        head += ["> [!WARNING]", *warn, ""]
    ctx = context or RunContext()
    foot_bits = []
    if ctx.sha:
        foot_bits.append(f"commit `{ctx.sha[:12]}`")
    if plan.get("workspace_digest"):
        foot_bits.append(f"workspace `{str(plan['workspace_digest'])[:19]}`")
    if plan.get("created_at"):
        foot_bits.append(f"planned {plan['created_at']}")
    if ctx.run_url:
        foot_bits.append(f"[workflow run]({ctx.run_url})")
    foot = ["", "---", "<sub>" + " · ".join(foot_bits) + "</sub>" if foot_bits else ""]
    if artifact:
        foot.append(
            f"<sub>The saved plan is the artifact `{artifact}`; on merge it is applied as reviewed, "
            "and refused if Lago or the workspace changed since.</sub>"
        )
    steps = ["", "#### Next steps", "", *next_steps(plan, artifact)]
    head_text = "\n".join(head) + "\n"
    foot_text = "\n".join(steps) + "\n" + "\n".join(foot).rstrip() + "\n"
    budget = limit - len(head_text) - len(foot_text)
    if markdown is None:
        markdown = render_plan_markdown(plan, limit=budget)
    note = "_The plan is too long for a comment and was cut here; the full plan is in the workflow artifacts._"
    return head_text + _truncate(_without_title(markdown), budget, note) + "\n" + foot_text


def _without_title(markdown: str) -> str:
    """The rendered plan without its own heading: the comment has one title."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("### lagosync plan for environment"):
        lines = lines[1:]
    return "\n".join(lines).strip()


def next_steps(plan: Mapping, artifact: str | None = None) -> list[str]:
    """What happens to this plan and what a person does, as markdown list items: nothing to apply;
    applied on merge; or, for a plan apply refuses as it is, exactly what lets it through."""
    env = plan["environment"]
    ops = [_operation(op) for op in _changing(plan)]
    if not ops:
        return [f"- Nothing to apply: Lago `{env}` already matches the workspace; merging changes nothing there."]
    saved = f"the saved plan (artifact `{artifact}`)" if artifact else "the saved plan (`plan.json`)"
    blocked = [op for op in ops if op.blocked]
    if blocked:
        lines = [f"- **{len(blocked)} operation(s) cannot be applied** (marked `!!`): "
                 + ", ".join(f"{op.label}" for op in blocked[:10]) + (" ..." if len(blocked) > 10 else "")
                 + ". Apply refuses the whole plan, on merge too: change the workspace as each `to do:` line "
                   "says and push; this comment then shows the new plan."]
    else:
        lines = [f"- **On merge** to the default branch, the `lagosync apply` workflow applies {saved} to `{env}` "
                 "exactly as shown here. It is refused (exit 3) if Lago or the workspace changed since: then "
                 "re-run this workflow (push again, or Re-run jobs) and review the new plan."]
    gates = [(flag, [op for op in ops if pick(op)], what) for flag, pick, what in (
        ("allow-destroy", lambda op: op.destructive, "deletes or terminates"),
        ("allow-reprice", lambda op: op.reprices, "changes what existing subscribers pay"))]
    needed = [(flag, chosen, what) for flag, chosen, what in gates if chosen]
    for flag, chosen, what in needed:
        lines.append(f"- This plan **{what}** ({len(chosen)} operation(s)): the apply on merge refuses it "
                     f"without `--{flag}`.")
    if needed:
        ticks = " and ".join(f"`{flag}`" for flag, _, _ in needed)
        flags = " ".join(f"--{flag}" for flag, _, _ in needed)
        lines.append(
            f"- To apply it: merge, then a person runs **Actions → lagosync apply → Run workflow** with "
            f"apply-mode `reviewed`, environments `{env}` and {ticks} ticked (with the composite action: "
            f"{', '.join(f'`{flag}: true`' for flag, _, _ in needed)}); the environment's reviewers approve the "
            f"run. By hand: `lagosync apply plan.json -e {env} {flags}`.")
    policies = [p for p in (plan.get("policies") or []) if isinstance(p, Mapping) and p.get("ok") is False]
    if policies:
        names = ", ".join(f"`{p.get('name')}`" for p in policies)
        approve = ", ".join(f"`{LABEL_APPROVE}{p.get('name')}`" for p in policies)
        lines.append(f"- Billing policies violated: {names}. Apply refuses the plan unless it is run with "
                     "`--override-policy NAME` for each (recorded in the audit log): to approve on this pull "
                     f"request, add the label {approve} before merging, and the apply on merge passes it; "
                     "or change the workspace.")
    return lines


_ANNOTATION = re.compile(r"^::(?P<level>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<msg>.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_ERROR_LINES = 60


def error_text(raw: str | None) -> str:
    """What made the run fail, for people: GitHub ``::error file=F,line=L::message`` annotations as
    ``F:L: message``, no colours, at most ``MAX_ERROR_LINES`` lines."""
    lines = []
    for line in _ANSI.sub("", raw or "").splitlines():
        m = _ANNOTATION.match(line.strip())
        if m:
            props = dict(p.split("=", 1) for p in (m.group("props") or "").split(",") if "=" in p)
            where = ":".join(props[k] for k in ("file", "line", "col") if k in props)
            msg = m.group("msg").replace("%0A", "\n").replace("%0D", "").replace("%25", "%")
            line = f"{where}: {msg}" if where else msg
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > MAX_ERROR_LINES:
        lines = lines[:MAX_ERROR_LINES] + [f"... {len(lines) - MAX_ERROR_LINES} more line(s) in the workflow run"]
    return "\n".join(lines)


def error_comment_body(env: str, error: str | None, *, context: RunContext | None = None,
                       limit: int = GITHUB_BODY_LIMIT) -> str:
    """The sticky comment of ``env`` when validate or plan failed: the error replaces the plan that was
    there (a previous push's plan would mislead), with what to do."""
    ctx = context or RunContext()
    text = error_text(error)
    if not text:
        text = "the workflow failed before lagosync could say why (for example while installing it)"
        if ctx.run_url:
            text += f"; see the workflow run: {ctx.run_url}"
    fence = "```"
    while fence in text:
        fence += "`"
    body = [plan_marker(env), f"### lagosync plan for `{env}`: failed", "",
            "> [!CAUTION]", "> **lagosync could not plan this change:**", "",
            f"{fence}text", text[: max(0, limit - 2000)], fence, "",
            "#### Next steps", "",
            "- Fix what the error says and push: this comment then shows the plan again. Nothing was applied, "
            "and the plan of an earlier push that stood here no longer applies.",
            "- To see the same error locally: `lagosync validate`, then `lagosync plan -e " + env + "`."]
    foot_bits = []
    if ctx.sha:
        foot_bits.append(f"commit `{ctx.sha[:12]}`")
    if ctx.run_url:
        foot_bits.append(f"[workflow run]({ctx.run_url})")
    if foot_bits:
        body += ["", "---", "<sub>" + " · ".join(foot_bits) + "</sub>"]
    return "\n".join(body) + "\n"


# --------------------------------------------------------------------------- drift issue


def drift_marker(env: str, fingerprint: str) -> str:
    return f"<!-- lagosync:drift:{env} fingerprint={fingerprint} -->"


_DRIFT_MARKER = re.compile(r"<!-- lagosync:drift:(?P<env>[A-Za-z0-9_.-]+) fingerprint=(?P<fp>[^ ]+) -->")


def parse_drift_marker(body: str | None) -> tuple[str, str] | None:
    """(environment, fingerprint) from an issue body written by :func:`drift_issue`, else None."""
    m = _DRIFT_MARKER.search(body or "")
    return (m.group("env"), m.group("fp")) if m else None


def drift_has_drift(drift: Mapping) -> bool:
    for key in ("has_drift", "drift"):
        if isinstance(drift.get(key), bool):
            return drift[key]
    return any(drift.get(k) for k in ("changed", "missing", "unmanaged", "user_customers"))


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = text if len(text) <= 80 else text[:77] + "..."
    return "`" + text.replace("`", "'") + "`"


def _drift_items(drift: Mapping) -> list[str]:
    """A markdown list of the drift report's items (issue 6 JSON: changed/missing/unmanaged/user_customers)."""
    lines: list[str] = []
    titles = {
        "changed": "Changed in Lago (declared -> live)",
        "missing": "Declared but missing from Lago",
        "unmanaged": "In Lago but not declared",
        "user_customers": "User-based customers with active subscriptions",
    }
    for section, title in titles.items():
        items = drift.get(section) or []
        if not isinstance(items, list) or not items:
            continue
        lines.append(f"#### {title} ({len(items)})")
        for item in items[:200]:
            if not isinstance(item, Mapping):
                lines.append(f"- `{item}`")
                continue
            ident = item.get("id") or item.get("external_id") or ":".join(
                str(item[k]) for k in ("kind", "key") if k in item) or "?"
            where = f" ({item['source']})" if item.get("source") else ""
            lines.append(f"- `{ident}`{where}")
            for f in (item.get("fields") or [])[:20]:
                if isinstance(f, Mapping):
                    lines.append(f"  - `{f.get('path')}`: {_short(f.get('declared'))} -> {_short(f.get('live'))}")
            subs = item.get("subscriptions") or []
            if subs and isinstance(subs, list):
                ids = [s.get("external_id") if isinstance(s, Mapping) else s for s in subs]
                lines.append("  - subscriptions: " + ", ".join(f"`{i}`" for i in ids))
        if len(items) > 200:
            lines.append(f"- ... and {len(items) - 200} more (see the workflow artifact)")
        lines.append("")
    return lines


def drift_issue(drift: Mapping, markdown: str | None = None, *, env: str | None = None,
                context: RunContext | None = None, limit: int = GITHUB_BODY_LIMIT) -> tuple[str, str]:
    """(title, body) of the drift issue of one environment; the body carries the fingerprint marker.

    ``markdown`` is ``lagosync drift --format markdown``; without it a list is built from the JSON.
    """
    env = env or drift.get("environment")
    if not env:
        raise UserError("the drift report names no environment; pass --env NAME")
    fp = drift["fingerprint"]
    title = f"lagosync: drift in Lago environment '{env}'"
    head = [
        drift_marker(env, fp),
        f"Lago `{env}` no longer matches the workspace: something was changed outside lagosync "
        "(for example in the Lago UI).",
        "",
        f"Drift fingerprint: `{fp}`. This issue is updated when the drift changes and closed when it is gone;",
        "an unchanged drift does not alert again.",
        "",
        "To resolve: either put the change into the YAML in a pull request (then the plan is empty), or run",
        f"`lagosync apply -e {env}` from the default branch to put Lago back as declared.",
        "",
    ]
    body_md = markdown.strip() if markdown else "\n".join(_drift_items(drift)).strip()
    coverage = drift.get("coverage")
    if markdown is None and coverage:
        body_md += "\n\nCoverage: " + _short(coverage)
    ctx = context or RunContext()
    foot = ["", "---", f"<sub>[workflow run]({ctx.run_url})</sub>"] if ctx.run_url else []
    head_text, foot_text = "\n".join(head) + "\n", "\n".join(foot) + "\n"
    note = "_The drift report is too long for an issue and was cut here; the full report is in the workflow artifacts._"
    return title, head_text + _truncate(body_md, limit - len(head_text) - len(foot_text), note) + "\n" + foot_text


# --------------------------------------------------------------------------- GitHub REST


@dataclass(frozen=True)
class GitHubEnv:
    """The GitHub Actions variables the helpers rely on."""

    token: str
    repository: str
    api_url: str = "https://api.github.com"
    event: dict | None = None
    sha: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GitHubEnv:
        token = environ.get("GITHUB_TOKEN") or ""
        if not token:
            raise UserError(
                "GITHUB_TOKEN is not set: give the step `env: GITHUB_TOKEN: ${{ github.token }}` "
                "(and the job the permissions it needs)"
            )
        repo = environ.get("GITHUB_REPOSITORY") or ""
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise UserError(f"GITHUB_REPOSITORY must be 'owner/name', got {repo!r}")
        return cls(
            token=token,
            repository=repo,
            api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            event=_read_event(environ),
            sha=environ.get("GITHUB_SHA") or None,
        )

    def __repr__(self) -> str:  # never show the token
        return f"GitHubEnv(repository={self.repository!r}, api_url={self.api_url!r})"

    def pr_number(self, explicit: int | None = None) -> int:
        if explicit:
            return explicit
        event = self.event or {}
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
        if isinstance(number, int) and number > 0:
            return number
        raise UserError(
            "no pull request number: run this on a pull_request event (GITHUB_EVENT_PATH) or pass --pr N"
        )


_HINTS = {
    401: "the token is invalid or expired",
    403: "the token lacks a permission: give the job `permissions:` pull-requests: write, issues: write, "
         "actions: read as needed (fork PRs get a read-only token)",
    404: "check GITHUB_REPOSITORY, the PR or issue number, and that the token can see the repository",
    422: "GitHub rejected the content",
}


class GitHub:
    """A small synchronous GitHub REST client; ``transport`` is swappable for tests."""

    def __init__(self, env: GitHubEnv, *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0):
        self.env = env
        self.repo = env.repository
        self._http = httpx.Client(
            base_url=env.api_url,
            headers={
                "Authorization": f"Bearer {env.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "lagosync-ci",
            },
            transport=transport,
            timeout=timeout,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, params: dict | None = None, json_body: Any = None) -> httpx.Response:
        try:
            resp = self._http.request(method, path, params=params, json=json_body)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API {method} {path}: {type(exc).__name__}: cannot reach {self.env.api_url}") from None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", "")
            except (ValueError, AttributeError):
                message = resp.text[:200]
            hint = _HINTS.get(resp.status_code, "")
            raise GitHubError(
                f"GitHub API {method} {path} failed: {resp.status_code} {message}".rstrip()
                + (f" ({hint})" if hint else "")
            )
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.request(method, path, **kw)
        return resp.json() if resp.content else None

    def paginate(self, path: str, params: dict | None = None, *, key: str | None = None) -> list:
        out: list = []
        url: str | None = path
        query: dict | None = {"per_page": 100, **(params or {})}
        while url:
            resp = self.request("GET", url, params=query)
            page = resp.json()
            out.extend(page[key] if key else page)
            nxt = resp.links.get("next", {}).get("url")
            url, query = (nxt, None) if nxt else (None, None)
        return out


# ---- sticky PR comment


def sync_pr_comment(gh: GitHub, pr: int, body: str) -> tuple[str, int]:
    """Create the sticky comment, or update the one that carries the same marker.

    Returns ``(status, comment_id)`` with status ``created``, ``updated`` or ``unchanged``.
    """
    marker = body.splitlines()[0]
    if not marker.startswith("<!-- lagosync:"):
        raise ValueError("the comment body must start with its lagosync marker")
    comments = gh.paginate(f"/repos/{gh.repo}/issues/{pr}/comments")
    mine = [c for c in comments if (c.get("body") or "").splitlines()[:1] == [marker]]
    if not mine:
        created = gh.json("POST", f"/repos/{gh.repo}/issues/{pr}/comments", json_body={"body": body})
        return "created", created["id"]
    keep = mine[0]
    if keep.get("body") == body:
        return "unchanged", keep["id"]
    gh.json("PATCH", f"/repos/{gh.repo}/issues/comments/{keep['id']}", json_body={"body": body})
    return "updated", keep["id"]


# ---- labels


def sync_labels(gh: GitHub, pr: int, labels: list[str], managed: Iterable[str] = tuple(PLAN_LABELS)) -> dict:
    """Make the PR carry exactly ``labels`` among the lagosync-managed ones; others are untouched."""
    managed = set(managed)
    current = {lbl["name"] for lbl in gh.paginate(f"/repos/{gh.repo}/issues/{pr}/labels")}
    existing_repo = {lbl["name"] for lbl in gh.paginate(f"/repos/{gh.repo}/labels")}
    for name in labels:
        if name not in existing_repo and name in PLAN_LABELS:
            color, desc = PLAN_LABELS[name]
            gh.json("POST", f"/repos/{gh.repo}/labels", json_body={"name": name, "color": color, "description": desc})
    added = [n for n in labels if n not in current]
    removed = sorted((current & managed) - set(labels))
    if added:
        gh.json("POST", f"/repos/{gh.repo}/issues/{pr}/labels", json_body={"labels": added})
    for name in removed:
        gh.request("DELETE", f"/repos/{gh.repo}/issues/{pr}/labels/{quote(name, safe='')}")
    return {"labels": labels, "added": added, "removed": removed}


# ---- drift issue


def sync_drift_issue(gh: GitHub, drift: Mapping, markdown: str | None = None, *, env: str | None = None,
                     context: RunContext | None = None) -> dict:
    """Open, update, leave alone or close the drift issue of one environment.

    - drift and no open issue: open one (``opened``);
    - drift and an open issue with the same fingerprint: nothing is written (``unchanged``), no re-alert;
    - drift with a new fingerprint: the body is replaced and a comment says so (``updated``);
    - no drift and an open issue: a comment, then the issue is closed (``closed``); else ``none``.
    """
    env = env or drift.get("environment")
    if not env:
        raise UserError("the drift report names no environment; pass --env NAME")
    issues = gh.paginate(f"/repos/{gh.repo}/issues", {"state": "open", "labels": LABEL_DRIFT})
    open_issue = None
    for issue in issues:
        if "pull_request" in issue:
            continue
        parsed = parse_drift_marker(issue.get("body"))
        if parsed and parsed[0] == env:
            open_issue = issue
            break
    fp = drift["fingerprint"]
    if not drift_has_drift(drift):
        if open_issue is None:
            return {"status": "none", "issue": None, "fingerprint": fp}
        n = open_issue["number"]
        gh.json("POST", f"/repos/{gh.repo}/issues/{n}/comments",
                json_body={"body": f"lagosync: no drift in `{env}` any more; closing."})
        gh.json("PATCH", f"/repos/{gh.repo}/issues/{n}", json_body={"state": "closed", "state_reason": "completed"})
        return {"status": "closed", "issue": n, "fingerprint": fp}
    title, body = drift_issue(drift, markdown, env=env, context=context)
    if open_issue is None:
        name, color, desc = DRIFT_LABEL
        repo_labels = {lbl["name"] for lbl in gh.paginate(f"/repos/{gh.repo}/labels")}
        if name not in repo_labels:
            gh.json("POST", f"/repos/{gh.repo}/labels", json_body={"name": name, "color": color, "description": desc})
        created = gh.json("POST", f"/repos/{gh.repo}/issues", json_body={"title": title, "body": body, "labels": [name]})
        return {"status": "opened", "issue": created["number"], "fingerprint": fp}
    n = open_issue["number"]
    marker = parse_drift_marker(open_issue.get("body"))
    assert marker is not None  # open_issue was chosen by its marker
    old_fp = marker[1]
    if old_fp == fp:
        return {"status": "unchanged", "issue": n, "fingerprint": fp}
    gh.json("PATCH", f"/repos/{gh.repo}/issues/{n}", json_body={"title": title, "body": body})
    gh.json("POST", f"/repos/{gh.repo}/issues/{n}/comments",
            json_body={"body": f"lagosync: the drift in `{env}` changed (fingerprint `{old_fp}` -> `{fp}`); "
                               "the description above is the current report."})
    return {"status": "updated", "issue": n, "fingerprint": fp}


# ---- the reviewed plan, for apply on merge


def plan_artifact_name(env: str, pr: int) -> str:
    return f"lagosync-plan-{env}-pr{pr}"


def fetch_reviewed_plan(gh: GitHub, env: str, out: str | Path, *, sha: str | None = None) -> dict:
    """Download the saved plan that was reviewed on the pull request merged as commit ``sha``.

    The PR workflow uploads it as the artifact ``lagosync-plan-<env>-pr<N>``; the newest one must
    have been made for the PR's final head commit, or there is no reviewed plan to apply.
    """
    sha = sha or gh.env.sha
    if not sha:
        raise UserError("no commit: set GITHUB_SHA or pass --sha")
    pulls = gh.json("GET", f"/repos/{gh.repo}/commits/{sha}/pulls") or []
    merged = [p for p in pulls if p.get("merged_at")]
    pull = next((p for p in merged if p.get("merge_commit_sha") == sha), merged[0] if merged else None)
    if pull is None:
        raise UserError(
            f"commit {sha[:12]} does not come from a merged pull request, so no plan was reviewed for it; "
            "merge through a pull request, or run the apply workflow with apply-mode 'fresh'"
        )
    number, head = pull["number"], pull.get("head", {}).get("sha")
    name = plan_artifact_name(env, number)
    arts = gh.paginate(f"/repos/{gh.repo}/actions/artifacts", {"name": name}, key="artifacts")
    arts = [a for a in arts if a.get("name") == name and not a.get("expired")]
    if not arts:
        raise UserError(
            f"no artifact '{name}' for pull request #{number}: the plan workflow did not run or its artifact "
            "expired; re-run it on the PR, or apply with apply-mode 'fresh'"
        )
    art = max(arts, key=lambda a: (a.get("created_at") or "", a.get("id", 0)))
    made_for = (art.get("workflow_run") or {}).get("head_sha")
    if head and made_for and made_for != head:
        raise UserError(
            f"the newest plan of pull request #{number} was made for commit {made_for[:12]}, but the PR was "
            f"merged at {head[:12]}: the final commit's plan was never reviewed; re-run the plan workflow or "
            "apply with apply-mode 'fresh'"
        )
    resp = gh.request("GET", f"/repos/{gh.repo}/actions/artifacts/{art['id']}/zip")
    try:
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            data = zf.read("plan.json")
    except (zipfile.BadZipFile, KeyError):
        raise UserError(f"artifact '{name}' does not hold a plan.json") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    plan = load_plan(out, raw=True)
    if plan["environment"] != env:
        raise UserError(f"artifact '{name}' holds a plan for '{plan['environment']}', not '{env}'")
    labels = [str(lbl.get("name")) for lbl in gh.paginate(f"/repos/{gh.repo}/issues/{number}/labels")
              if isinstance(lbl, Mapping)]
    return {"pr": number, "artifact": name, "artifact_id": art["id"], "head_sha": head, "out": str(out),
            "approved": approved_policies(plan, labels)}


def approved_policies(plan: Mapping, labels: Iterable[str]) -> list[str]:
    """The policies ``plan`` violates that a ``lagosync:approve:NAME`` label of its pull request approves
    (a label for a policy the plan does not violate approves nothing)."""
    wanted = {lbl[len(LABEL_APPROVE):] for lbl in labels if lbl.startswith(LABEL_APPROVE)}
    violated = [str(p.get("name")) for p in plan.get("policies") or ()
                if isinstance(p, Mapping) and p.get("ok") is False]
    return [n for n in dict.fromkeys(violated) if n in wanted and _POLICY_NAME.match(n)]


# --------------------------------------------------------------------------- workflow plumbing


def _append(path: str | None, text: str, what: str) -> None:
    if not path:
        raise UserError(f"{what} is not set: this runs inside a GitHub Actions step")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def write_step_summary(environ: Mapping[str, str], body: str) -> None:
    """Append a comment body (without its hidden marker) to $GITHUB_STEP_SUMMARY, the run's summary
    page, when the step has one: the plan is readable there too, also without a pull request."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    lines = body.splitlines()
    if lines and lines[0].startswith("<!-- lagosync:"):
        lines = lines[1:]
    _append(path, "\n".join(lines).strip() + "\n\n", "GITHUB_STEP_SUMMARY")


def write_output(environ: Mapping[str, str], name: str, value: str) -> None:
    """Append ``name=value`` to $GITHUB_OUTPUT (multi-line safe)."""
    delim = f"ghadelimiter_{uuid.uuid4().hex}"
    _append(environ.get("GITHUB_OUTPUT"), f"{name}<<{delim}\n{value}\n{delim}\n", "GITHUB_OUTPUT")


def ci_environments(envs: Mapping[str, Any]) -> list[str]:
    """The environments CI plans, applies and checks by default, in lagosync.yaml order: every one
    with an ``api_url`` (a real Lago). The embedded emulator (``local`` without ``api_url``) only when
    there is no other: a starter workspace's PR comment still shows its plan. ``--only`` names any."""
    remote = [name for name, env in envs.items() if not env.emulator]
    return remote or [name for name, env in envs.items() if env.emulator]


def environments_matrix(workspace_root: str | Path, only: str | None = None) -> list[dict]:
    """The CI environments of lagosync.yaml (``ci_environments``), or the ``only`` subset (comma/space
    separated, any declared environment, ``local`` included), in order."""
    envs = load_settings(workspace_root).environments  # only lagosync.yaml is needed
    names = ci_environments(envs)
    if only and only.strip():
        wanted = [n for n in re.split(r"[,\s]+", only.strip()) if n]
        unknown = [n for n in wanted if n not in envs]
        if unknown:
            raise UserError(
                f"unknown environment(s) {', '.join(unknown)}: lagosync.yaml defines {', '.join(envs) or 'none'}"
            )
        names = wanted
    return [{"environment": n, "api_key_env": envs[n].api_key_env or "", "emulator": bool(envs[n].emulator)}
            for n in names]


API_KEY_SOURCE = "LAGOSYNC_API_KEY"


def export_api_key(workspace_root: str | Path, env: str, environ: Mapping[str, str]) -> str:
    """Copy the secret in $LAGOSYNC_API_KEY to the variable lagosync.yaml names for ``env``.

    Writes it to $GITHUB_ENV for the following steps of the job (GitHub masks secret values in
    logs); returns a message that names the variable, never the value.
    """
    environments = load_settings(workspace_root).environments  # only lagosync.yaml is needed
    if env not in environments:
        raise UserError(f"unknown environment '{env}': lagosync.yaml defines {', '.join(environments)}")
    e = environments[env]
    if e.emulator or not e.api_key_env:
        return f"environment '{env}' needs no API key (embedded emulator)"
    value = environ.get(API_KEY_SOURCE, "")
    if not value:
        raise UserError(
            f"no API key for environment '{env}': set the secret {e.api_key_env} (in the GitHub environment "
            f"'{env}' or the repository) and pass it to this step as {API_KEY_SOURCE}"
        )
    if "\n" in value or "\r" in value:
        raise UserError(f"the API key for environment '{env}' contains a line break; fix the secret")
    delim = f"ghadelimiter_{uuid.uuid4().hex}"
    _append(environ.get("GITHUB_ENV"), f"{e.api_key_env}<<{delim}\n{value}\n{delim}\n", "GITHUB_ENV")
    return f"API key of environment '{env}' exported as ${e.api_key_env} for the next steps"


# --------------------------------------------------------------------------- commands (`lagosync ci ...`)
# One function per CLI command: paths and the process environment in, printable text out.


def _read_text(path: str | Path | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None


def _maybe_output(environ: Mapping[str, str], values: dict[str, str]) -> None:
    if environ.get("GITHUB_OUTPUT"):
        for name, value in values.items():
            write_output(environ, name, value)


def cmd_labels(plan_paths: Iterable[str | Path], fmt: str = "text", environ: Mapping[str, str] | None = None) -> str:
    plans = [load_plan(p, raw=True) for p in plan_paths]
    if not plans:
        raise UserError("give at least one saved plan (lagosync plan --out plan.json)")
    labels = plan_labels(plans)
    _maybe_output(environ or {}, {"labels": ",".join(labels),
                                  "has_changes": "false" if labels == [LABEL_NO_CHANGES] else "true"})
    if fmt == "json":
        return json.dumps({"labels": labels, "managed": list(PLAN_LABELS)})
    return "\n".join(labels)


def default_environment(workspace_root: str | Path | None) -> str:
    """``default_environment`` of lagosync.yaml (the workspace's; found upward from here without one)."""
    try:
        root = Path(workspace_root) if workspace_root is not None else find_root()
        return load_settings(root).default_environment
    except LagosyncError as exc:
        raise UserError(f"no -e ENV and no lagosync.yaml to take its default_environment from ({exc}); "
                        "pass -e ENV or -w DIR") from None


def _read_error(path: str | Path) -> str:
    """The error file a failed step left (``$LAGOSYNC_ERROR_FILE``); none: the step failed outside lagosync."""
    p = Path(path)
    if not p.is_file():
        return ""
    return _read_text(p) or ""


def cmd_pr_comment(plan_path: str | Path | None, markdown_path: str | Path | None = None, *,
                   artifact: str | None = None, error_path: str | Path | None = None, env: str | None = None,
                   workspace_root: str | Path | None = None, environ: Mapping[str, str] | None = None) -> str:
    ctx = RunContext.from_env(environ or {})
    if error_path is not None:
        name = env or default_environment(workspace_root)
        return error_comment_body(name, _read_error(error_path), context=ctx).rstrip("\n")
    if plan_path is None:
        raise UserError("give the saved plan (lagosync plan --out plan.json), or --error FILE")
    plan = load_plan(plan_path, raw=True)
    return pr_comment_body(plan, _read_text(markdown_path), context=ctx, artifact=artifact).rstrip("\n")


def cmd_drift_issue(drift_path: str | Path, markdown_path: str | Path | None = None, *,
                    current_path: str | Path | None = None, fmt: str = "text",
                    environ: Mapping[str, str] | None = None) -> str:
    drift = load_drift(drift_path)
    title, body = drift_issue(drift, _read_text(markdown_path), context=RunContext.from_env(environ or {}))
    same = None
    if current_path is not None:
        parsed = parse_drift_marker(_read_text(current_path))
        same = bool(parsed and parsed[1] == drift["fingerprint"])
    if fmt == "json":
        return json.dumps({"title": title, "body": body, "fingerprint": drift["fingerprint"],
                           "has_drift": drift_has_drift(drift), "same_as_current": same})
    return f"{title}\n\n{body}".rstrip("\n")


def cmd_environments(workspace_root: str | Path, only: str | None = None, *, github_output: bool = False,
                     environ: Mapping[str, str] | None = None) -> str:
    matrix = environments_matrix(workspace_root, only)
    text = json.dumps(matrix)
    if github_output:
        write_output(environ or {}, "matrix", text)
    return text


def cmd_export_api_key(workspace_root: str | Path, env: str, environ: Mapping[str, str]) -> str:
    return export_api_key(workspace_root, env, environ)


def _github(environ: Mapping[str, str], transport: httpx.BaseTransport | None) -> GitHub:
    return GitHub(GitHubEnv.from_env(environ), transport=transport)


def _dry_pr_number(environ: Mapping[str, str], pr: int | None) -> int | None:
    if pr:
        return pr
    event = _read_event(environ) or {}
    number = (event.get("pull_request") or {}).get("number") or event.get("number")
    return number if isinstance(number, int) and number > 0 else None


def _dry_run(bodies: list[tuple[str, str]], number: int | None) -> str:
    where = f"pull request #{number}" if number else "the pull request (number from the event, or --pr N)"
    out = [f"dry run: nothing is sent to GitHub; would create or update {len(bodies)} comment(s) on {where}:"]
    for env, body in bodies:
        out += ["", f"----- the lagosync comment for '{env}' -----", body.rstrip("\n")]
    return "\n".join(out)


def gh_pr_comment(plan_path: str | Path | None, *, pr: int | None = None, markdown_path: str | Path | None = None,
                  environ: Mapping[str, str], transport: httpx.BaseTransport | None = None,
                  dry_run: bool = False) -> str:
    if plan_path is None:
        raise UserError("give the saved plan (lagosync plan --out plan.json), or --error FILE")
    plan = load_plan(plan_path, raw=True)
    env = plan["environment"]
    if dry_run:  # no token needed, nothing sent
        number = _dry_pr_number(environ, pr)
        body = pr_comment_body(plan, _read_text(markdown_path), context=RunContext.from_env(environ),
                               artifact=plan_artifact_name(env, number) if number else None)
        return _dry_run([(env, body)], number)
    with _github(environ, transport) as gh:
        number = gh.env.pr_number(pr)
        body = pr_comment_body(plan, _read_text(markdown_path), context=RunContext.from_env(environ),
                               artifact=plan_artifact_name(env, number))
        status, cid = sync_pr_comment(gh, number, body)
    write_step_summary(environ, body)
    _maybe_output(environ, {"comment_id": str(cid), "comment_status": status})
    return f"{status} the lagosync comment for '{env}' on pull request #{number} (comment {cid})"


_PLAN_MARKER = re.compile(r"^<!-- lagosync:plan:(?P<env>[A-Za-z0-9_.-]+) -->$")


def error_targets(workspace_root: str | Path | None, env: str | None, only: str | None) -> tuple[list[str], bool]:
    """The environments whose comment an error replaces, and whether lagosync.yaml could not say:
    ``env``; else with ``only`` (as ``ci environments --only``, empty: all CI environments) those;
    else the default environment."""
    if env:
        return [env], False
    try:
        if only is not None:
            return [m["environment"] for m in environments_matrix(workspace_root or ".", only)], False
        return [default_environment(workspace_root)], False
    except LagosyncError:
        return [], True  # lagosync.yaml itself is what failed: the comments already on the PR


def gh_pr_comment_error(error_path: str | Path, *, env: str | None = None, only: str | None = None,
                        workspace_root: str | Path | None = None, pr: int | None = None,
                        environ: Mapping[str, str], transport: httpx.BaseTransport | None = None,
                        dry_run: bool = False) -> str:
    """Put the error of a failed validate or plan into the sticky comment of each environment concerned
    (``error_targets``), so no earlier push's plan stays up as if it were this one's."""
    error = _read_error(error_path)
    ctx = RunContext.from_env(environ)
    targets, unknown = error_targets(workspace_root, env, only)
    if dry_run:
        number = _dry_pr_number(environ, pr)
        names = targets or ["(each environment with a lagosync comment on the pull request)"]
        return _dry_run([(name, error_comment_body(name, error, context=ctx)) for name in names], number)
    done = []
    with _github(environ, transport) as gh:
        number = gh.env.pr_number(pr)
        if unknown:
            comments = gh.paginate(f"/repos/{gh.repo}/issues/{number}/comments")
            found = [_PLAN_MARKER.match((c.get("body") or "").split("\n", 1)[0]) for c in comments]
            targets = [m.group("env") for m in found if m] or [Settings().default_environment]
        for i, name in enumerate(dict.fromkeys(targets)):
            body = error_comment_body(name, error, context=ctx)
            status, cid = sync_pr_comment(gh, number, body)
            if i == 0:  # one error, said once on the run's summary page
                write_step_summary(environ, body)
            done.append(f"{status} the lagosync comment for '{name}' on pull request #{number} with the error "
                        f"(comment {cid})")
    _maybe_output(environ, {"comment_status": "error"})
    return "\n".join(done)


def gh_labels(plan_paths: Iterable[str | Path], *, pr: int | None = None, environ: Mapping[str, str],
              transport: httpx.BaseTransport | None = None) -> str:
    plans = [load_plan(p, raw=True) for p in plan_paths]
    if not plans:
        raise UserError("give at least one saved plan (lagosync plan --out plan.json)")
    labels = plan_labels(plans)
    with _github(environ, transport) as gh:
        number = gh.env.pr_number(pr)
        result = sync_labels(gh, number, labels)
    _maybe_output(environ, {"labels": ",".join(labels),
                            "has_changes": "false" if labels == [LABEL_NO_CHANGES] else "true"})
    change = []
    if result["added"]:
        change.append("added " + ", ".join(result["added"]))
    if result["removed"]:
        change.append("removed " + ", ".join(result["removed"]))
    return f"pull request #{number}: labels {', '.join(labels)}" + (f" ({'; '.join(change)})" if change else "")


def gh_drift_issue(drift_path: str | Path, *, markdown_path: str | Path | None = None, environ: Mapping[str, str],
                   transport: httpx.BaseTransport | None = None) -> str:
    drift = load_drift(drift_path)
    with _github(environ, transport) as gh:
        result = sync_drift_issue(gh, drift, _read_text(markdown_path), context=RunContext.from_env(environ))
    _maybe_output(environ, {"status": result["status"], "issue": str(result["issue"] or "")})
    env = drift.get("environment")
    messages = {
        "opened": f"drift in '{env}': opened issue #{result['issue']}",
        "updated": f"drift in '{env}' changed: updated issue #{result['issue']}",
        "unchanged": f"drift in '{env}' unchanged since issue #{result['issue']} (fingerprint "
                     f"{result['fingerprint']}): no new alert",
        "closed": f"no drift in '{env}': closed issue #{result['issue']}",
        "none": f"no drift in '{env}'",
    }
    return messages[result["status"]]


def gh_fetch_plan(env: str, out: str | Path, *, sha: str | None = None, environ: Mapping[str, str],
                  transport: httpx.BaseTransport | None = None) -> str:
    with _github(environ, transport) as gh:
        r = fetch_reviewed_plan(gh, env, out, sha=sha)
    flags = " ".join(f"--override-policy {n}" for n in r["approved"])
    _maybe_output(environ, {"pr": str(r["pr"]), "plan": r["out"], "override_flags": flags})
    said = f"the plan reviewed on pull request #{r['pr']} (artifact {r['artifact']}) saved to {r['out']}"
    if r["approved"]:
        said += "; approved by label on the pull request, so applied with " + flags
    return said
