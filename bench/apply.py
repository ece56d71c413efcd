"""Benchmark: `lagosync apply` from an empty Lago (in-process emulator): the example workspace and a
1,000-org workspace. Seconds include the re-plan after apply; writes are the successful non-GET
requests the emulator handled; requests are the client's request_count (reads, writes, re-plan).

    .venv/bin/python bench/apply.py [--quick] [--orgs 1000] [--concurrency 4]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from _common import Lago, example_workspace, machine, org_workspace, parser, quiet, table

from lagosync.applier import apply_async


async def measure(root: Path, folder: Path, concurrency: int) -> list:
    lago = Lago(folder)
    start = time.perf_counter()
    result = await apply_async(root, "local", auto_approve=True, concurrency=concurrency,
                               client_factory=lago.factory(concurrency), out=quiet, err=quiet)
    seconds = time.perf_counter() - start
    done = len(result.ids("done"))
    return [done, lago.faults.writes, lago.requests, seconds, "yes" if result.ok else "NO"]


async def run(n_orgs: int, concurrency: int) -> list[list]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="lagosync-bench-") as tmp:
        tmp = Path(tmp)
        rows.append(["example (6 orgs)", *await measure(example_workspace(tmp / "ex"), tmp / "lago-ex", concurrency)])
        root = org_workspace(tmp / "orgs", n_orgs)
        rows.append([f"{n_orgs:,} orgs", *await measure(root, tmp / "lago-orgs", concurrency)])
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--orgs", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4, help="apply concurrency (the CLI default is 4)")
    args = p.parse_args()
    rows = asyncio.run(run(20 if args.quick else args.orgs, args.concurrency))
    print(table(f"apply from empty, concurrency {args.concurrency} ({machine()})",
                ["workspace", "operations", "writes", "requests", "seconds", "converged"], rows))


if __name__ == "__main__":
    main()
