"""Shared helpers of tests/cli (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEY_VAR = "LAGOSYNC_CLI_TEST_KEY"
UNSET_VAR = "LAGOSYNC_CLI_TEST_UNSET"


def copy_example(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "plans", root / "plans")
    shutil.copy(REPO / "orgs.yaml", root / "orgs.yaml")
    return root


def run(*args: str, env: dict[str, str | None] | None = None):
    """``lagosync ARGS`` in-process (click's runner; exceptions propagate), ``env`` set around it."""
    from click.testing import CliRunner

    from lagosync.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def init_workspace(tmp_path: Path) -> Path:
    """A fresh workspace written by ``lagosync init`` (tmp_path/billing)."""
    root = tmp_path / "billing"
    assert run("init", str(root)).exit_code == 0
    return root
