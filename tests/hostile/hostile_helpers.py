"""Shared helpers of tests/hostile: an example workspace, the CLI in-process, a clean-exit check."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from lagosync.cli import main

REPO = Path(__file__).resolve().parents[2]

SETTINGS = "default_environment: local\norg_id_prefix: org_\nuser_id_prefix: usr_\nenvironments:\n  local: {}\n"


def example_workspace(root: Path) -> Path:
    """The repository's example plans/ and orgs.yaml with a lagosync.yaml holding only `local`."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "plans", root / "plans")
    shutil.copy(REPO / "orgs.yaml", root / "orgs.yaml")
    (root / "lagosync.yaml").write_text(SETTINGS)
    return root


def invoke(*args: Any, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def assert_no_crash(result: Result) -> None:
    """Exit 0, or 1 with diagnostics / one ``error:`` line; never a traceback or an internal error."""
    out = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out, out
    assert "unexpected internal error" not in out, out
    assert result.exit_code in (0, 1), (result.exit_code, out)
    if result.exit_code == 1:
        assert "error" in result.stderr, result.stderr


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread and fail if it has not finished after ``seconds`` (a generous bound
    that only proves "does not hang"; the work itself is bounded by design)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")
