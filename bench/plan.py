"""Benchmark: `lagosync plan` on workspaces of 100 / 1,000 / 5,000 orgs against the in-process emulator.

For each size: a plan from an empty Lago (everything to create), then, after one apply has seeded
the emulator, a plan of the workspace in sync (the common CI case: no changes). Per phase: load
(workspace files, schema and semantic checks, canonical desired state), read live (HTTP through
the client), make_plan (pure) and render (text). Requests are the client's request_count.

    .venv/bin/python bench/plan.py [--quick] [--sizes 100,1000,5000]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from _common import Lago, machine, org_workspace, parser, quiet, table, timer

from lagosync.applier import apply_async
from lagosync.live import read_live
from lagosync.planner import make_plan
from lagosync.render import render
from lagosync.workflow import desired_state
from lagosync.workspace import load_workspace


async def measure_plan(root: Path, lago: Lago) -> dict:
    """One plan, phase by phase (what lagosync.workflow.plan_workspace does)."""
    t: dict = {}
    before = lago.requests
    start = time.perf_counter()
    with timer(t, "load"):
        workspace = load_workspace(root)
        desired = desired_state(workspace)
    client = lago.client()
    async with client:
        with timer(t, "read"):
            live = await read_live(client, workspace)
    with timer(t, "plan"):
        plan = make_plan(desired, live, environment="local", lago_url=client.base_url,
                         workspace_digest=workspace.digest)
    with timer(t, "render"):
        text = render(plan, "text")
    t["total"] = time.perf_counter() - start
    t["requests"] = lago.requests - before
    t["ops"] = len(plan.operations)
    t["lines"] = text.count("\n")
    return t


async def run(sizes: list[int]) -> list[list]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="lagosync-bench-") as tmp:
            root = org_workspace(Path(tmp) / "ws", n)
            lago = Lago(Path(tmp) / "lago")
            empty = await measure_plan(root, lago)
            await apply_async(root, "local", auto_approve=True, client_factory=lago.factory(),
                              out=quiet, err=quiet)
            synced = await measure_plan(root, lago)
            for label, t in (("from empty", empty), ("in sync", synced)):
                rows.append([n, label, t["ops"], t["requests"], t["total"], t["load"], t["read"], t["plan"],
                             t["render"]])
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,1000,5000", help="comma-separated org counts")
    args = p.parse_args()
    sizes = [5, 20] if args.quick else [int(s) for s in args.sizes.split(",")]
    rows = asyncio.run(run(sizes))
    print(table(f"plan against the in-process emulator ({machine()})",
                ["orgs", "Lago", "ops", "requests", "wall s", "load s", "read live s", "make_plan s",
                 "render s"], rows))


if __name__ == "__main__":
    main()
