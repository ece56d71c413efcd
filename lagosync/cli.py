"""The lagosync command line: a thin click layer over the library.

Every command calls one function of the library and maps ``LagosyncError`` to a clean
message and exit code; no logic lives here that a test cannot reach without the CLI.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from . import __version__
from .errors import LagosyncError, record_error, redact_secrets, setup_logging


def handle_errors(fn):
    """Print a LagosyncError as ``error: ...`` and exit with its code; never a traceback.

    Any other exception is a lagosync bug: it is reported in one line too (exit 1), and its
    traceback is shown only when ``LAGOSYNC_DEBUG=1``. Secret-looking environment values are
    redacted from every message (``errors.redact_secrets``).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LagosyncError as exc:
            click.echo(f"error: {redact_secrets(str(exc))}", err=True)
            record_error(f"error: {exc}")  # $LAGOSYNC_ERROR_FILE, for the CI job's failure step
            sys.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
            if os.environ.get("LAGOSYNC_DEBUG", "") not in ("", "0"):
                raise
            detail = redact_secrets(f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            click.echo(
                f"error: unexpected internal error ({detail}); this is a lagosync bug, please report it "
                "(run again with LAGOSYNC_DEBUG=1 to see the traceback)",
                err=True,
            )
            sys.exit(1)

    return wrapper


class _CleanError(click.ClickException):
    """A LagosyncError raised while click parses the options: printed as ``error: ...``, exit 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {redact_secrets(self.format_message())}", err=True)


def _find_workspace(ctx, param, value):
    """Without -w: the nearest folder holding lagosync.yaml, from the current directory up (as git)."""
    if value is not None:
        return value
    from .workspace import find_root  # start-up: loaded when a command runs

    try:
        return str(find_root())
    except LagosyncError as exc:
        raise _CleanError(str(exc)) from None


def _find_workspace_if_any(ctx, param, value):
    """As _find_workspace, but None when there is none (a command that may not need it says so later)."""
    if value is not None:
        return value
    from .workspace import find_root  # start-up: loaded when a command runs

    try:
        return str(find_root())
    except LagosyncError:
        return None


def workspace_option(fn=None, *, optional: bool = False):
    """``-w/--workspace DIR``: the workspace root (default: the nearest folder with a lagosync.yaml,
    from the current directory up); ``optional``: None when there is none."""
    if fn is None:
        return lambda f: workspace_option(f, optional=optional)
    return click.option(
        "-w", "--workspace", "workspace", default=None,
        callback=_find_workspace_if_any if optional else _find_workspace,
        type=click.Path(), help="Workspace root (holds lagosync.yaml, plans/, orgs.yaml). "
                                "Default: the current folder or the nearest one above it with a lagosync.yaml.",
    )(fn)


def target_options(fn):
    """``--target KIND:KEY`` / ``--exclude KIND:KEY`` (repeatable), as Terraform's -target / -exclude."""
    fn = click.option("--exclude", "excludes", multiple=True, metavar="KIND:KEY",
                      help="Leave out the changes of this object and of what depends on it (repeatable).")(fn)
    return click.option("--target", "targets", multiple=True, metavar="KIND:KEY",
                        help="Only the changes of this object and of what it depends on (repeatable), "
                             "e.g. --target plan:pro.")(fn)


def _verbose_after(ctx, param, value):
    """``-v``/``-vv`` after a subcommand (``lagosync plan -v``), as before it."""
    if value:
        count = max(value, ctx.find_root().params.get("verbose") or 0)
        setup_logging("info" if count == 1 else "debug")


def _verbose_kept(ctx, param, value):
    """``_verbose_after``, and the count is passed on to the command."""
    _verbose_after(ctx, param, value)
    return value


def show_all_option(fn):
    """``-v/--verbose`` of plan and show: every field of a create (not only those that differ from
    Lago's defaults), and info logs on stderr as ``-v`` after any command."""
    return click.option(
        "-v", "--verbose", "verbose_after", count=True, callback=_verbose_kept,
        help="Show every field of an object to create, also Lago's defaults (and log to stderr: -v info, "
             "-vv debug).")(fn)


def _show_all(verbose_after: int) -> bool:
    """``-v`` after the command, or ``lagosync -v COMMAND``."""
    root = click.get_current_context().find_root()
    return bool(verbose_after or root.params.get("verbose"))


def env_option(fn):
    """``-e/--env NAME``: the environment from lagosync.yaml (default: its default_environment, else `local`)."""
    return click.option(
        "-e", "--env", "env", default=None,
        help="Environment name from lagosync.yaml (default: its default_environment, else local).",
    )(fn)


def _env_option_defaulting_to(what: str):
    """``-e/--env NAME`` for commands whose default is not the workspace's default environment."""
    return click.option("-e", "--env", "env", default=None,
                        help=f"Environment name from lagosync.yaml (default: {what}).")


class _Group(click.Group):
    """Usage errors (unknown option, bad --format value) exit 1 like every other error
    (docs/commands.md), not click's 2: exit 2 means "changes" for plan --detailed-exitcode
    and "drift" for drift, so a CI job must never read a typo as one of them."""

    group_class = type  # sub-groups (ci, emulator) are _Group too: -v after any subcommand

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None and not any(p.name == "verbose_after" for p in cmd.params):
            cmd.params.append(click.Option(
                ["-v", "--verbose", "verbose_after"], count=True, expose_value=False, callback=_verbose_after,
                help="Log to stderr: -v info, -vv debug (as `lagosync -v COMMAND`)."))
        return name, cmd, rest

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lagosync")
@click.option("-v", "--verbose", count=True,
              help="Log to stderr: -v info, -vv debug (HTTP requests; API keys are never logged). "
                   "Also LAGOSYNC_LOG_LEVEL=debug.")
@handle_errors
def main(verbose: int = 0) -> None:
    """lagosync: billing as code for Lago (plan, apply, drift)."""
    level = {0: None, 1: "info"}.get(verbose, "debug") or os.environ.get("LAGOSYNC_LOG_LEVEL") or None
    setup_logging(level)


# --- commands are added below, one block each ---


# --- validate (issue 2) ---

@main.command("validate")
@workspace_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="json: the diagnostics as a JSON document; github: GitHub Actions ::error annotations.")
@handle_errors
def validate_cmd(workspace, fmt):
    """Check the workspace offline: schemas, references, Lago rules. Exit 0 clean, 1 on errors."""
    from .workspace import validation_report  # start-up: loaded when the command runs
    from .workspace.report import report  # start-up: loaded when the command runs

    diagnostics, summary = validation_report(workspace)
    out, err = report(diagnostics, summary, fmt, workspace)
    click.echo(out, nl=False)
    click.echo(err, nl=False, err=True)
    if diagnostics:
        record_error("".join(report(diagnostics, summary, "text", workspace)))  # file:line: message lines
    sys.exit(1 if diagnostics else 0)


# --- init and schema (issue 15): a new workspace, the JSON Schemas its modelines name ---

@main.command("init")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option("--from", "from_lago", is_flag=True,
              help="Start from an existing Lago: import the objects of environment -e instead of the example.")
@click.option("-e", "--env", "env", default=None,
              help="With --from: the environment to import (declared in DIR/lagosync.yaml, or with --api-url).")
@click.option("--api-url", default=None, help="Declare environment -e at this Lago URL in the new lagosync.yaml.")
@click.option("--api-key-env", default=None, metavar="VAR",
              help="The variable holding that environment's API key (default: LAGO_API_KEY_<ENV>).")
@click.option("--force", is_flag=True, help="Replace files that exist already (with --from: add to them).")
@handle_errors
def init_cmd(directory, from_lago, env, api_url, api_key_env, force):
    """Write a minimal valid workspace into DIRECTORY (default: here): lagosync.yaml, plans/, orgs.yaml, schemas/."""
    from .init import init_workspace  # start-up: loaded when the command runs

    click.echo(init_workspace(directory, force=force, from_lago=from_lago, env=env, api_url=api_url,
                              api_key_env=api_key_env).summary(), nl=False)


@main.command("schema")
@click.argument("directory", required=False, default=None, type=click.Path(file_okay=False))
@click.option("-w", "--workspace", "workspace", default=None, type=click.Path(),
              help="Workspace whose schemas/ to write (default: the nearest one up from here, else here).")
@handle_errors
def schema_cmd(directory, workspace):
    """Write the JSON Schemas of the workspace files into DIRECTORY (default: schemas/ of the workspace),
    where the files' yaml-language-server modelines find them."""
    from pathlib import Path  # start-up: loaded when the command runs

    from .schemafiles import SCHEMA_DIR, write_schemas  # start-up: loaded when the command runs
    from .workspace import find_root  # start-up: loaded when the command runs

    if directory is None:
        try:
            root = Path(workspace) if workspace is not None else find_root()
        except LagosyncError:
            root = Path(".")
        directory = root / SCHEMA_DIR
    done = write_schemas(directory)
    lines = done.lines() + ([f"{len(done.unchanged)} schema(s) already up to date in {directory}"]
                            if done.unchanged else [])
    click.echo("\n".join(lines))


# --- test (issue 14): pricing outcome tests, offline ---

@main.command("test")
@workspace_option
@click.option("-e", "--env", "env", default=None, metavar="ENV",
              help="Also run each case live against this (sandbox) Lago: a throwaway customer and subscription, "
                   "the usage as events, its current usage compared; all removed after.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: every case with its computed breakdown.")
@handle_errors
def test_cmd(workspace, env, fmt):
    """Price the cases of pricing_tests/*.yaml offline (no Lago); with -e ENV also live.
    Exit 0 all pass, 1 on a failure or an invalid case."""
    from .pricing.cases import run_tests  # start-up: loaded when the command runs

    run = run_tests(workspace, env)
    click.echo(run.json() if fmt == "json" else run.text(), nl=False)
    if run.exit_code:
        record_error(run.text())
    sys.exit(run.exit_code)


# --- plan and show (issue 4) ---

_FORMAT = click.Choice(["text", "markdown", "json"])


@main.command("plan")
@workspace_option
@env_option
@click.option("--format", "fmt", type=_FORMAT, default="text", show_default=True, help="Output format.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Also save the plan (JSON) to this file, for show and apply.")
@click.option("--prune", is_flag=True, help="Delete objects lagosync marked as managed that the YAML no longer has.")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also when NO_COLOR is set).")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there are no changes, 2 when there are, 4 when a billing policy is violated.")
@target_options
@show_all_option
@handle_errors
def plan_cmd(workspace, env, fmt, out, prune, no_color, detailed_exitcode, targets, excludes, verbose_after):
    """Show what apply would change in Lago (reads only; exit 0 ok, 1 error; see --detailed-exitcode)."""
    from . import workflow  # start-up: loaded when the command runs
    from .planner.targeting import Targeting  # start-up: loaded when the command runs

    result = workflow.run_plan(workspace, env, fmt=fmt, out=out, prune=prune,
                               color=workflow.use_color(no_color), targeting=Targeting.parse(targets, excludes),
                               verbose=_show_all(verbose_after))
    click.echo(result.output, nl=False)
    if detailed_exitcode and result.plan.violated_policies:
        sys.exit(workflow.EXIT_POLICY)
    if detailed_exitcode and result.plan.has_changes:
        sys.exit(workflow.EXIT_CHANGES)


@main.command("show")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@workspace_option(optional=True)  # --no-check renders the file alone, from any folder
@_env_option_defaulting_to("the plan's environment")
@click.option("--format", "fmt", type=_FORMAT, default="text", show_default=True, help="Output format.")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also when NO_COLOR is set).")
@click.option("--no-check", is_flag=True, help="Do not compare the plan with the workspace and Lago.")
@show_all_option
@handle_errors
def show_cmd(plan_file, workspace, env, fmt, no_color, no_check, verbose_after):
    """Render a saved plan; a stale plan still renders, with a warning (exit 0, or 1 on error)."""
    from . import workflow  # start-up: loaded when the command runs

    if workspace is None and not no_check:
        workspace = _find_workspace(None, None, None)  # the check compares with the workspace: say where it is
    click.echo(workflow.run_show(plan_file, workspace or ".", env, fmt=fmt, color=workflow.use_color(no_color),
                                 check=not no_check, verbose=_show_all(verbose_after)), nl=False)


# --- doctor (issue 3) ---


@main.command("doctor")
@workspace_option
@env_option
@handle_errors
def doctor_cmd(workspace, env):
    """Check that Lago answers and accepts the API key (exit 0 healthy, 1 not)."""
    from .client.doctor import run_doctor  # start-up: loaded when the command runs

    report = run_doctor(workspace, env)
    click.echo(report.format())
    sys.exit(report.exit_code)


# --- apply (issue 5) ---


@main.command("apply")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@workspace_option
@env_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.option("--allow-destroy", is_flag=True, help="Allow deletes, subscription terminations and metric deletes.")
@click.option("--allow-reprice", is_flag=True, help="Allow changes that re-price existing subscribers.")
@click.option("--prune", is_flag=True, help="Delete managed objects no longer in the workspace (with --allow-destroy).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one audit JSON line per write on stdout (progress goes to stderr).")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Independent operations run in parallel, at most this many at once.")
@click.option("--no-color", is_flag=True, help="No colour in the plan shown.")
@click.option("--override-policy", "override_policies", multiple=True, metavar="NAME",
              help="Apply although billing policy NAME of lagosync.yaml is violated (recorded in the audit log).")
@click.option("--migrations", "migrations_only", is_flag=True,
              help="Only what the price migrations need today: their due moves and records (the scheduled run).")
@target_options
@handle_errors
def apply_cmd(plan_file, workspace, env, auto_approve, allow_destroy, allow_reprice, prune, log_format,
              concurrency, no_color, migrations_only, override_policies, targets, excludes):
    """Apply the workspace to Lago (plans first and asks), or apply a saved PLAN_FILE.

    Exit codes: 0 applied, 1 error/refused/partial failure, 3 saved plan is stale.
    """
    from .applier import run_cli  # start-up: loaded when the command runs
    from .planner.targeting import Targeting  # start-up: loaded when the command runs

    run_cli(workspace, env, plan_file=plan_file, auto_approve=auto_approve, allow_destroy=allow_destroy,
            allow_reprice=allow_reprice, prune=prune, log_format=log_format, concurrency=concurrency,
            no_color=no_color, migrations_only=migrations_only, override_policies=tuple(override_policies),
            targeting=Targeting.parse(targets, excludes))


@main.command("migrations")
@workspace_option
@env_option
@handle_errors
def migrations_cmd(workspace, env):
    """List each price migration: done, due, waiting or blocked, with its subscriptions (reads only)."""
    from . import workflow  # start-up: loaded when the command runs

    click.echo(workflow.run_migrations(workspace, env), nl=False)


# --- drift and import (issue 6) ---


@main.command("drift")
@workspace_option
@env_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Output format (json: the documented drift document).")
@handle_errors
def drift_cmd(workspace, env, fmt):
    """Report what changed in Lago outside lagosync. Exit 0 no drift, 2 drift, 1 error."""
    from .drift import run_drift  # start-up: loaded when the command runs

    text, code = run_drift(workspace, env, fmt)
    click.echo(text, nl=False)
    sys.exit(code)


@main.command("import")
@workspace_option
@env_option
@click.option("--select", "select", multiple=True, metavar="KIND:CODE",
              help="Import only these objects (repeatable), e.g. plan:pro, metric:api_calls, customer:org_acme.")
@click.option("--force", is_flag=True, help="Add to existing files (what they declare is kept).")
@handle_errors
def import_cmd(workspace, env, select, force):
    """Write workspace YAML for objects that already exist in Lago (adopting an existing Lago)."""
    from .importer import run_import  # start-up: loaded when the command runs

    click.echo(run_import(workspace, env, select=list(select), force=force).summary(), nl=False)


# --- ci (issue 7): helpers the GitHub workflows and action.yml call ---


@main.group("ci")
def ci_group() -> None:
    """CI helpers: PR comment, labels, drift issue, environments (used by .github/workflows)."""


@ci_group.command("labels")
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def ci_labels(plans, fmt):
    """Print the lagosync labels for saved plans (one per environment)."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.cmd_labels(plans, fmt, os.environ))


_ERROR_HELP = ("The error of a failed validate or plan (the file $LAGOSYNC_ERROR_FILE names): the comment says "
               "'lagosync could not plan this change' with it, in place of the plan. A missing file: the step "
               "failed before lagosync ran.")


def _ci_workspace_option(fn):
    """``-w DIR`` of the ci commands that read lagosync.yaml only for a default (never required)."""
    return click.option("-w", "--workspace", "workspace", default=None, type=click.Path(),
                        help="Workspace whose lagosync.yaml gives the default environment "
                             "(default: the nearest one up from here).")(fn)


@ci_group.command("pr-comment")
@click.argument("plan", type=click.Path(dir_okay=False), required=False)
@click.option("--markdown", "markdown", type=click.Path(dir_okay=False), help="Rendered plan (show --format markdown).")
@click.option("--artifact", default=None, help="Name of the artifact holding the saved plan (shown in the footer).")
@click.option("--error", "error", default=None, type=click.Path(dir_okay=False), help=_ERROR_HELP)
@env_option
@_ci_workspace_option
@handle_errors
def ci_pr_comment(plan, markdown, artifact, error, env, workspace):
    """Print the sticky PR comment body for a saved plan (with its hidden marker), or for --error FILE."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.cmd_pr_comment(plan, markdown, artifact=artifact, error_path=error, env=env,
                                 workspace_root=workspace, environ=os.environ))


@ci_group.command("drift-issue")
@click.argument("drift", type=click.Path(dir_okay=False))
@click.option("--markdown", type=click.Path(dir_okay=False), help="Rendered drift (drift --format markdown).")
@click.option("--current", "current", type=click.Path(dir_okay=False),
              help="Body of the open drift issue: JSON output says whether the fingerprint is the same.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def ci_drift_issue(drift, markdown, current, fmt):
    """Print the drift issue title and body (with the drift fingerprint marker)."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.cmd_drift_issue(drift, markdown, current_path=current, fmt=fmt, environ=os.environ))


@ci_group.command("environments")
@workspace_option
@click.option("--only", default=None, help="Comma/space separated subset, e.g. from vars.LAGOSYNC_ENVIRONMENTS.")
@click.option("--github-output", is_flag=True, help="Also write matrix=<json> to $GITHUB_OUTPUT.")
@handle_errors
def ci_environments(workspace, only, github_output):
    """Print the environments of lagosync.yaml as a JSON matrix."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.cmd_environments(workspace, only, github_output=github_output, environ=os.environ))


@ci_group.command("export-api-key")
@workspace_option
@env_option
@handle_errors
def ci_export_api_key(workspace, env):
    """Copy $LAGOSYNC_API_KEY to the variable lagosync.yaml names for ENV, via $GITHUB_ENV."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.cmd_export_api_key(workspace, env or ci.default_environment(workspace), os.environ))


@ci_group.group("github")
def ci_github() -> None:
    """Talk to the GitHub REST API (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH)."""


@ci_github.command("pr-comment")
@click.argument("plan", type=click.Path(dir_okay=False), required=False)
@click.option("--pr", type=int, default=None, help="Pull request number (default: from the event).")
@click.option("--markdown", type=click.Path(dir_okay=False), help="Rendered plan (show --format markdown).")
@click.option("--error", "error", default=None, type=click.Path(dir_okay=False), help=_ERROR_HELP)
@env_option
@click.option("--only", default=None,
              help="With --error: the comments of these environments (as `ci environments --only`; empty: "
                   "every CI environment) instead of -e's.")
@_ci_workspace_option
@click.option("--dry-run", is_flag=True, help="Print what would be posted; no GitHub call (no token needed).")
@handle_errors
def ci_github_pr_comment(plan, pr, markdown, error, env, only, workspace, dry_run):
    """Create or update the one sticky lagosync comment of the plan's environment (or, with --error,
    put the error of a failed validate or plan in it)."""
    from . import ci  # start-up: loaded when the command runs
    if error is not None:
        click.echo(ci.gh_pr_comment_error(error, env=env, only=only, workspace_root=workspace, pr=pr,
                                          environ=os.environ, dry_run=dry_run))
        return
    click.echo(ci.gh_pr_comment(plan, pr=pr, markdown_path=markdown, environ=os.environ, dry_run=dry_run))


@ci_github.command("labels")
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--pr", type=int, default=None, help="Pull request number (default: from the event).")
@handle_errors
def ci_github_labels(plans, pr):
    """Set the lagosync:* labels of the pull request from the saved plans of all environments."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.gh_labels(plans, pr=pr, environ=os.environ))


@ci_github.command("drift-issue")
@click.argument("drift", type=click.Path(dir_okay=False))
@click.option("--markdown", type=click.Path(dir_okay=False), help="Rendered drift (drift --format markdown).")
@handle_errors
def ci_github_drift_issue(drift, markdown):
    """Open, update (only on a new fingerprint) or close the drift issue of the report's environment."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.gh_drift_issue(drift, markdown_path=markdown, environ=os.environ))


@ci_github.command("fetch-plan")
@env_option
@_ci_workspace_option
@click.option("--out", "out", default="plan.json", show_default=True, type=click.Path(dir_okay=False))
@click.option("--sha", default=None, help="Merge commit (default: $GITHUB_SHA).")
@handle_errors
def ci_github_fetch_plan(env, workspace, out, sha):
    """Download the saved plan reviewed on the pull request merged as the current commit."""
    from . import ci  # start-up: loaded when the command runs
    click.echo(ci.gh_fetch_plan(env or ci.default_environment(workspace), out, sha=sha, environ=os.environ))


@main.group("emulator")
def emulator_group() -> None:
    """The embedded Lago emulator (lago-api 1.51.0 behaviour)."""


@emulator_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=3000, show_default=True, type=int, help="TCP port (0 = any free port).")
@click.option("--db", default=":memory:", show_default=True, help="SQLite file holding the state (or :memory:).")
@click.option("--api-key", default="lago-local-key", show_default=True, help="The API key clients must send.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault injection.")
@click.option("--latency", default=0.0, type=float,
              help="Seconds from a request's arrival to its answer (a write lands once they have passed).")
@click.option("--p429", default=0.0, type=float, help="Probability of a 429 with Retry-After.")
@click.option("--p500", default=0.0, type=float, help="Probability of a 500.")
@click.option("--p503", default=0.0, type=float, help="Probability of a 503.")
@click.option("--p-drop", default=0.0, type=float, help="Probability of dropping the connection.")
@click.option("--p-commit-drop", default=0.0, type=float, help="Probability of committing, then dropping.")
@click.option("--rps-limit", default=None, type=float, help="Requests per second before 429 (Lago Cloud: 50).")
@click.option("--premium", is_flag=True, help="Behave like a Lago with a premium license (default: without one).")
@handle_errors
def emulator_serve(host, port, db, api_key, seed, latency, p429, p500, p503, p_drop, p_commit_drop, rps_limit,
                   premium):
    """Serve the Lago-compatible API over HTTP until interrupted."""
    from .emulator.server import serve_from_options  # start-up: loaded when the command runs

    serve_from_options(host, port, db, api_key, seed=seed, latency=latency, p429=p429, p500=p500, p503=p503,
                       p_drop=p_drop, p_commit_drop=p_commit_drop, rps_limit=rps_limit, premium=premium,
                       announce=lambda text: click.echo(text, err=True))
