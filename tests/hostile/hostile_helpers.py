"""Shared helpers of tests/hostile: an example workspace, the CLI in-process, a clean-exit check."""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

import lagosync.emulator as emulator_module
from lagosync.cli import main
from lagosync.client.core import LagoClient

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


class Hostile(httpx.AsyncBaseTransport):
    """A transport in front of the local emulator: ``script(request)`` may answer instead of it
    (a Response), or return None to let the emulator answer. Records every request."""

    def __init__(self) -> None:
        self.inner: httpx.AsyncBaseTransport | None = None
        self.script: Callable[[httpx.Request], httpx.Response | None] | None = None
        # after(request, emulator's JSON answer) -> JSON to send instead, or None to keep the answer
        self.after: Callable[[httpx.Request, Any], Any] | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, dict(request.url.params)))
        if self.script is not None:
            answer = self.script(request)
            if answer is not None:
                return answer
        assert self.inner is not None
        response = await self.inner.handle_async_request(request)
        if self.after is not None:
            await response.aread()
            changed = self.after(request, json.loads(response.content) if response.content else None)
            if changed is not None:
                return httpx.Response(response.status_code, json=changed)
        return response

    @property
    def writes(self) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[0] != "GET"]

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)


class SleepLog:
    """The client's injected sleep: records each wait, lets no time pass."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@dataclass
class HostileLago:
    root: Path
    transport: Hostile
    sleeps: SleepLog

    def run(self, *args: Any, env: dict[str, str] | None = None) -> Result:
        self.transport.requests.clear()
        self.sleeps.waits.clear()
        return within(20, lambda: invoke(*args, "-w", self.root, env=env))


def hostile_lago(root: Path, monkeypatch: Any) -> HostileLago:
    """The example workspace applied to its local emulator (so plan says "No changes"), then every
    client of the run goes through a ``Hostile`` transport and an injected sleep."""
    connect_module = importlib.import_module("lagosync.client.connect")  # the package exports a function of that name

    example_workspace(root)
    result = invoke("apply", "-w", root, "--auto-approve")
    assert result.exit_code == 0, result.output
    transport, sleeps = Hostile(), SleepLog()
    real = emulator_module.EmulatorTransport

    def wrapped(emulator: Any, *args: Any, **kwargs: Any) -> Hostile:
        transport.inner = real(emulator, *args, **kwargs)
        return transport

    class Client(LagoClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("sleep", sleeps)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(emulator_module, "EmulatorTransport", wrapped)
    monkeypatch.setattr(connect_module, "LagoClient", Client)
    return HostileLago(root, transport, sleeps)
