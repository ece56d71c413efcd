"""Shared helpers of the bench/ scripts: generated workspaces, an emulator-backed client factory, tables.

The scripts use only public APIs (lagosync.workspace, lagosync.workflow, lagosync.live, lagosync.planner,
lagosync.render, lagosync.applier, lagosync.client, lagosync.emulator). They print figures; nothing here
asserts on time (tests/bench/test_bench_smoke.py only smoke-runs them with --quick).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from a checkout without an install

from lagosync.client import LagoClient  # noqa: E402
from lagosync.client.connect import LOCAL_API_KEY, LOCAL_BASE_URL  # noqa: E402
from lagosync.emulator import Emulator, EmulatorTransport, Faults  # noqa: E402

PLAN_CODES = ("starter", "professional", "enterprise", "trial", "founders_friend")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few seconds")
    return p


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.system()}"


def example_workspace(dest: Path) -> Path:
    """A copy of the repository's example workspace (lagosync.yaml, orgs.yaml, plans/)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "lagosync.yaml", dest)
    shutil.copy2(ROOT / "orgs.yaml", dest)
    shutil.copytree(ROOT / "plans", dest / "plans")
    return dest


def org_workspace(dest: Path, n_orgs: int) -> Path:
    """The example catalogue with ``n_orgs`` generated orgs, one subscription each (plans cycled)."""
    example_workspace(dest)
    orgs = []
    for i in range(n_orgs):
        orgs.append({
            "external_id": f"org_bench_{i:05d}",
            "name": f"Bench Org {i}",
            "email": f"billing{i}@bench.example",
            "currency": "USD",
            "metadata": [{"key": "created_by_user_id", "value": f"usr_bench_{i:05d}"},
                         {"key": "billing_type", "value": "organization"}],
            "subscriptions": [{"plan_code": PLAN_CODES[i % len(PLAN_CODES)], "name": f"Bench {i}"}],
        })
    text = "# yaml-language-server: $schema=./schemas/orgs.schema.json\n" + yaml.safe_dump(
        {"orgs": orgs}, sort_keys=False)
    (dest / "orgs.yaml").write_text(text)
    return dest


class Lago:
    """One in-process emulator (SQLite file under ``folder``) and the clients made against it."""

    def __init__(self, folder: Path, faults: Faults | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.emulator = Emulator(db_path=str(folder / "bench.db"), api_key=LOCAL_API_KEY)
        # an all-zero Faults injects nothing but counts the successful writes
        self.faults = faults if faults is not None else Faults()
        self.clients: list[LagoClient] = []

    def client(self, concurrency: int = 8, **kwargs) -> LagoClient:
        client = LagoClient(LOCAL_BASE_URL, LOCAL_API_KEY, environment="local", concurrency=concurrency,
                            transport=EmulatorTransport(self.emulator, self.faults), **kwargs)
        self.clients.append(client)
        return client

    def factory(self, concurrency: int = 8, **kwargs):
        """A ``client_factory`` for lagosync.workflow / lagosync.applier."""
        return lambda workspace, env_name: self.client(concurrency, **kwargs)

    @property
    def requests(self) -> int:
        return sum(c.request_count for c in self.clients)


@contextmanager
def timer(into: dict, key: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - start


def quiet(_line: str) -> None:
    pass


def table(title: str, headers: list[str], rows: list[list]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
                              for c, v, w in zip(r, row, widths, strict=True)) + " |"
            for r, row in zip(cells, rows, strict=True)]
    return "\n".join([f"### {title}", "", line, sep, *body, ""])


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
