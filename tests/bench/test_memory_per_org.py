"""The memory of a plan grows linearly with the orgs, at a bounded cost per org (the 100,000-org path
without running it: bench/scale.py --memory 100000 prints the figures).

What a plan in sync allocates (load and validate the workspace, read Lago, make_plan, render) is traced
with tracemalloc at 200 and at 2,000 orgs; the in-process emulator is filled before tracing starts,
so its own store is not counted (what it builds to answer is: a remote Lago's is not). The bounds
(about 1.4x what is measured today) catch an object kept per org by mistake, or a cost that grows
faster than the orgs, and keep 100,000 orgs under 500 MB (4.8 KiB per org).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

import yaml

from lagosync.applier import apply_async
from lagosync.client import LagoClient
from lagosync.client.connect import LOCAL_API_KEY, LOCAL_BASE_URL
from lagosync.emulator import Emulator, EmulatorTransport
from lagosync.render import render
from lagosync.workflow import desired_state, read_and_plan
from lagosync.workspace import load_workspace

REPO = Path(__file__).resolve().parents[2]
PLANS = ("starter", "professional", "enterprise", "trial", "founders_friend")
KIB = 1024
# per org, at the margin between 200 and 2,000 orgs
PEAK_PER_ORG = 6 * KIB  # measured 4.2 KiB (the workspace, the sparse raw live objects, the emulator's answers)
HELD_PER_ORG = 4.75 * KIB  # measured 3.4 KiB (objects in sync held once, shared with the desired state)


def _workspace(root: Path, n: int) -> Path:
    (root / "plans").mkdir(parents=True)
    (root / "lagosync.yaml").write_text((REPO / "lagosync.yaml").read_text())
    for p in (REPO / "plans").glob("*.yaml"):
        (root / "plans" / p.name).write_text(p.read_text())
    orgs = [{"external_id": f"org_mem_{i:05d}", "name": f"Org {i}", "email": f"b{i}@mem.example", "currency": "USD",
             "metadata": [{"key": "created_by_user_id", "value": f"usr_mem_{i:05d}"}],
             "subscriptions": [{"plan_code": PLANS[i % len(PLANS)], "name": f"Sub {i}"}]} for i in range(n)]
    (root / "orgs.yaml").write_text(yaml.safe_dump({"orgs": orgs}, sort_keys=False))
    return root


def _client(emulator: Emulator) -> LagoClient:
    return LagoClient(LOCAL_BASE_URL, LOCAL_API_KEY, environment="local", transport=EmulatorTransport(emulator))


async def _traced_plan(root: Path, emulator: Emulator) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        workspace = load_workspace(root)
        desired = desired_state(workspace)
        async with _client(emulator) as client:  # the one planning path of plan, apply and drift
            _live, plan = await read_and_plan(workspace, client, "local", desired=desired)
        render(plan, "text")
        assert not plan.operations  # in sync: what is measured is the common CI case
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, held


def _measure(tmp: Path, n: int) -> tuple[int, int]:
    root = _workspace(tmp / f"ws{n}", n)
    emulator = Emulator(db_path=str(tmp / f"lago{n}.db"), api_key=LOCAL_API_KEY)

    async def go() -> tuple[int, int]:
        result = await apply_async(root, "local", auto_approve=True, client_factory=lambda ws, env: _client(emulator),
                                   out=lambda _: None, err=lambda _: None)
        assert result.ok
        return await _traced_plan(root, emulator)
    try:
        return asyncio.run(go())
    finally:
        emulator.close()


def test_plan_memory_is_linear_and_bounded_per_org(tmp_path):
    load_workspace(REPO)  # schemas and caches loaded once, outside both measurements
    small_peak, small_held = _measure(tmp_path, 200)
    big_peak, big_held = _measure(tmp_path, 2000)
    peak_per_org = (big_peak - small_peak) / 1800
    held_per_org = (big_held - small_held) / 1800
    assert 0 < peak_per_org <= PEAK_PER_ORG, f"{peak_per_org / KIB:.1f} KiB per org at the peak"
    assert 0 < held_per_org <= HELD_PER_ORG, f"{held_per_org / KIB:.1f} KiB per org held"
    print(f"per org: peak {peak_per_org / KIB:.1f} KiB, held {held_per_org / KIB:.1f} KiB")
