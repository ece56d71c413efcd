"""Benchmark: `lagosync test` (the pricing engine, offline) on 100 / 1,000 generated cases.

Each case prices one billing period of an example plan with usage on every charge (filters,
graduated and volume ranges, a coupon on some, taxes on enterprise). Figures: the whole run as the
CLI does it (load and validate the workspace and the cases, price, compare) and the pricing alone,
in CPU seconds (process time, so a busy machine does not inflate them), and the cases per second.

    .venv/bin/python bench/pricing.py [--quick]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml
from _common import example_workspace, machine, parser, table

from lagosync.pricing.cases import run_case, run_tests
from lagosync.workspace import load_workspace
from lagosync.workspace.pricing_tests import load_pricing_tests

EXAMPLE_TESTS = Path(__file__).resolve().parents[1] / "pricing_tests"
PLANS = ("starter", "professional", "enterprise", "trial", "founders_friend")


def cases(n: int) -> list[dict]:
    out = []
    for i in range(n):
        plan = PLANS[i % len(PLANS)]
        usage: dict = {"api_call": [{"units": 1000 * i}, {"values": {"endpoint": "embeddings"}, "units": 37 * i}],
                       "tokens": [{"units": 250_000 * i}, {"values": {"model": "large"}, "units": 90_000 * i}]}
        if plan in ("professional", "enterprise"):
            usage["active_users"] = i % 120
        case = {"name": f"bench case {i} on {plan}", "plan": plan, "usage": usage,
                "expect": {"fees_cents": 0}}
        if plan in ("starter", "professional") and i % 2:
            case["coupons"] = ["launch_20"]
        out.append(case)
    return out


def measure(root: Path, n: int) -> list:
    (root / "pricing_tests").mkdir(exist_ok=True)
    (root / "pricing_tests" / "bench.yaml").write_text(yaml.safe_dump({"pricing_tests": cases(n)}, sort_keys=False))
    start = time.process_time()
    run = run_tests(root)
    whole = time.process_time() - start
    assert len(run.results) == n + 4, len(run.results)  # the example's 4 cases, and these
    assert all(r.error is None for r in run.results)
    workspace = load_workspace(root)
    loaded, _ = load_pricing_tests(root, workspace.desired)
    start = time.process_time()
    for case in loaded:
        run_case(case, workspace.desired, premium=False)
    pricing = time.process_time() - start
    fees = sum(len(r.price.fees) for r in run.results if r.price is not None)
    return [n, fees, whole, pricing, round(len(loaded) / pricing) if pricing else 0]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    sizes = (10, 100) if args.quick else (100, 1000)
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = example_workspace(Path(tmp) / "ws")
            (root / "pricing_tests").mkdir()
            for path in EXAMPLE_TESTS.glob("*.yaml"):
                (root / "pricing_tests" / path.name).write_text(path.read_text())
            rows.append(measure(root, n))
    print(table(f"lagosync test, offline ({machine()})",
                ["cases", "fees priced", "CPU s (whole run)", "CPU s (pricing)", "cases/s"], rows))


if __name__ == "__main__":
    main()
