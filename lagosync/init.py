"""``lagosync init``: a minimal valid workspace, or one imported from an existing Lago (``--from``).

The files carry modelines naming the JSON Schemas that ``lagosync.schemafiles`` writes into the
workspace's ``schemas/`` (docs/workspace.md "Start your own workspace").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UserError
from .importer import run_import
from .schemafiles import SCHEMA_DIR, Written, modeline, schema_files, write_schemas

# --------------------------------------------------------------------------- init

_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _settings_text(env: str | None, api_url: str | None, api_key_env: str | None) -> str:
    extra = ""
    if env and env != "local" and api_url:
        var = api_key_env or key_variable(env)
        extra = f"  {env}:\n    api_url: {api_url}\n    api_key_env: {var}\n"
    else:
        extra = ("  # production:\n"
                 "  #   api_url: https://api.getlago.com\n"
                 "  #   api_key_env: LAGO_API_KEY    # the variable that holds its API key\n")
    return (modeline("lagosync.yaml")
            + "# Workspace settings. API keys are never written here: each environment names the\n"
              "# environment variable that holds its key.\n"
              "default_environment: local\n"
              "\n"
              "environments:\n"
              "  # `local` is the embedded Lago emulator stored under .lagosync/ (git-ignored); it needs no settings.\n"
              "  local: {}\n"
            + extra)


def key_variable(env: str) -> str:
    """The API key variable init names for environment ``env``: ``LAGO_API_KEY_<ENV>``."""
    return "LAGO_API_KEY_" + re.sub(r"[^A-Za-z0-9]", "_", env).upper()


_PLANS = """\
# One usage metric and one plan that charges for it. Money: amount_cents are integer cents;
# charge properties are decimal strings, as Lago requires.
billable_metrics:
  - code: api_calls
    name: API calls
    aggregation_type: count_agg

plans:
  - code: starter
    name: Starter
    interval: monthly
    amount_cents: 1900
    amount_currency: USD
    charges:
      - billable_metric_code: api_calls
        charge_model: standard
        properties:
          amount: "0.002"
"""

_ORGS = """\
# Orgs are Lago customers keyed by external_id. An org's only subscription gets the external_id
# `sub_<org external_id>` unless it declares one: it survives plan changes.
orgs:
  - external_id: org_example
    name: Example Inc.
    currency: USD
    subscriptions:
      - plan_code: starter
"""


@dataclass
class InitResult:
    root: Path
    written: Written
    imported: str = ""  # the import's summary (init --from)

    def summary(self) -> str:
        lines = self.written.lines()
        if self.imported:
            lines.append(self.imported.rstrip("\n"))
        where = "" if str(self.root) == "." else f" (cd {self.root})"
        lines.append(f"workspace ready in {self.root}; next{where}: lagosync validate, then lagosync plan")
        return "\n".join(lines) + "\n"


def init_workspace(root: str | Path = ".", *, force: bool = False, from_lago: bool = False,
                   env: str | None = None, api_url: str | None = None, api_key_env: str | None = None,
                   import_fn=None) -> InitResult:
    """Write a minimal valid workspace into ``root`` (lagosync.yaml, plans/plans.yaml, orgs.yaml, and
    the schemas their modelines name). With ``from_lago``: lagosync.yaml (kept when it exists and no
    ``api_url`` is given), the schemas, then ``lagosync import`` of environment ``env`` instead of the
    example files. Existing files are never replaced without ``force``; nothing is written then."""
    root = Path(root)
    if env is not None and not _ENV_NAME.match(env):
        raise UserError(f"-e {env!r}: an environment name is letters, digits, '_', '-' and '.'")
    if api_url is not None and (not env or env == "local"):
        raise UserError("--api-url needs -e NAME: the environment it is the URL of (not local, the emulator)")
    if from_lago and env is None:
        raise UserError("init --from needs -e ENV: the environment to import from (declared in lagosync.yaml, "
                        "or given with --api-url URL)")
    settings = root / "lagosync.yaml"
    keep_settings = from_lago and api_url is None and settings.is_file()
    files: dict[str, str] = {}
    if not keep_settings:
        if from_lago and env != "local" and api_url is None:
            raise UserError(f"{settings}: not found; to import from environment '{env}' pass its URL with "
                            "--api-url URL (and the variable that holds its API key with --api-key-env)")
        files["lagosync.yaml"] = _settings_text(env, api_url, api_key_env)
    if not from_lago:
        files["plans/plans.yaml"] = modeline("plans/plans.yaml") + _PLANS
        files["orgs.yaml"] = modeline("orgs.yaml") + _ORGS
    schemas = {f"{SCHEMA_DIR}/{name}": text for name, text in schema_files().items()}
    clashes = [rel for rel, text in {**files, **schemas}.items()
               if (root / rel).exists() and not ((root / rel).is_file()
                                                 and (root / rel).read_text(encoding="utf-8") == text)]
    if clashes and not force:
        raise UserError(f"{root} already has " + ", ".join(sorted(clashes))
                        + ": nothing was written; pass --force to replace them, or init another folder")
    written = Written()
    try:
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.wrote.append(rel)
    except OSError as exc:
        raise UserError(f"{root}: cannot write the workspace ({exc.strerror or exc})") from None
    schema_result = write_schemas(root / SCHEMA_DIR, base=root)
    written.wrote += [PurePosixPath(Path(p)).as_posix() for p in schema_result.wrote]
    result = InitResult(root=root, written=written)
    if from_lago:
        result.imported = (import_fn or run_import)(root, env, force=force).summary()
    return result
