"""``connect(workspace, env_name)``: a ``LagoClient`` for one environment of a workspace.

- ``local`` (``Environment.emulator`` True): the embedded emulator, in process, stored in
  ``<workspace root>/.lagosync/local.db``; no network, no key to set.
- any other environment: ``api_url`` from lagosync.yaml and the API key from the environment
  variable named by ``api_key_env`` (the key itself is never written in a file, nor printed).

Client tuning comes from the environment entry when it carries ``concurrency``, ``rate_limit`` or
``timeout``, and can be overridden per run with ``LAGOSYNC_CONCURRENCY``, ``LAGOSYNC_RATE_LIMIT``
(requests/s, ``0`` = off), ``LAGOSYNC_TIMEOUT`` (seconds per network read), ``LAGOSYNC_DEADLINE``
(seconds for a whole request, the answer included) and ``LAGOSYNC_MAX_RETRIES`` (``0`` = no retry;
CI jobs and tests use it to fail fast on an unreachable Lago). Lago Cloud hosts (``*.getlago.com``)
get a 50 requests/s limit by default, Lago Cloud's limit for management endpoints (lago-behaviour#cloud-rate-limits).

The client carries two more settings of the environment entry: ``organization`` (the pin) and
``premium`` (whether that Lago has a license; the API does not say, lago-behaviour#premium-not-reported).
``check_organization(client)`` is the one pin check: ``lagosync.live.read_live`` (the first read of
plan, apply, show, drift and import) and ``doctor`` call it before anything else is read.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import UserError
from ..workspace.state import ensure_state_dir
from .core import LagoClient
from .errors import LagoNotFound

LOCAL_BASE_URL = "http://lago.local"
LOCAL_API_KEY = "lago-local-key"
CLOUD_RATE_LIMIT = 50.0  # lago-behaviour#cloud-rate-limits: Lago Cloud, all endpoints but events/usage, per organization


class OrganizationMismatch(UserError):
    """The API key belongs to another organization than the one lagosync.yaml pins (nothing is read)."""


async def check_organization(client: Any) -> dict[str, Any] | None:
    """The key's organization (``GET /organizations``, lago-behaviour#organizations-endpoint), checked
    against the environment's ``organization:`` pin (a name or a lago_id).

    Raises ``OrganizationMismatch`` (exit 1) when the key belongs to another organization, or when a pin
    cannot be checked because the server has no such route; returns None for a Lago without the route
    and no pin.
    """
    pinned = client.pinned_organization
    where = f"environment '{client.environment}'"
    try:
        org = await client.organization()
    except LagoNotFound:
        if pinned:
            raise OrganizationMismatch(
                f"lagosync.yaml pins {where} to organization '{pinned}', but this Lago has no "
                f"GET /organizations to tell which organization the API key belongs to: remove "
                f"organization: from {where} in lagosync.yaml to run without the check"
            ) from None
        return None
    org = org if isinstance(org, dict) else {}
    name = org.get("name")
    if pinned and pinned not in (name, org.get("lago_id")):
        key = f" (set {client.api_key_env})" if client.api_key_env else ""
        raise OrganizationMismatch(
            f"the API key of {where} belongs to organization '{name or '?'}', but lagosync.yaml pins "
            f"{where} to organization '{pinned}': use an API key of '{pinned}'{key}, or correct "
            f"organization: for {where} in lagosync.yaml"
        )
    return org


def resolve_environment(workspace: Any, env_name: str | None):
    settings = workspace.settings
    name = env_name or getattr(settings, "default_environment", None) or "local"
    envs = settings.environments or {}
    if name not in envs:
        known = ", ".join(sorted(envs)) or "none"
        raise UserError(
            f"unknown environment '{name}' (defined in lagosync.yaml: {known}); "
            f"add it under environments: or pick one with -e"
        )
    return envs[name]


def _number(name: str, raw: Any, kind: type, source: str):
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise UserError(f"{source}: {name} must be a number, got {raw!r}") from None
    if value < 0 or (kind is int and value < 1 and name != "LAGOSYNC_MAX_RETRIES"):
        raise UserError(f"{source}: {name} must be positive, got {raw!r}")
    return value


def client_settings(env: Any, base_url: str | None) -> dict[str, Any]:
    """``concurrency``, ``rate_limit``, ``timeout``, ``max_retries`` for ``env`` (entry, then env-var
    overrides)."""
    out: dict[str, Any] = {}
    host = urlsplit(base_url or "").hostname or ""
    if host == "getlago.com" or host.endswith(".getlago.com"):
        out["rate_limit"] = CLOUD_RATE_LIMIT
    where = f"environment '{env.name}' in lagosync.yaml"
    for attr, kind in (("concurrency", int), ("rate_limit", float), ("timeout", float)):
        raw = getattr(env, attr, None)
        if raw is not None:
            out[attr] = _number(attr, raw, kind, where)
    for attr, var, kind in (
        ("concurrency", "LAGOSYNC_CONCURRENCY", int),
        ("rate_limit", "LAGOSYNC_RATE_LIMIT", float),
        ("timeout", "LAGOSYNC_TIMEOUT", float),
        ("deadline", "LAGOSYNC_DEADLINE", float),
        ("max_retries", "LAGOSYNC_MAX_RETRIES", int),
    ):
        raw = os.environ.get(var, "").strip()
        if raw:
            out[attr] = _number(var, raw, kind, f"environment variable {var}")
    if out.get("rate_limit") == 0:
        out["rate_limit"] = None
    if out.get("timeout") == 0:
        raise UserError("the client timeout must be more than 0 seconds")
    if out.get("deadline") == 0:
        raise UserError("the client deadline (LAGOSYNC_DEADLINE) must be more than 0 seconds")
    return out


def connect(workspace: Any, env_name: str | None = None, **overrides: Any) -> LagoClient:
    """A ``LagoClient`` for ``env_name`` (default: the workspace's default environment).

    ``overrides`` are passed to ``LagoClient`` (e.g. ``max_retries=1`` for ``doctor``).
    """
    env = resolve_environment(workspace, env_name)
    name = env.name
    if getattr(env, "emulator", False):
        # start-up: only the local environment loads the emulator
        from ..emulator import Emulator, EmulatorTransport
        from ..emulator.dblock import hold_for_local  # start-up: with the emulator

        folder = Path(workspace.root) / ".lagosync"
        try:
            ensure_state_dir(folder)
        except OSError as exc:
            raise UserError(
                f"{folder}: cannot create the local emulator's folder ({exc.strerror or exc}); "
                f"make the workspace writable, or remove the file of that name"
            ) from None
        key = LOCAL_API_KEY
        if env.api_key_env and os.environ.get(env.api_key_env, "").strip():
            key = os.environ[env.api_key_env].strip()
        db = folder / "local.db"
        # never next to a running `lagosync emulator serve` on the same file (each would miss the
        # other's writes): refused, saying why; the lock goes with the emulator
        lock = hold_for_local(db, name)
        try:
            emulator = Emulator(db_path=str(db), api_key=key, premium=bool(getattr(env, "premium", False)),
                                clock=emulator_clock())
            weakref.finalize(emulator, lock.release)
        except (sqlite3.Error, ValueError) as exc:
            lock.release()
            raise UserError(
                f"{db}: the local emulator's database cannot be read ({exc}); it is not a lagosync "
                f"database or is damaged: delete it to start the 'local' environment afresh "
                f"(its objects are lost; `lagosync apply -e local` recreates the workspace's)"
            ) from None
        kwargs = {**_told(env), **client_settings(env, None), **overrides}
        kwargs.setdefault("transport", EmulatorTransport(emulator))
        client = LagoClient(LOCAL_BASE_URL, key, environment=name, api_key_env=env.api_key_env, **kwargs)
        client.lago_now = emulator.now  # the emulator's clock is this Lago's time
        return client

    if "@" in urlsplit(env.api_url or "").netloc:
        raise UserError(
            f"environment '{name}': api_url in lagosync.yaml holds a user name or password "
            f"(user:password@): remove it; lagosync sends the API key from ${env.api_key_env or 'api_key_env'}, "
            f"and a URL is printed in plans and PR comments"
        )
    if not env.api_url:
        raise UserError(
            f"environment '{name}' has no api_url in lagosync.yaml "
            f"(for example https://api.getlago.com, or your self-hosted Lago URL)"
        )
    if not env.api_key_env:
        raise UserError(
            f"environment '{name}' has no api_key_env in lagosync.yaml: name the environment "
            f"variable that holds its Lago API key (for example LAGO_{name.upper()}_API_KEY)"
        )
    key = os.environ.get(env.api_key_env, "").strip()
    if not key:
        raise UserError(
            f"environment '{name}' needs a Lago API key: set the environment variable "
            f"{env.api_key_env} (named by api_key_env in lagosync.yaml)"
        )
    kwargs = {**_told(env), **client_settings(env, env.api_url), **overrides}
    return LagoClient(env.api_url, key, environment=name, api_key_env=env.api_key_env, **kwargs)


def _told(env: Any) -> dict[str, Any]:
    """What the environment entry says about its Lago: the pinned organization, the premium license."""
    return {"organization": getattr(env, "organization", None), "premium": bool(getattr(env, "premium", False))}


EMULATOR_NOW_VAR = "LAGOSYNC_EMULATOR_NOW"


def emulator_clock() -> Callable[[], _dt.datetime] | None:
    """The local emulator's clock: the machine's, or a fixed moment from ``LAGOSYNC_EMULATOR_NOW``
    (``YYYY-MM-DD`` or an ISO date-time, UTC), so a workspace can be tried across period ends and dates
    (lago-behaviour#emulator-clock)."""
    text = os.environ.get(EMULATOR_NOW_VAR, "").strip()
    if not text:
        return None
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{EMULATOR_NOW_VAR}={text!r} is not a date or date-time (write YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM:SS)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return lambda: moment
