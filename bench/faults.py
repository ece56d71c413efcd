"""Benchmark: apply under faults against a latent Lago, at concurrency 1 / 4 / 8.

The in-process emulator adds a fixed latency to every request (default 20 ms) and injects seeded
faults: 429 (Retry-After: 1 s), 503, and commit-drop (the write is committed, the response lost:
the client recovers by looking the object up by its natural key). Each run applies the same
workspace from an empty Lago with the client's default retry/backoff settings; "faults" counts
the injected failures (each one a retry or a recovery lookup), "requests" the client's
request_count. Concurrency is both the applier's and the client's.

    .venv/bin/python bench/faults.py [--quick] [--orgs 200] [--latency 0.02]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import Lago, machine, org_workspace, parser, quiet, table

from lagosync.applier import apply_async
from lagosync.emulator import Faults
from lagosync.errors import LagosyncError


async def measure(root: Path, folder: Path, concurrency: int, faults: Faults, backoff: float) -> list:
    lago = Lago(folder, faults)
    start = time.perf_counter()
    try:
        result = await apply_async(root, "local", auto_approve=True, concurrency=concurrency,
                                   client_factory=lago.factory(concurrency, backoff=backoff), out=quiet,
                                   err=quiet)
        converged = "yes" if result.ok else "NO"
    except LagosyncError as exc:  # reported as a figure, not hidden: the table says it did not converge
        converged = f"NO ({type(exc).__name__})"
    seconds = time.perf_counter() - start
    kinds = Counter(decision for _, _, decision in faults.log)
    return [concurrency, seconds, lago.requests, faults.writes, len(faults.log),
            ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-", converged]


async def run(n_orgs: int, latency: float, p: dict, concurrencies: list[int], seed: int,
              backoff: float) -> list[list]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="lagosync-bench-") as tmp:
        root = org_workspace(Path(tmp) / "ws", n_orgs)
        for c in concurrencies:
            faults = Faults(seed=seed, latency=latency, **p)
            rows.append(await measure(root, Path(tmp) / f"lago-{c}", c, faults, backoff))
    return rows


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--orgs", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    ap.add_argument("--p429", type=float, default=0.01)
    ap.add_argument("--p503", type=float, default=0.02)
    ap.add_argument("--p-commit-drop", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backoff", type=float, default=0.5, help="client backoff base in seconds (its default)")
    args = ap.parse_args()
    p = {"p429": args.p429, "p503": args.p503, "p_commit_drop": args.p_commit_drop}
    n_orgs, latency, backoff = (10, 0.002, 0.01) if args.quick else (args.orgs, args.latency, args.backoff)
    if args.quick:  # no 429 in the smoke run (each waits the 1 s Retry-After), more of the others
        p = {"p429": 0.0, "p503": 0.05, "p_commit_drop": 0.05}
    rows = asyncio.run(run(n_orgs, latency, p, [1, 4, 8], args.seed, backoff))
    title = (f"apply of {n_orgs:,} orgs from empty, {latency * 1000:.0f} ms latency, p429={p['p429']}, "
             f"p503={p['p503']}, p_commit_drop={p['p_commit_drop']}, backoff {backoff} s, seed {args.seed} "
             f"({machine()})")
    print(table(title, ["concurrency", "seconds", "requests", "writes", "faults", "injected", "converged"],
                rows))


if __name__ == "__main__":
    main()
