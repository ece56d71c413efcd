"""A tiny scripted Lago for client tests (httpx.MockTransport), independent of the emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import SimpleNamespace
from urllib.parse import unquote

import httpx

from lagosync.client import LagoClient

KEY = "sk_live_SUPERSECRET_1234"


class Recorder:
    """Collects waits instead of sleeping."""

    def __init__(self):
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def body(req: httpx.Request):
    return json.loads(req.content) if req.content else None


def reply(status: int, data=None, headers=None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    if data is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=data, headers=headers)


def not_found(code: str) -> httpx.Response:
    return reply(404, {"status": 404, "error": "Not Found", "code": code})


def already_exists(field: str = "code") -> httpx.Response:
    return reply(422, {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                       "error_details": {field: ["value_already_exist"]}})


class FakeLago:
    """Stores objects per collection keyed by code; ``script`` can intercept any request.

    ``script(request, store)`` returns a Response, raises an httpx error, or returns None to let
    the default store behaviour answer.
    """

    ROOTS = {"plans": "plan", "billable_metrics": "billable_metric", "taxes": "tax", "add_ons": "add_on",
             "coupons": "coupon"}

    def __init__(self, script: Callable | None = None):
        self.script = script
        self.store: dict[str, dict[str, dict]] = {c: {} for c in self.ROOTS}
        self.requests: list[httpx.Request] = []
        self.next_id = 1

    def commit(self, collection: str, obj: dict) -> dict:
        obj = {"lago_id": f"id-{self.next_id}", **obj}
        self.next_id += 1
        self.store[collection][obj["code"]] = obj
        return obj

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script is not None:
            result = self.script(request, self)
            if result is not None:
                return result
        return self.default(request)

    def default(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode().split("?")[0]
        parts = [unquote(p) for p in raw.split("/")[3:]]  # after /api/v1
        collection = parts[0] if parts else ""
        if collection not in self.ROOTS:
            return not_found("resource_not_found")
        root = self.ROOTS[collection]
        items = self.store[collection]
        if request.method == "POST" and len(parts) == 1:
            obj = body(request)[root]
            if obj["code"] in items:
                return already_exists()
            return reply(200, {root: self.commit(collection, obj)})
        if len(parts) == 2:
            code = parts[1]
            if code not in items:
                return not_found(f"{root}_not_found")
            if request.method == "GET":
                return reply(200, {root: items[code]})
            if request.method == "PUT":
                items[code].update(body(request)[root])
                return reply(200, {root: items[code]})
            if request.method == "DELETE":
                return reply(200, {root: items.pop(code)})
        return reply(405, {"status": 405, "error": "Method Not Allowed", "code": "not_allowed"})

    def client(self, **kwargs) -> LagoClient:
        kwargs.setdefault("sleep", Recorder())
        kwargs.setdefault("environment", "prod")
        kwargs.setdefault("api_key_env", "LAGO_PROD_API_KEY")
        import random

        kwargs.setdefault("rng", random.Random(7))
        return LagoClient("https://lago.example.com", KEY, transport=httpx.MockTransport(self.handler), **kwargs)


def workspace(root, **envs) -> SimpleNamespace:
    """A stand-in for lagosync.workspace.Workspace with only what connect() reads."""
    environments = {
        name: SimpleNamespace(name=name, api_url=e.get("api_url"), api_key_env=e.get("api_key_env"),
                              organization=None, emulator=e.get("emulator", False), **e.get("extra", {}))
        for name, e in envs.items()
    }
    settings = SimpleNamespace(environments=environments, default_environment="local")
    return SimpleNamespace(root=root, settings=settings)
