"""``lagosync doctor``: can lagosync reach this environment's Lago, and is the key accepted?

Checks, in order (each stops the next when it fails):
1. configuration: the environment exists and its API key variable is set (``connect``);
2. server: ``GET /health`` answers (no auth, lago-behaviour#health-endpoint) and reports Lago's version;
3. API key: an authenticated call, ``GET /organizations`` (lago-behaviour#organizations-endpoint), reports the organization
   and, when lagosync.yaml pins the environment's ``organization`` (name or lago_id), checks it;
   a Lago without that route is checked with a one-item ``GET /billable_metrics`` instead.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import UserError
from ..workspace import load_settings
from .connect import OrganizationMismatch, check_organization, connect, resolve_environment
from .errors import LagoApiError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    environment: str
    url: str | None = None
    checks: list[Check] = field(default_factory=list)
    lago_version: str | None = None
    organization: str | None = None

    @property
    def healthy(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.healthy else 1

    def format(self) -> str:
        where = f" at {self.url}" if self.url else ""
        lines = [f"lagosync doctor: environment '{self.environment}'{where}"]
        for check in self.checks:
            mark = "ok  " if check.ok else "FAIL"
            lines.append(f"  {mark}  {check.name:<8} {check.detail}")
        lines.append("healthy" if self.healthy else "not healthy")
        return "\n".join(lines)


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


async def doctor(workspace: Any, env_name: str | None = None, **client_overrides: Any) -> DoctorReport:
    """Run the checks against ``env_name`` of ``workspace``; never raises for an unhealthy Lago."""
    env = resolve_environment(workspace, env_name)
    report = DoctorReport(environment=env.name)
    client_overrides.setdefault("max_retries", 1)
    client_overrides.setdefault("timeout", 10.0)
    try:
        client = connect(workspace, env.name, **client_overrides)
    except UserError as exc:
        report.checks.append(Check("config", False, str(exc)))
        return report
    report.url = client.base_url + (" (embedded emulator)" if getattr(env, "emulator", False) else "")
    async with client:
        started = time.perf_counter()
        try:
            health = await client.health()
        except LagoApiError as exc:
            report.checks.append(Check("server", False, f"GET /health failed: {exc}"))
            return report
        version = health.get("version") if isinstance(health, dict) else None
        report.lago_version = str(version) if version else None
        report.checks.append(
            Check("server", True, f"Lago {version or '(version not reported)'} answered /health in {_ms(started)}")
        )

        started = time.perf_counter()
        try:
            try:
                # the same pin check as every command that reads Lago
                org = await check_organization(client)
            except OrganizationMismatch as exc:
                report.checks.append(Check("api key", False, str(exc)))
                return report
            if org is not None:
                name = org.get("name")
                report.organization = name
                detail = f"accepted; organization '{name or '?'}' (GET /organizations in {_ms(started)})"
            else:
                await client.request("GET", "/billable_metrics", params={"page": 1, "per_page": 1})
                detail = f"accepted (GET /billable_metrics in {_ms(started)}; this Lago has no GET /organizations)"
        except LagoApiError as exc:
            report.checks.append(Check("api key", False, str(exc)))
            return report
        report.checks.append(Check("api key", True, detail))
    return report


def run_doctor(root: str | Path, env_name: str | None = None) -> DoctorReport:
    """Load the settings of the workspace at ``root`` and run ``doctor`` (the CLI entry point).

    Only ``lagosync.yaml`` is read (``load_settings``): doctor checks connectivity even when
    plans/ or orgs.yaml do not validate; ``connect`` only needs ``root`` and ``settings``.
    """

    settings = load_settings(root)
    return asyncio.run(doctor(SimpleNamespace(root=Path(root), settings=settings), env_name))
