"""The lagosync command line: a thin click layer over the library.

Every command calls one function of the library and maps ``LagosyncError`` to a clean
message and exit code; no logic lives here that a test cannot reach without the CLI.
"""

from __future__ import annotations

import functools
import sys

import click

from . import __version__
from .errors import LagosyncError


def handle_errors(fn):
    """Print a LagosyncError as ``error: ...`` and exit with its code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LagosyncError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def workspace_option(fn):
    """``-w/--workspace DIR``: the workspace root (default: the current directory)."""
    return click.option(
        "-w", "--workspace", "workspace", default=".", show_default=True,
        type=click.Path(file_okay=False), help="Workspace root (holds lagosync.yaml, plans/, orgs.yaml).",
    )(fn)


def env_option(fn):
    """``-e/--env NAME``: the environment from lagosync.yaml (default: the workspace default, `local`)."""
    return click.option(
        "-e", "--env", "env", default=None, help="Environment name from lagosync.yaml (default: local)."
    )(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lagosync")
def main() -> None:
    """lagosync: billing as code for Lago (plan, apply, drift)."""


# --- commands are added below, one block each ---
