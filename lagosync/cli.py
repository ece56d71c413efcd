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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lagosync")
def main() -> None:
    """lagosync: billing as code for Lago (plan, apply, drift)."""


# --- commands are added below, one block each ---
