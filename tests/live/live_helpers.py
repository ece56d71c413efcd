"""Helpers for the live-state tests: the emulator through the real client, a seeder, a stand-in workspace."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx

from lagosync.client import LagoClient
from lagosync.emulator.core import Emulator

API_KEY = "lago-local-key"
BASE_URL = "http://lago.test"

try:  # the emulator package's own transport, once it is there
    from lagosync.emulator import EmulatorTransport as _Transport
except ImportError:  # pragma: no cover - depends on the emulator's progress
    _Transport = None


class _DirectTransport(httpx.AsyncBaseTransport):
    """Hands each request to ``Emulator.handle`` (same as EmulatorTransport, no faults)."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        result = self.emulator.handle(
            request.method, request.url.path, list(request.url.params.multi_items()),
            dict(request.headers), body,
        )
        return httpx.Response(result.status, headers=result.headers, content=result.body)


def transport_for(emulator: Emulator) -> httpx.AsyncBaseTransport:
    return _Transport(emulator) if _Transport is not None else _DirectTransport(emulator)


def make_client(emulator: Emulator) -> LagoClient:
    return LagoClient(BASE_URL, API_KEY, environment="test", transport=transport_for(emulator),
                      max_retries=0)


def workspace(**desired) -> SimpleNamespace:
    """A stand-in with the Workspace attribute read_live uses (ARCHITECTURE "Workspace")."""
    return SimpleNamespace(desired=desired, root=None, settings=None, sources={}, digest="")


class Seeder:
    """Seeds the emulator with raw Lago API requests (its own client, so counts stay apart)."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator

    def __call__(self, *calls: tuple[str, str, dict | None]) -> list:
        async def run():
            async with make_client(self.emulator) as client:
                out = []
                for method, path, body in calls:
                    out.append(await client.request(method, path, json=body, idempotent=True))
                return out

        return asyncio.run(run())

    def many(self, calls: list[tuple[str, str, dict | None]]) -> None:
        async def run():
            async with make_client(self.emulator) as client:
                await asyncio.gather(*(client.request(m, p, json=b, idempotent=True) for m, p, b in calls))

        asyncio.run(run())


def read(emulator: Emulator, ws, **kwargs):
    """read_live against the emulator; returns (LiveState, request_count)."""
    from lagosync.live import read_live

    async def run():
        async with make_client(emulator) as client:
            live = await read_live(client, ws, **kwargs)
            return live, client.request_count

    return asyncio.run(run())
