"""The pricing tests run where the README says: in the PR workflow's validate job (a failing case
stops the PR flow before any plan or comment) and as the `lagosync-test` pre-commit hook."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ci"))  # the local workflow runner and the fake GitHub

from fake_github import TOKEN, FakeGitHub  # noqa: E402
from gha_runner import Runner, copy_workspace, venv_env  # noqa: E402

PR, HEAD = 7, "d" * 40
FAILING = """pricing_tests:
  - name: starter costs 19
    plan: starter
    expect: {subscription: "19.01"}
"""


@pytest.fixture
def world(tmp_path):
    fake = FakeGitHub()
    url, server = fake.serve()
    ws = copy_workspace(ROOT, tmp_path / "repo")
    shutil.copytree(ROOT / "pricing_tests", ws / "pricing_tests")
    yield fake, url, ws
    server.shutdown()


def run_pr(fake, url, ws):
    event = {"number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD}}}
    event_path = ws.parent / "event.json"
    event_path.write_text(json.dumps(event))
    github = {"event": event, "event_name": "pull_request", "repository": fake.repo, "sha": HEAD, "token": TOKEN,
              "api_url": url, "server_url": "https://github.com", "run_id": "99", "event_path": str(event_path)}
    runner = Runner(ws, github=github, vars={"LAGOSYNC_ENVIRONMENTS": "local"}, base_env=venv_env(),
                    artifacts={}, on_upload=lambda name, files: None)
    return runner.run_workflow(ROOT / ".github" / "workflows" / "lagosync-pr.yml")


def test_pr_flow_runs_the_pricing_tests_and_a_failure_stops_it(world):
    fake, url, ws = world
    res = run_pr(fake, url, ws)
    validate = res["validate"][0]
    assert not validate.failed, validate.log
    assert validate.step("Pricing tests").stdout == "ok: 4 pricing tests in 1 file passed\n"
    assert len(res["plan"]) == 1

    (ws / "pricing_tests" / "more.yaml").write_text(FAILING)
    fake.comments.clear()
    res = run_pr(fake, url, ws)
    validate = res["validate"][0]
    assert validate.failed
    step = validate.step("Pricing tests")
    assert step.returncode == 1
    assert ("pricing_tests/more.yaml:2: starter costs 19: expected subscription fee 19.01 USD, computed 19.00 USD"
            in step.stdout)
    assert res["plan"] == []
    # no plan is posted; the sticky comment says why instead (the failed case as lagosync test printed it)
    [comment] = fake.comments[PR]
    assert "lagosync could not plan this change" in comment["body"]
    assert "pricing_tests/more.yaml:2: starter costs 19: expected subscription fee 19.01 USD" in comment["body"]


def test_the_composite_action_runs_them_for_plan():
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    names = [s.get("name") for s in steps]
    tests = steps[names.index("Pricing tests")]
    assert tests["if"] == "inputs.command == 'plan'" and tests["run"] == 'lagosync test -w "$LAGOSYNC_WORKSPACE"'
    assert names.index("Validate") < names.index("Pricing tests") < names.index("Plan")


def test_pre_commit_hooks_run_offline_on_the_example(tmp_path):
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"lagosync-validate", "lagosync-test"}
    ws = copy_workspace(ROOT, tmp_path / "ws")
    shutil.copytree(ROOT / "pricing_tests", ws / "pricing_tests")
    lagosync = str(Path(sys.executable).parent / "lagosync")
    for hook_id, hook in hooks.items():
        assert hook["pass_filenames"] is False and hook["language"] == "python"
        argv = shlex.split(hook["entry"])
        assert argv[0] == "lagosync"
        done = subprocess.run([lagosync, *argv[1:]], cwd=ws, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (hook_id, done.stdout, done.stderr)
    (ws / "pricing_tests" / "more.yaml").write_text(FAILING)
    done = subprocess.run([lagosync, "test"], cwd=ws, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "pricing_tests/more.yaml:2: starter costs 19" in done.stdout
