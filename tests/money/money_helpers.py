"""Shared by tests/money: the example workspace copied to a temp folder, and the CLI run on it."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from lagosync.cli import main

REPO = Path(__file__).resolve().parents[2]
LOCAL_ONLY = "default_environment: local\nenvironments:\n  local: {}\n"


def example(tmp_path: Path, settings: str = LOCAL_ONLY, *, folders: tuple[str, ...] = ("plans",)) -> Path:
    """A copy of the example workspace (plans/, orgs.yaml and ``folders``) with ``settings`` as lagosync.yaml."""
    root = tmp_path / "ws"
    root.mkdir()
    for folder in folders:
        shutil.copytree(REPO / folder, root / folder)
    shutil.copy(REPO / "orgs.yaml", root / "orgs.yaml")
    (root / "lagosync.yaml").write_text(settings)
    return root


def cli(root: Path, *args: str, env: dict[str, str] | None = None):
    """``lagosync ARGS[0] -w ROOT ARGS[1:]`` in-process."""
    return CliRunner().invoke(main, [args[0], "-w", str(root), *args[1:]], catch_exceptions=False, env=env)
