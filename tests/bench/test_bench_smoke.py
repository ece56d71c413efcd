"""Smoke runs of the bench/ scripts with --quick: each exits 0 and prints its table of figures.

No assertion on timings (speed is reported by the scripts, not tested); the checks are on what the
table says happened: sizes, counts, every apply converged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("plan", "apply", "faults", "emulator", "pricing", "scale", "usage")


def run_quick(name: str) -> list[list[str]]:
    res = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("### ") and "cores" in lines[0], res.stdout
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("| ")]
    assert len(rows) >= 2, res.stdout  # a header and at least one row of figures
    return rows


def _num(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_every_script_is_smoke_tested():
    on_disk = {p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_")}
    assert on_disk == set(SCRIPTS)


def test_plan_bench():
    header, *rows = run_quick("plan")
    assert header[:4] == ["orgs", "Lago", "ops", "requests"]
    assert [(r[0], r[1]) for r in rows] == [("5", "from empty"), ("5", "in sync"), ("20", "from empty"),
                                            ("20", "in sync")]
    for r in rows:
        assert all(_num(c) >= 0 for c in r[3:]), r
        assert _num(r[3]) > 0  # it did read Lago
    # from empty: the catalogue plus one customer and one subscription per org; in sync: nothing
    assert _num(rows[2][2]) - _num(rows[0][2]) == 2 * 15
    assert rows[1][2] == rows[3][2] == "0"


def test_apply_bench():
    header, *rows = run_quick("apply")
    assert header == ["workspace", "operations", "writes", "requests", "seconds", "converged"]
    assert [r[0] for r in rows] == ["example (6 orgs)", "20 orgs"]
    for r in rows:
        assert r[-1] == "yes"
        assert _num(r[2]) >= _num(r[1]) > 0  # at least one write per operation
        assert _num(r[3]) > _num(r[2])  # plus the reads and the re-plan


def test_faults_bench():
    header, *rows = run_quick("faults")
    assert header[0] == "concurrency"
    assert [r[0] for r in rows] == ["1", "4", "8"]
    for r in rows:
        assert r[-1] == "yes", r
        assert _num(r[4]) > 0, r  # faults were injected and survived
        assert _num(r[2]) > _num(r[3])  # requests include the retries and reads


@pytest.mark.parametrize("name", ["emulator"])
def test_emulator_bench(name):
    header, *rows = run_quick(name)
    assert header == ["path", "writes/s", "list pages/s"]
    assert [r[0] for r in rows][:3] == ["Emulator.handle()", "httpx, in-process transport",
                                        "httpx, HTTP server (socket)"]
    assert all(_num(r[1]) > 0 and _num(r[2]) > 0 for r in rows)


def test_pricing_bench():
    header, *rows = run_quick("pricing")
    assert header == ["cases", "fees priced", "CPU s (whole run)", "CPU s (pricing)", "cases/s"]
    assert [r[0] for r in rows] == ["10", "100"]
    for r in rows:
        # every generated case priced: at least the subscription fee and one charge fee each
        assert _num(r[1]) >= 2 * _num(r[0]), r
        assert _num(r[2]) >= _num(r[3]) >= 0, r


def test_scale_bench():
    header, *rows = run_quick("scale")
    assert header == ["orgs", "stage", "measured s", "floor s", "floor is", "ratio"]
    stages = {(r[0], r[1].strip()) for r in rows}
    for stage in ("load+validate (CPU)", "make_plan (CPU)", "render text (CPU)",
                  "plan in sync: its stages one after the other",
                  "plan in sync, as `lagosync plan` runs (wall, median of 3)"):
        assert ("20", stage) in stages, rows
    # the plan as the CLI makes it, against the served emulator standing in for a Lago over the network
    cli = next(r for r in rows if r[1] == "plan in sync, as `lagosync plan` runs (wall, median of 3)")
    assert _num(cli[2]) > 0 and _num(cli[5]) > 0 and "requests" in cli[4], cli
    assert "workspace loaded first, in this process" in cli[4], cli  # 20 orgs: too few to load apart
    assert any(r[1].startswith("read live") and "(wall)" in r[1] for r in rows)
    # the read is also measured against `lagosync emulator serve` in another process, as a real Lago
    served = next(r for r in rows if r[1].startswith("read live, emulator served over HTTP"))
    assert _num(served[2]) > 0 and _num(served[5]) > 0, served
    assert any(r[0] == "5" and r[1].startswith("apply from empty") and "NOT CONVERGED" not in r[4] for r in rows)
    memory_at = next(i for i, r in enumerate(rows) if r[1] == "what")  # the second table's header
    rows, memory = rows[:memory_at], rows[memory_at + 1:]
    for r in rows:
        if r[5]:  # a ratio is printed only with its floor, both measured in the same run
            assert _num(r[3]) >= 0 and _num(r[5]) > 0, r
    # the in-sync plan compared every object: 20 orgs, 20 subscriptions and the scaled catalogue
    plan_row = next(r for r in rows if r[1] == "make_plan (CPU)")
    assert plan_row[4] == "== on 101 objects"
    # and the memory table (tracemalloc) for the --quick size
    assert [r[0] for r in memory] == ["50"] * 5 and all(_num(r[2]) > 0 for r in memory), memory
    assert any(r[1].startswith("plan in sync, as `lagosync plan` runs") for r in memory), memory


def test_usage_bench():
    header, *rows = run_quick("usage")
    assert header == ["stage", "subscriptions", "requests", "CPU s", "per subscription"]
    read, priced, default = rows
    # one current-usage request per subscription read; the pricing itself sends none
    assert read[0].startswith("read current usage") and read[1] == read[2] == "10"
    assert priced[0] == "price before/after (pure)" and (priced[1], priced[2]) == ("200", "0")
    # a plan reads at most its sample, however many subscriptions are affected
    assert default[0] == "a plan: the default sample, 10 of 200 affected" and default[2] == "10"
    assert all(_num(r[3]) >= 0 for r in rows)
