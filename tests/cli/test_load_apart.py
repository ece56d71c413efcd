"""`lagosync plan` with a large orgs.yaml against a Lago over the network: the workspace loads in a
child process while Lago is read (lagosync.workflow.opened, lagosync.runtime.Child), and the plan is
the one a load in one process makes, operations, fingerprints and text alike (docs/plans.md,
"Reading Lago").

The CLI runs as its own process (one thread: the fork is allowed), against `lagosync emulator
serve` in another; orgs.yaml reaches the size that loads apart (workflow.LOAD_APART_FROM_BYTES)
with a comment, so 250 orgs are enough: 3 pages of customers and 3 of subscriptions, 2 of each read
ahead.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lagosync import workflow
from lagosync.applier import apply_async
from lagosync.client import LagoClient
from lagosync.client.connect import LOCAL_API_KEY, LOCAL_BASE_URL
from lagosync.emulator import Emulator, EmulatorTransport

REPO = Path(__file__).resolve().parents[2]
PLANS = ("starter", "professional", "enterprise", "trial", "founders_friend")
KEY_VAR = "LAGOSYNC_LOAD_APART_KEY"
N = 250


def _orgs(n: int) -> list[dict]:
    return [{"external_id": f"org_apart_{i:04d}", "name": f"Org {i}", "email": f"b{i}@apart.example",
             "currency": "USD", "metadata": [{"key": "created_by_user_id", "value": f"usr_apart_{i:04d}"}],
             "subscriptions": [{"plan_code": PLANS[i % len(PLANS)], "name": f"Sub {i}"}]} for i in range(n)]


def _write_orgs(root: Path, orgs: list[dict], pad: bool) -> None:
    text = yaml.safe_dump({"orgs": orgs}, sort_keys=False)
    if pad:  # a comment brings the file to the size that loads apart
        line = "# " + "x" * 1022 + "\n"
        text += line * (workflow.LOAD_APART_FROM_BYTES // len(line) + 1)
    (root / "orgs.yaml").write_text(text)


class _Served:
    """`lagosync emulator serve` on a database file, in its own process."""

    def __init__(self, db: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lagosync", "emulator", "serve", "--db", str(db), "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert "listening on " in line, line
        self.url = line.split("listening on ", 1)[1].split()[0]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def lago(tmp_path_factory):
    """A workspace of N orgs applied to an emulator database, then served over HTTP."""
    base = tmp_path_factory.mktemp("apart")
    root = base / "ws"
    (root / "plans").mkdir(parents=True)
    for p in (REPO / "plans").glob("*.yaml"):
        (root / "plans" / p.name).write_text(p.read_text())
    settings = yaml.safe_load((REPO / "lagosync.yaml").read_text())
    (root / "lagosync.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    _write_orgs(root, _orgs(N), pad=False)
    emulator = Emulator(db_path=str(base / "lago.db"), api_key=LOCAL_API_KEY)

    def factory(_workspace, _env):
        return LagoClient(LOCAL_BASE_URL, LOCAL_API_KEY, environment="local", transport=EmulatorTransport(emulator))
    result = asyncio.run(apply_async(root, "local", auto_approve=True, client_factory=factory,
                                     out=lambda _line: None, err=lambda _line: None))
    assert result.ok
    emulator.close()
    served = _Served(base / "lago.db")
    settings["environments"]["remote"] = {"api_url": served.url, "api_key_env": KEY_VAR}
    (root / "lagosync.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    try:
        yield root
    finally:
        served.close()


@pytest.fixture
def changed(lago):
    """The served workspace with two changes (a name, a plan), its orgs.yaml padded to load apart."""
    orgs = _orgs(N)
    orgs[3]["name"] = "Org 3, renamed"
    orgs[7]["subscriptions"][0]["plan_code"] = "starter"
    _write_orgs(lago, orgs, pad=True)
    assert (lago / "orgs.yaml").stat().st_size >= workflow.LOAD_APART_FROM_BYTES
    yield lago
    _write_orgs(lago, _orgs(N), pad=False)


def _cli(root: Path, *args: str, key: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KEY_VAR}
    if key:
        env[KEY_VAR] = LOCAL_API_KEY
    return subprocess.run([sys.executable, "-m", "lagosync", "-v", *args], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**env, "NO_COLOR": "1"})


def _operations(path: Path) -> tuple[list, dict]:
    doc = json.loads(path.read_text())
    return doc["operations"], doc["fingerprints"]


def test_plan_loads_the_workspace_apart_and_makes_the_same_plan(changed, tmp_path, monkeypatch):
    apart = _cli(changed, "plan", "-e", "remote", "--out", str(tmp_path / "apart.json"))
    assert apart.returncode == 0, apart.stderr
    assert "loading the workspace in a child process while Lago is read" in apart.stderr
    assert "read ahead while the workspace loaded: 2 pages of customers, 2 of subscriptions" in apart.stderr
    assert "the child process loaded the workspace (its peak resident memory: " in apart.stderr
    assert "did not load" not in apart.stderr

    # the same plan loaded in one process (this one, told that no orgs.yaml is large enough)
    monkeypatch.setattr(workflow, "LOAD_APART_FROM_BYTES", 1 << 62)
    monkeypatch.setenv(KEY_VAR, LOCAL_API_KEY)
    together = workflow.run_plan(changed, "remote", out=tmp_path / "together.json")
    operations, fingerprints = _operations(tmp_path / "apart.json")
    assert (operations, fingerprints) == _operations(tmp_path / "together.json")
    assert len(operations) == 2  # the rename and the plan change, nothing else
    assert len(fingerprints) > 2 * N
    assert apart.stdout == together.output


def test_a_workspace_with_an_error_is_reported_as_a_load_in_one_process_reports_it(changed, monkeypatch):
    orgs = _orgs(N)
    orgs[5]["subscriptions"][0]["plan_code"] = "no_such_plan"
    _write_orgs(changed, orgs, pad=True)
    apart = _cli(changed, "plan", "-e", "remote")
    assert apart.returncode == 1
    assert "the child process did not load the workspace: loading it in this one" in apart.stderr
    assert "no_such_plan" in apart.stderr
    assert "Traceback" not in apart.stderr

    monkeypatch.setattr(workflow, "LOAD_APART_FROM_BYTES", 1 << 62)
    with pytest.raises(Exception) as raised:  # the same error, from a load in this process
        workflow.run_plan(changed, "remote")
    assert str(raised.value) in apart.stderr


def test_a_small_workspace_loads_in_one_process(lago):
    small = _cli(lago, "plan", "-e", "remote")
    assert small.returncode == 0, small.stderr
    assert "child process" not in small.stderr and "read ahead" not in small.stderr
    assert "No changes" in small.stdout


def test_the_workspace_error_comes_before_a_missing_api_key(changed):
    orgs = _orgs(N)
    orgs[5]["subscriptions"][0]["plan_code"] = "no_such_plan"
    _write_orgs(changed, orgs, pad=True)
    apart = _cli(changed, "plan", "-e", "remote", key=False)
    assert apart.returncode == 1
    assert "no_such_plan" in apart.stderr and KEY_VAR not in apart.stderr  # as a load in one process says
    assert "child process" not in apart.stderr  # no client without its key: no read ahead either
