"""Benchmark: every stage of `lagosync plan` / `apply` at 1,000 and 10,000 orgs, each next to its floor.

The workspace is the example catalogue scaled (50 plans, 149 charges, 8 metrics, the example's tax,
add-on and coupon) and N orgs with one subscription each. Each stage is measured with its floor,
measured in the same run on the same files and machine:

- load+validate: CPU of what `lagosync validate` does (parse with positions, JSON Schema, semantic
  checks, canonical desired state); floor: ``yaml.load`` with libyaml's CLoader and the garbage
  collector paused, on the same files.
- read live: wall time of reading Lago (workspace in sync) from an emulator that adds a fixed latency
  to every request (default 50 ms, Faults latency); floor: requests x latency / concurrency. Measured
  twice: with the emulator in this process (its own CPU, shown, competes with the client's; it keeps
  the list pages it answered until the next write, so a read after the seeding apply's costs it
  little), and
  served over HTTP by ``lagosync emulator serve`` in another process, as a real Lago is (its CPU is
  then on the other core, and the client's CPU is what remains next to the latency).
- make_plan: CPU of the pure planner; floor: comparing every desired object with its live one (``==``).
- render: CPU of the text rendering of the (empty) plan.
- plan (whole): first its stages one after the other (load + read over HTTP + make_plan + render),
  then as ``lagosync plan -e staging`` runs them (``workflow.plan_workspace``, price impact and
  policies included; from an orgs.yaml of 1 MiB, the workspace loads in a child process while Lago
  is read), the served emulator standing in for the staging Lago, median of 3; floor: the page
  floor (requests x latency / concurrency), and the validate floor added to it.
- apply: the workspace of ``--apply-orgs`` orgs from an empty Lago that limits every client to
  ``--rps`` requests per second (Lago Cloud's limit, announced in X-RateLimit-* headers); floor:
  requests / limit; "429s" counts the refused requests.

``--memory N`` (e.g. 100000) adds the peak of what load + read + make_plan + render allocate
(tracemalloc), reading Lago from the emulator served by another process as a real Lago is (the
emulator's store and the lists it keeps to answer are its own), and the process's peak RSS; where
``lagosync plan`` loads the workspace in a child process, that child's peak RSS is added.

    .venv/bin/python bench/scale.py [--quick] [--sizes 1000,10000] [--memory 100000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import yaml
from _common import ROOT, Lago, example_workspace, machine, parser, quiet, table

from lagosync.applier import apply_async
from lagosync.client import LagoClient
from lagosync.client.connect import LOCAL_API_KEY
from lagosync.emulator import Faults
from lagosync.emulator.faults import RATE_LIMITED
from lagosync.live import read_live
from lagosync.planner import make_plan
from lagosync.render import render
from lagosync.workflow import desired_state, plan_workspace, read_and_plan
from lagosync.workspace import load_workspace, validation_report

N_PLANS = 50
N_CHARGES = 149
N_METRICS = 8
_EXTRA_METRICS = (  # besides the example's api_call, tokens, active_users
    ("storage_gb", "sum_agg", "gb"), ("seats", "unique_count_agg", "seat_id"), ("jobs", "count_agg", None),
    ("gpu_minutes", "sum_agg", "minutes"), ("peak_workers", "max_agg", "workers"),
)


def _dump(path: Path, schema: str, data: dict) -> None:
    path.write_text(f"# yaml-language-server: $schema={schema}\n" + yaml.safe_dump(data, sort_keys=False))


def scale_workspace(dest: Path, n_orgs: int) -> Path:
    """The example catalogue scaled to N_PLANS plans (N_CHARGES charges) on N_METRICS metrics, and
    ``n_orgs`` orgs with one subscription each (plans cycled)."""
    example_workspace(dest)
    metrics_file = yaml.safe_load((ROOT / "plans" / "metrics.yaml").read_text())
    metrics = metrics_file["billable_metrics"]
    for code, aggregation, field in _EXTRA_METRICS:
        metric = {"code": code, "name": code.replace("_", " ").capitalize(), "aggregation_type": aggregation}
        if field:
            metric["field_name"] = field
        metrics.append(metric)
    assert len(metrics) == N_METRICS
    _dump(dest / "plans" / "metrics.yaml", "../schemas/plans.schema.json", {"billable_metrics": metrics})

    base = yaml.safe_load((ROOT / "plans" / "plans.yaml").read_text())["plans"]
    codes = [m["code"] for m in metrics]
    plans = []
    for j in range(N_PLANS):
        plan = copy.deepcopy(base[j % len(base)])
        if j >= len(base):
            plan["code"] = f"{plan['code']}_{j // len(base)}"
            plan["name"] = f"{plan['name']} {j // len(base)}"
        want = 2 if j == 0 else 3  # 2 + 49 x 3 = 149 charges
        charges = plan["charges"][:want]
        used = {c["billable_metric_code"] for c in charges}
        spare = [c for c in codes if c not in used]
        while len(charges) < want:
            charges.append({"billable_metric_code": spare[(j + len(charges)) % len(spare)],
                            "charge_model": "standard", "properties": {"amount": f"0.{j + 1:04d}"}})
            used.add(charges[-1]["billable_metric_code"])
            spare = [c for c in codes if c not in used]
        plan["charges"] = charges
        plans.append(plan)
    assert sum(len(p["charges"]) for p in plans) == N_CHARGES
    _dump(dest / "plans" / "plans.yaml", "../schemas/plans.schema.json", {"plans": plans})

    orgs = [{
        "external_id": f"org_bench_{i:06d}",
        "name": f"Bench Org {i}",
        "email": f"billing{i}@bench.example",
        "currency": "USD",
        "metadata": [{"key": "created_by_user_id", "value": f"usr_bench_{i:06d}"},
                     {"key": "billing_type", "value": "organization"}],
        "subscriptions": [{"plan_code": plans[i % N_PLANS]["code"], "name": f"Bench {i}"}],
    } for i in range(n_orgs)]
    _dump(dest / "orgs.yaml", "./schemas/orgs.schema.json", {"orgs": orgs})
    return dest


def workspace_files(root: Path) -> list[Path]:
    return [root / "lagosync.yaml", root / "orgs.yaml", *sorted((root / "plans").glob("*.yaml"))]


def cpu(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def yaml_floor(root: Path) -> float:
    """CPU of yaml.load with libyaml (CLoader) on every workspace file, the collector paused."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    texts = [p.read_bytes() for p in workspace_files(root)]
    gc.collect()
    gc.disable()
    try:
        seconds, _ = cpu(lambda: [yaml.load(t, Loader=loader) for t in texts])  # noqa: S506 - CSafeLoader
    finally:
        gc.enable()
    return seconds


class Timed:
    """Wraps an emulator's handle() to add up its own time (its CPU per request, the latency apart)."""

    def __init__(self, emulator):
        self.seconds = 0.0
        self.calls = 0
        inner = emulator.handle

        def handle(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1
        emulator.handle = handle


async def seed(root: Path, lago: Lago) -> None:
    result = await apply_async(root, "local", auto_approve=True, client_factory=lago.factory(), out=quiet,
                               err=quiet)
    assert result.ok, "seeding apply did not converge"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Served:
    """``lagosync emulator serve`` on a database file, in its own process, with a fixed latency."""

    def __init__(self, db: Path, latency: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lagosync", "emulator", "serve", "--db", str(db), "--port", "0",
             "--latency", str(latency)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if "listening on " not in line:
            self.proc.kill()
            raise RuntimeError(f"emulator serve did not start: {line}{self.proc.stderr.read()}")
        self.url = line.split("listening on ", 1)[1].split()[0]

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def read_over_http(served: Served, workspace, concurrency: int, desired):
    """(wall, client CPU, server CPU, requests, live) of one read_live against the served emulator
    (sharing the objects in sync with ``desired``, as read_and_plan does)."""
    client = LagoClient(served.url, LOCAL_API_KEY, environment="bench", concurrency=concurrency)
    server_before = served.cpu()
    wall = time.perf_counter()
    cpu_start = time.process_time()
    async with client:
        live = await read_live(client, workspace, share=desired)
    return (time.perf_counter() - wall, time.process_time() - cpu_start, served.cpu() - server_before,
            client.request_count, live)


class _Said(logging.Handler):
    """What lagosync.workflow says at info level while it is attached (``plan_said``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def apart(self) -> bool:
        """Whether the workspace was loaded in a child process (and that worked)."""
        assert not any("did not load" in line for line in self.lines), self.lines
        return any("in a child process" in line for line in self.lines)

    @property
    def child_peak_mib(self) -> float:
        """The child process's peak memory, as lagosync.workflow reports it (0 without a child)."""
        found = [re.search(r"peak resident memory: (\d+) MiB", line) for line in self.lines]
        return sum(float(m.group(1)) for m in found if m)


async def plan_said(root: Path, factory) -> tuple[object, _Said]:
    """``workflow.plan_workspace(root, "staging")`` through ``factory`` (as ``lagosync plan -e
    staging`` runs it, the served emulator standing in for the staging Lago) and what it said."""
    said, logger = _Said(), logging.getLogger("lagosync.workflow")
    level = logger.level
    logger.addHandler(said)
    logger.setLevel(logging.INFO)
    try:
        plan = await plan_workspace(root, "staging", client_factory=factory)
    finally:
        logger.removeHandler(said)
        logger.setLevel(level)
    return plan, said


async def _as_the_cli_here(url: str, root: Path, concurrency: int, trace: bool) -> dict:
    """What ``lagosync plan -e staging`` does, in this process: load the workspace (in a child
    process while Lago is read, for an orgs.yaml within workflow.LOAD_APART_*), read, plan, render."""
    clients: list[LagoClient] = []

    def factory(_workspace, env_name: str) -> LagoClient:
        clients.append(LagoClient(url, LOCAL_API_KEY, environment=env_name, concurrency=concurrency))
        return clients[-1]
    if trace:
        tracemalloc.start()
    wall = time.perf_counter()
    plan, said = await plan_said(root, factory)
    render(plan, "text")
    wall = time.perf_counter() - wall
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    assert not plan.operations, f"{len(plan.operations)} operations on a workspace in sync"
    return {"wall": wall, "requests": sum(c.request_count for c in clients), "apart": said.apart,
            "child_mib": said.child_peak_mib, "peak": peak}


def as_the_cli(served: Served, root: Path, concurrency: int, *, trace: bool = False) -> dict:
    """``_as_the_cli_here`` in a fresh Python process, as ``lagosync plan`` runs in one of its own: its
    imports done, and its heap small when it forks (this process holds the other stages' objects,
    which a fork would make it copy as it writes). ``trace``: its tracemalloc peak too (slower)."""
    job = json.dumps({"url": served.url, "root": str(root), "concurrency": concurrency, "trace": trace})
    res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--as-the-cli", job], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


async def measure_size(n: int, tmp: Path, latency: float, concurrency: int) -> list[list]:
    root = scale_workspace(tmp / f"ws-{n}", n)
    floor_yaml = yaml_floor(root)
    validate_cpu, (diags, _summary) = cpu(lambda: validation_report(root))
    assert not diags, diags[:3]
    load_cpu, workspace = cpu(lambda: load_workspace(root))
    desired_cpu, desired = cpu(lambda: desired_state(workspace))

    lago = Lago(tmp / f"lago-{n}")
    await seed(root, lago)
    timed = Timed(lago.emulator)
    lago.faults = Faults(latency=latency)
    client = lago.client(concurrency)
    before = lago.requests
    wall = time.perf_counter()
    cpu_start = time.process_time()
    async with client:
        live = await read_live(client, workspace)
    read_wall = time.perf_counter() - wall
    read_cpu = time.process_time() - cpu_start
    requests = lago.requests - before
    emulator_s = timed.seconds
    floor_read = requests * latency / concurrency

    lago.emulator.close()  # the database file is served by another process now
    served = Served(tmp / f"lago-{n}" / "bench.db", latency)
    try:
        await read_over_http(served, workspace, concurrency, desired)  # connections and server caches warm
        http_wall, http_cpu, server_cpu, http_requests, live = await read_over_http(served, workspace, concurrency,
                                                                                    desired)
        runs = [as_the_cli(served, root, concurrency) for _ in range(3)]
        pipeline_wall = statistics.median(run["wall"] for run in runs)
        pipeline_requests, apart = runs[0]["requests"], runs[0]["apart"]
    finally:
        served.close()
    floor_http = http_requests * latency / concurrency

    plan_cpu, plan = cpu(lambda: make_plan(desired, live, environment="local", lago_url=client.base_url,
                                           workspace_digest=workspace.digest))
    assert not plan.operations, f"{len(plan.operations)} operations on a workspace in sync"

    def compare_all() -> int:
        return sum(obj == live.state[kind].get(key) for kind, objs in desired.items() for key, obj in objs.items())
    floor_plan, same = cpu(compare_all)
    render_cpu, _ = cpu(lambda: render(plan, "text"))

    whole = load_cpu + desired_cpu + http_wall + plan_cpu + render_cpu
    label = f"{n:,}"
    return [
        [label, "load+validate (CPU)", validate_cpu, floor_yaml, "yaml.load CLoader, gc paused",
         validate_cpu / floor_yaml],
        [label, "load_workspace + desired state (CPU)", load_cpu + desired_cpu, floor_yaml, "same floor",
         (load_cpu + desired_cpu) / floor_yaml],
        [label, f"read live, emulator in process, {latency * 1000:.0f} ms (wall)", read_wall, floor_read,
         f"{requests} requests x latency / {concurrency}", read_wall / floor_read],
        [label, "  its CPU: client + emulator", read_cpu, "", f"emulator {emulator_s:.2f} s", ""],
        [label, f"read live, emulator served over HTTP, {latency * 1000:.0f} ms (wall)", http_wall, floor_http,
         f"{http_requests} requests x latency / {concurrency}", http_wall / floor_http],
        [label, "  its CPU: client (this process)", http_cpu, "", f"server {server_cpu:.2f} s (other process)", ""],
        [label, "make_plan (CPU)", plan_cpu, floor_plan, f"== on {same:,} objects", plan_cpu / max(floor_plan, 1e-6)],
        [label, "render text (CPU)", render_cpu, "", "", ""],
        [label, "plan in sync: its stages one after the other", whole, floor_http, "page floor (read over HTTP)",
         whole / floor_http],
        [label, "plan in sync, as `lagosync plan` runs (wall, median of 3)", pipeline_wall, floor_http,
         f"page floor; {pipeline_requests} requests; workspace loaded "
         + ("in a child process meanwhile" if apart else "first, in this process"), pipeline_wall / floor_http],
        [label, "  the same, against", pipeline_wall, floor_http + floor_yaml, "page floor + validate floor",
         pipeline_wall / (floor_http + floor_yaml)],
    ]


async def measure_apply(n: int, tmp: Path, rps: float, concurrency: int) -> list:
    root = scale_workspace(tmp / f"apply-{n}", n)
    faults = Faults(rps_limit=rps)
    lago = Lago(tmp / f"lago-apply-{n}", faults)
    start = time.perf_counter()
    result = await apply_async(root, "local", auto_approve=True, concurrency=concurrency,
                               client_factory=lago.factory(concurrency), out=quiet, err=quiet)
    seconds = time.perf_counter() - start
    refused = sum(1 for _, _, decision in faults.log if decision == RATE_LIMITED)
    accepted = lago.requests - refused
    floor = accepted / rps
    return [f"{n:,}", f"apply from empty, {rps:.0f} req/s limit (wall)", seconds, floor,
            f"{accepted:,} requests / limit; {faults.writes:,} writes; {refused} x 429"
            + ("" if result.ok else "; NOT CONVERGED"), seconds / floor]


async def measure_memory(n: int, tmp: Path) -> list[list]:
    root = scale_workspace(tmp / f"mem-{n}", n)
    lago = Lago(tmp / f"lago-mem-{n}")
    await seed(root, lago)
    lago.emulator.close()  # served by another process from here
    served = Served(tmp / f"lago-mem-{n}" / "bench.db", 0.0)
    try:
        gc.collect()
        tracemalloc.start()
        workspace = load_workspace(root)
        desired = desired_state(workspace)
        _, after_load = tracemalloc.get_traced_memory()
        async with LagoClient(served.url, LOCAL_API_KEY, environment="bench") as client:
            _live, plan = await read_and_plan(workspace, client, "local", desired=desired)  # what plan runs
        assert not plan.operations
        render(plan, "text")
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del workspace, desired, _live, plan
        gc.collect()
        cli = as_the_cli(served, root, 8, trace=True)  # the same plan as `lagosync plan -e staging` makes it
        cli_peak, child_mib = cli["peak"], cli["child_mib"] if cli["apart"] else 0.0
    finally:
        served.close()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    mib = 1024 * 1024
    return [
        [f"{n:,}", "load_workspace + desired state: peak (tracemalloc)", after_load / mib, after_load / n / 1024],
        [f"{n:,}", "plan in sync: peak (tracemalloc)", peak / mib, peak / n / 1024],
        [f"{n:,}", "plan in sync: held at the end (plan, live, workspace)", current / mib, current / n / 1024],
        [f"{n:,}", "plan in sync, as `lagosync plan` runs: peak (tracemalloc, its own process)"
         + (", plus the peak RSS of its child (loading the workspace meanwhile)" if child_mib else ""),
         cli_peak / mib + child_mib, (cli_peak / mib + child_mib) * 1024 / n],
        [f"{n:,}", "peak RSS of this process (seeding the emulator included)", rss_mib, rss_mib * 1024 / n],
    ]


async def run(sizes: list[int], latency: float, concurrency: int, apply_orgs: int, rps: float,
              memory: int | None) -> tuple[list[list], list[list]]:
    rows: list[list] = []
    memory_rows: list[list] = []
    with tempfile.TemporaryDirectory(prefix="lagosync-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            rows += await measure_size(n, tmp, latency, concurrency)
        if apply_orgs:
            rows.append(await measure_apply(apply_orgs, tmp, rps, concurrency))
        if memory:
            memory_rows = await measure_memory(memory, tmp)
    return rows, memory_rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000", help="comma-separated org counts")
    p.add_argument("--latency", type=float, default=0.05, help="seconds the emulator adds to every request")
    p.add_argument("--concurrency", type=int, default=8, help="client concurrency (the CLI default is 8)")
    p.add_argument("--apply-orgs", type=int, default=1000, help="orgs of the rate-limited apply (0: skip)")
    p.add_argument("--rps", type=float, default=50.0, help="the emulator's requests-per-second limit for apply")
    p.add_argument("--memory", type=int, default=0, help="org count of the memory measurement (0: skip)")
    p.add_argument("--as-the-cli", help=argparse.SUPPRESS)  # as_the_cli's fresh process
    args = p.parse_args()
    if args.as_the_cli:
        job = json.loads(args.as_the_cli)
        print(json.dumps(asyncio.run(_as_the_cli_here(job["url"], Path(job["root"]), job["concurrency"],
                                                      job["trace"]))))
        return
    if args.quick:
        sizes, latency, apply_orgs, memory = [20], 0.005, 5, 50
    else:
        sizes, latency, apply_orgs, memory = ([int(s) for s in args.sizes.split(",")], args.latency,
                                              args.apply_orgs, args.memory or None)
    rows, memory_rows = asyncio.run(run(sizes, latency, args.concurrency, apply_orgs, args.rps, memory))
    print(table(f"lagosync at scale: {N_PLANS} plans, {N_CHARGES} charges, {N_METRICS} metrics, one subscription "
                f"per org ({machine()})", ["orgs", "stage", "measured s", "floor s", "floor is", "ratio"], rows))
    if memory_rows:
        print(table("memory", ["orgs", "what", "MiB", "KiB per org"], memory_rows))


if __name__ == "__main__":
    main()
