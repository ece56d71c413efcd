"""Shared fixtures: an in-memory emulator, a client with no real sleeps, a workspace object."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from lagosync.client import LagoClient
from lagosync.emulator import Emulator, EmulatorTransport, Faults

KEY = "test-key"


async def no_sleep(_seconds: float) -> None:
    return None


@dataclass
class Env:
    root: Path
    emulator: Emulator
    faults: Faults | None = None
    desired: dict = field(default_factory=dict)
    digest: str = "digest-1"
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def workspace(self):
        env = SimpleNamespace(name="local", api_url=None, api_key_env=None, organization=None, emulator=True)
        settings = SimpleNamespace(environments={"local": env}, default_environment="local", ignore=[],
                                   org_id_prefix=None, user_id_prefix=None)
        return SimpleNamespace(root=self.root, settings=settings, desired=copy.deepcopy(self.desired),
                               sources={}, digest=self.digest)

    def client(self, faults: Faults | None = None) -> LagoClient:
        return LagoClient("http://lago.local", KEY, environment="local",
                          transport=EmulatorTransport(self.emulator, faults), sleep=no_sleep, max_retries=6)

    def factory(self, faults: Faults | None = None):
        return lambda ws, env_name: self.client(faults)

    def apply(self, faults: Faults | None = None, **kw):
        from lagosync.applier import apply

        kw.setdefault("auto_approve", True)
        kw.setdefault("out", self.out.append)
        kw.setdefault("err", self.err.append)
        return apply(self.workspace(), None, client_factory=self.factory(faults), **kw)

    def plan(self, prune: bool = False):
        import asyncio

        from lagosync.workflow import read_and_plan

        async def go():
            async with self.client() as c:
                return await read_and_plan(self.workspace(), c, "local", prune=prune)

        return asyncio.run(go())[1]

    def get(self, path: str, params=None):
        import asyncio

        async def go():
            async with self.client() as c:
                return await c.request("GET", path, params=params)

        return asyncio.run(go())

    def list(self, path: str, root: str, params=None):
        import asyncio

        async def go():
            async with self.client() as c:
                return await c.list_all(path, root, params)

        return asyncio.run(go())


@pytest.fixture
def lago(tmp_path):
    return Env(root=tmp_path, emulator=Emulator(":memory:", api_key=KEY))
