"""Loading a workspace: files -> positions-keeping YAML -> schema -> semantic checks -> Workspace."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import Diagnostic, UserError, WorkspaceError
from ..kinds import KINDS_BY_NAME
from ..runtime import paused_gc
from .checks import Checker
from .model import LOCAL, PRICE_CHANGES, Environment, Settings, Workspace
from .pricing_tests import load_pricing_tests
from .schema import check_schema
from .yamlpos import Document, parse_yaml_bytes, read_file_bytes

SETTINGS_FILE = "lagosync.yaml"
ORGS_FILE = "orgs.yaml"
PLANS_DIR = "plans"

_EMPTY_HINT = {
    SETTINGS_FILE: "write at least `default_environment: local`",
    ORGS_FILE: "declare `orgs:` with at least one org, or delete the file",
}


# the words of a file that does not parse: a code among them may be declared there
_WORDS = re.compile(r"[^\s:'\",\[\]{}#&*!|>%@`]+")
# a reference to an object that is not declared: "unknown plan 'pro'" (checks, pricing tests)
_UNKNOWN_REF = re.compile(
    r"^unknown (?:" + "|".join(sorted({re.escape(k.label) for k in KINDS_BY_NAME.values()}
                                      | {"billable metric", "org"}, key=len, reverse=True))
    + r") '(?P<code>[^']*)'")


def _caused_by_broken_file(diag: Diagnostic, words: set[str]) -> bool:
    """An unknown reference whose code appears in a file with a YAML syntax error: that file may
    well declare it, so only the syntax error is reported until it is fixed."""
    match = _UNKNOWN_REF.match(diag.message)
    return match is not None and match.group("code") in words


def _plan_files(plans_dir: Path) -> list[Path]:
    # a dangling symlink is reported (cannot read file), not silently skipped
    files = [p for p in plans_dir.rglob("*") if p.suffix in (".yaml", ".yml")
             and (p.is_file() or (p.is_symlink() and not p.exists()))]
    return sorted(files, key=lambda p: p.relative_to(plans_dir).as_posix())


class _Run:
    """One load of a workspace: collects every diagnostic instead of stopping at the first."""

    def __init__(self, root: Path):
        self.root = root
        self.diags: list[Diagnostic] = []
        self.hasher = hashlib.sha256()
        self.files: list[str] = []
        self.syntax: list[Diagnostic] = []  # YAML syntax errors: listed first
        self.broken_words: set[str] = set()  # every word of the files that did not parse
        self.docs: list[Document] = []

    def read(self, path: Path, schema_name: str) -> tuple[Document | None, set[tuple]]:
        rel = path.relative_to(self.root).as_posix()
        data, errors = read_file_bytes(path, rel)  # bounded: a huge file or /dev/zero is a Diagnostic
        doc = None
        if data is not None:
            self.hasher.update(rel.encode() + b"\0" + data + b"\0")
            self.files.append(rel)
            doc, errors = parse_yaml_bytes(data, rel)
            if doc is not None:
                self.docs.append(doc)
            if errors and (doc is None or doc.data is None):
                self.syntax.extend(errors)
                self.broken_words |= set(_WORDS.findall(data.decode("utf-8", "replace")))
        self.diags.extend(errors)
        if doc is None or errors and doc.data is None:
            return None, set()
        if doc.data is None:
            hint = _EMPTY_HINT.get(rel, "declare billable_metrics, plans, taxes, add_ons or coupons, "
                                        "or delete the file")
            self.diags.append(Diagnostic(rel, 1, 1, "", "file is empty", hint))
            return None, set()
        schema_errors, bad = check_schema(doc, schema_name)
        self.diags.extend(schema_errors)
        return doc, bad


def _settings(doc: Document | None, bad: set[tuple], diags: list[Diagnostic]) -> Settings:
    settings = Settings(environments={LOCAL: Environment(LOCAL, emulator=True)})
    if doc is None or not isinstance(doc.data, dict):
        return settings
    data = doc.data
    envs = data.get("environments")
    if isinstance(envs, dict):
        for name, env in envs.items():
            if not isinstance(env, dict):
                continue
            if "api_key" in env:
                diags.append(doc.diag(
                    ("environments", name, "api_key"),
                    "api_key holds a literal API key; lagosync never reads keys from files",
                    f"remove it, set api_key_env: LAGO_API_KEY_{str(name).upper().replace('-', '_')} "
                    "and export that environment variable", key=True))
            def _s(field, env=env):
                value = env.get(field)
                return value if isinstance(value, str) else None
            api_url = _s("api_url")
            if api_url is not None and _has_userinfo(api_url):
                diags.append(doc.diag(
                    ("environments", name, "api_url"), "api_url holds a user name or password (user:password@)",
                    "remove that part: Lago authenticates with the API key from api_key_env, and the URL is "
                    "printed in plans and pull request comments"))
            emulator = name == LOCAL and api_url is None
            if name == LOCAL and api_url is not None and _s("api_key_env") is None:
                diags.append(doc.diag(("environments", name), "environment 'local' with an api_url needs "
                                      "api_key_env", "name the variable that holds its API key, or remove "
                                      "api_url to use the embedded emulator"))
            settings.environments[str(name)] = Environment(str(name), api_url, _s("api_key_env"),
                                                           _s("organization"), emulator,
                                                           premium=env.get("premium") is True)
    default = data.get("default_environment")
    if isinstance(default, str):
        settings.default_environment = default
        if default not in settings.environments:
            diags.append(doc.diag(("default_environment",), f"unknown environment '{default}'",
                                  "declared: " + ", ".join(sorted(settings.environments))))
    for field in ("org_id_prefix", "user_id_prefix"):
        if isinstance(data.get(field), str):
            setattr(settings, field, data[field])
    if isinstance(data.get("ignore"), list):
        settings.ignore = [dict(item) for item in data["ignore"] if isinstance(item, dict)]
    if data.get("price_change") in PRICE_CHANGES:
        settings.price_change = data["price_change"]
    if isinstance(data.get("policies"), list):
        settings.policies = [dict(p) for p in data["policies"] if isinstance(p, dict)]
        seen: dict[str, int] = {}
        for i, policy in enumerate(settings.policies):
            name = policy.get("name")
            if isinstance(name, str) and name in seen:
                diags.append(doc.diag(("policies", i, "name"), f"duplicate policy name '{name}' (also policies[{seen[name]}])",
                                      "give each policy its own name: --override-policy names it"))
            elif isinstance(name, str):
                seen[name] = i
            for env in policy.get("environments") or []:
                if isinstance(env, str) and env not in settings.environments:
                    diags.append(doc.diag(("policies", i, "environments"), f"unknown environment '{env}'",
                                          "declared: " + ", ".join(sorted(settings.environments))))
            if policy.get("kind") == "max_increase" and "percent" not in policy and "amount_cents" not in policy:
                diags.append(doc.diag(("policies", i), "a max_increase policy needs percent or amount_cents",
                                      'for example percent: "10"'))
    return settings


def _has_userinfo(url: str) -> bool:
    try:
        return "@" in urlsplit(url.strip()).netloc
    except ValueError:
        return "@" in url


def find_root(start: Path | str | None = None) -> Path:
    """The workspace that holds ``start`` (default: the current directory): the nearest folder with a
    lagosync.yaml, from ``start`` up to the filesystem root, as git finds its repository. ``.`` when
    it is the current directory itself."""
    here = Path(start if start is not None else Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / SETTINGS_FILE).is_file():
            return Path(".") if start is None and folder == here else folder
    raise UserError(
        f"no {SETTINGS_FILE} in {here} or any folder above it (searched up to {here.anchor}): "
        "run the command inside a workspace, pass its folder with -w DIR, or create one with lagosync init"
    )


def _root_problem(root: Path) -> Diagnostic | None:
    if root.is_dir():
        return None
    what = "is a file, not a workspace folder" if root.exists() else "workspace folder not found"
    return Diagnostic(str(root), 1, 1, "", what, "pass the folder that holds lagosync.yaml with -w DIR")


def _read_settings(root: Path, run: _Run) -> Settings:
    settings_doc: Document | None = None
    settings_bad: set[tuple] = set()
    settings_path = root / SETTINGS_FILE
    if settings_path.is_file():
        settings_doc, settings_bad = run.read(settings_path, "settings")
    else:
        run.diags.append(Diagnostic(SETTINGS_FILE, 1, 1, "", "missing workspace settings file lagosync.yaml",
                                    "create it, e.g. with `default_environment: local`, or pass the workspace "
                                    "folder with -w DIR"))
    return _settings(settings_doc, settings_bad, run.diags)


def load_settings(root: Path | str) -> Settings:
    """Only ``lagosync.yaml`` (schema and settings checks), for commands that need no catalogue
    (``doctor``, ``connect``): a workspace whose plans/ or orgs.yaml are invalid still loads.
    Raises WorkspaceError with the settings diagnostics."""
    root = Path(root)
    problem = _root_problem(root)
    if problem is not None:
        raise WorkspaceError([problem])
    run = _Run(root)
    settings = _read_settings(root, run)
    if run.diags:
        raise WorkspaceError(run.diags)
    return settings


def declared_orgs_at_most(root: Path | str) -> int:
    """A quick estimate of the orgs ``orgs.yaml`` declares together with the users they replace, read
    before the file is parsed (``live.first_reads`` guesses from it whether the read will list every
    page): every org names an ``external_id`` (subscriptions and comments may add to that count),
    and the users of a ``migrate_from`` list are no more than the lines and commas from it to the
    next ``external_id``. An upper bound for a file without YAML aliases; 0 without a readable orgs.yaml."""
    try:
        data = (Path(root) / ORGS_FILE).read_bytes()
    except OSError:
        return 0
    count = data.count(b"external_id")
    at = data.find(b"migrate_from")
    while at >= 0:
        end = data.find(b"external_id", at)
        end = len(data) if end < 0 else end
        count += data.count(b"\n", at, end) + data.count(b",", at, end) + 1
        at = data.find(b"migrate_from", end)
    return count


@paused_gc()
def _load(root: Path | str) -> tuple[Workspace | None, list[Diagnostic]]:
    root = Path(root)
    problem = _root_problem(root)
    if problem is not None:
        return None, [problem]
    run = _Run(root)
    settings = _read_settings(root, run)
    checker = Checker(settings.org_id_prefix, settings.user_id_prefix)

    plans_dir = root / PLANS_DIR
    if not plans_dir.is_dir():
        run.diags.append(Diagnostic(PLANS_DIR + "/", 1, 1, "", "missing plans/ folder",
                                    "create plans/ with YAML files declaring billable_metrics, plans, taxes, "
                                    "add_ons and coupons"))
    else:
        files = _plan_files(plans_dir)
        if not files:
            run.diags.append(Diagnostic(PLANS_DIR + "/", 1, 1, "", "plans/ holds no .yaml file",
                                        "add a file such as plans/plans.yaml"))
        for path in files:
            doc, bad = run.read(path, "plans")
            if doc is not None:
                checker.collect_catalog(doc, bad)

    orgs_path = root / ORGS_FILE
    if orgs_path.exists() or orgs_path.is_symlink():  # a dangling symlink is an error, not "no orgs"
        doc, bad = run.read(orgs_path, "orgs")
        if doc is not None:
            checker.collect_orgs(doc, bad)

    checker.run()
    diags = run.diags + checker.diags
    desired, sources = checker.desired()
    diags += load_pricing_tests(root, desired)[1]  # pricing_tests/*.yaml, lagosync test
    if run.broken_words:
        diags = [d for d in diags if not _caused_by_broken_file(d, run.broken_words)]
    syntax = set(run.syntax)  # the real cause first: a file that does not parse
    diags.sort(key=lambda d: (d not in syntax, d.file != SETTINGS_FILE, d.file, d.line, d.column, d.path,
                              d.message))
    workspace = Workspace(root=root, settings=settings, desired=desired, sources=sources,
                          digest=run.hasher.hexdigest(), files=sorted(run.files))
    for doc in run.docs:  # the workspace holds copies; a document is kept only to find positions in
        doc.data = None
    return workspace, diags


def load_workspace(root: Path | str) -> Workspace:
    """Load and validate a workspace; raises WorkspaceError carrying every Diagnostic."""
    workspace, diags = _load(root)
    if diags or workspace is None:
        raise WorkspaceError(diags)
    return workspace


def validate_workspace(root: Path | str) -> list[Diagnostic]:
    """Every problem of the workspace (empty list when clean); never raises for user input."""
    return _load(root)[1]


def validation_report(root: Path | str) -> tuple[list[Diagnostic], str]:
    """What `lagosync validate` prints: the diagnostics and a one-line summary."""
    workspace, diags = _load(root)
    if diags:
        n = len(diags)
        return diags, f"{n} error{'s' if n != 1 else ''} in the workspace"
    assert workspace is not None
    files = len(workspace.files)
    return [], f"ok: {workspace.object_count} objects in {files} file{'s' if files != 1 else ''}"
