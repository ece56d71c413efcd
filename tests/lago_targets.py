"""The Lago servers a target-agnostic test runs against: the embedded emulator always, and a real Lago
when LAGO_API_URL and LAGO_API_KEY are set (docs/emulator.md "The embedded Lago emulator": measuring fidelity).

A test takes the ``lago`` fixture (tests/emulator/conftest.py) and talks HTTP through ``Target``;
without the variables only the emulator case exists, so nothing is reported as skipped. Against a
real Lago every code and external id is made unique with a random prefix (``t.id("pro")``), and
everything a test created through ``Target.post`` is deleted again at teardown.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from lagosync.emulator import Emulator, EmulatorTransport

EMULATOR, REAL_LAGO = "emulator", "real-lago"
EMULATOR_KEY = "target-key"


def real_lago() -> tuple[str, str] | None:
    """(server URL without /api/v1, API key) of the real Lago under test, or None."""
    url, key = os.environ.get("LAGO_API_URL", "").strip(), os.environ.get("LAGO_API_KEY", "").strip()
    if not url or not key:
        return None
    url = url.rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    return url, key


def targets() -> list[str]:
    """Parameter values for target fixtures: the emulator, plus the real Lago when configured."""
    return [EMULATOR] + ([REAL_LAGO] if real_lago() else [])


# collection -> (field of the created object naming it, path template that removes it)
_CLEANUP = {
    "/plans": ("plan", "code", "/plans/{}"),
    "/billable_metrics": ("billable_metric", "code", "/billable_metrics/{}"),
    "/taxes": ("tax", "code", "/taxes/{}"),
    "/add_ons": ("add_on", "code", "/add_ons/{}"),
    "/coupons": ("coupon", "code", "/coupons/{}"),
    "/customers": ("customer", "external_id", "/customers/{}"),
    "/subscriptions": ("subscription", "external_id", "/subscriptions/{}"),
}
# deletes run subscriptions first, then customers, then the catalogue (reverse dependency order)
_CLEANUP_ORDER = ("/subscriptions", "/customers", "/coupons", "/plans", "/add_ons", "/billable_metrics", "/taxes")


def segment(value: str) -> str:
    """One path segment: every character percent-encoded but letters, digits, ``-`` and ``_``
    (a ``.`` too, since Rails would cut a default segment there, lago-behaviour#route-segments)."""
    return quote(value, safe="").replace(".", "%2E")


class Target:
    """HTTP onto one Lago: ``get/post/put/delete(path, ...) -> (status, json)`` under /api/v1."""

    def __init__(self, name: str, http: httpx.Client, emulator: Emulator | None = None):
        self.name = name
        self.http = http
        self.emulator = emulator
        self.prefix = f"ls{uuid.uuid4().hex[:8]}"
        self._created: list[tuple[str, str]] = []  # (collection, delete path)

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None

    def id(self, name: str) -> str:
        """A code or external id unique to this test run."""
        return f"{self.prefix}_{name}"

    def request(self, method: str, path: str, params: Any = None, body: Any = None) -> tuple[int, Any]:
        r = self.http.request(method, path, params=params, json=body)
        try:
            data = r.json() if r.content else None
        except ValueError:
            data = r.text
        return r.status_code, data

    def get(self, path: str, params: Any = None) -> tuple[int, Any]:
        return self.request("GET", path, params)

    def put(self, path: str, body: Any, params: Any = None) -> tuple[int, Any]:
        return self.request("PUT", path, params, body)

    def delete(self, path: str, params: Any = None) -> tuple[int, Any]:
        return self.request("DELETE", path, params)

    def post(self, path: str, body: Any, params: Any = None) -> tuple[int, Any]:
        status, data = self.request("POST", path, params, body)
        if status == 200 and path in _CLEANUP and isinstance(data, dict):
            root, field, template = _CLEANUP[path]
            value = (data.get(root) or {}).get(field)
            if value is not None:
                self._created.append((path, template.format(segment(str(value)))))
        return status, data

    def ok(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        status, data = self.post(path, body, params) if method == "POST" else self.request(method, path, params, body)
        assert status == 200, (method, path, status, data)
        return data

    # -- builders (each returns the created object) --
    def plan(self, name: str = "pro", **fields: Any) -> dict:
        body = {"name": name, "code": self.id(name), "interval": "monthly", "amount_cents": 1000,
                "amount_currency": "EUR", "pay_in_advance": False, **fields}
        return self.ok("POST", "/plans", {"plan": body})["plan"]

    def customer(self, ext: str = "acme", **fields: Any) -> dict:
        return self.ok("POST", "/customers", {"customer": {"external_id": self.id(ext), **fields}})["customer"]

    def subscribe(self, name: str, plan_code: str, customer_id: str, **fields: Any) -> dict:
        body = {"external_id": self.id(name), "plan_code": plan_code, "external_customer_id": customer_id, **fields}
        return self.ok("POST", "/subscriptions", {"subscription": body})["subscription"]

    def wait_for_jobs(self, done, attempts: int = 40) -> bool:
        """Give Lago's background jobs a chance: call ``done()`` until it is true, at most ``attempts``
        times. The emulator runs due jobs before each request; a real Lago gets a short pause between
        attempts (its job queue runs on its own)."""
        for _ in range(attempts):
            if done():
                return True
            if not self.is_emulator:
                time.sleep(0.25)
        return bool(done())

    def cleanup(self) -> None:
        rank = {c: i for i, c in enumerate(_CLEANUP_ORDER)}
        for _collection, path in sorted(reversed(self._created), key=lambda cp: rank[cp[0]]):
            try:
                self.http.request("DELETE", path)
            except httpx.HTTPError:
                pass  # best effort: a throwaway object left on a test Lago does no harm


@contextmanager
def open_target(name: str, *, job_delay: int | timedelta = 0) -> Iterator[Target]:
    """A Target for ``name`` (EMULATOR: a fresh in-memory emulator; REAL_LAGO: LAGO_API_URL/KEY)."""
    if name == EMULATOR:
        emulator = Emulator(api_key=EMULATOR_KEY, job_delay=job_delay)
        http = httpx.Client(transport=EmulatorTransport(emulator), base_url="http://lago.test/api/v1",
                            headers={"Authorization": f"Bearer {EMULATOR_KEY}"})
        target = Target(name, http, emulator)
    else:
        real = real_lago()
        assert real is not None, "the real-lago target needs LAGO_API_URL and LAGO_API_KEY"
        url, key = real
        http = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        target = Target(name, http)
    try:
        yield target
    finally:
        try:
            target.cleanup()
        finally:
            http.close()
            if target.emulator is not None:
                target.emulator.close()
