"""The newcomer's first hour, as one journey: README "Your own repository in five minutes", step by
step, from `lagosync init` to the sticky PR comment for their own three-plan workspace.

`lagosync` runs as a subprocess from the user's folders, as a person would type it (the installed
command on PATH; installing is the Quickstart's own line, which CI runs); the pull request runs the
repository's `lagosync-pr.yml` copied into the user's repository, through the local workflow runner
against a faked GitHub (tests/ci/gha_runner.py, tests/ci/fake_github.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fake_github import TOKEN, FakeGitHub
from gha_runner import Runner, venv_env

from lagosync import ci

ROOT = Path(__file__).resolve().parents[2]
PR, HEAD = 11, "e" * 40

# Step 2 of the README: the user's own catalog (three plans on one metric) and three orgs.
PLANS = """\
# yaml-language-server: $schema=../schemas/plans.schema.json
billable_metrics:
  - code: api_calls
    name: API calls
    aggregation_type: count_agg

plans:
  - code: hobby
    name: Hobby
    interval: monthly
    amount_cents: 0
    amount_currency: EUR
    charges:
      - billable_metric_code: api_calls
        charge_model: standard
        properties: {amount: "0.01"}
  - code: team
    name: Team
    interval: monthly
    amount_cents: 4900
    amount_currency: EUR
    charges:
      - billable_metric_code: api_calls
        charge_model: graduated
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 10000, per_unit_amount: "0", flat_amount: "0"}
            - {from_value: 10001, to_value: null, per_unit_amount: "0.002", flat_amount: "0"}
  - code: business
    name: Business
    interval: yearly
    amount_cents: 99000
    amount_currency: EUR
"""
ORGS = """\
# yaml-language-server: $schema=./schemas/orgs.schema.json
orgs:
  - external_id: org_ada
    name: Ada Ltd
    currency: EUR
    subscriptions: [{plan_code: hobby}]
  - external_id: org_bell
    name: Bell GmbH
    currency: EUR
    subscriptions: [{plan_code: team}]
  - external_id: org_curie
    name: Curie SA
    currency: EUR
    subscriptions: [{plan_code: business}]
"""
PRICING = """\
# yaml-language-server: $schema=../schemas/pricing_tests.schema.json
pricing_tests:
  - name: 25k calls on team
    plan: team
    usage: {api_calls: 25000}
    expect: {before_tax: "79.00"}   # 49.00 + the 15,000 calls past the free 10,000 x 0.002
"""


def lagosync(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("lagosync", path=venv_env()["PATH"])
    assert exe, "the lagosync command is not installed"
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=venv_env())


@pytest.fixture
def github():
    fake = FakeGitHub()
    url, server = fake.serve()
    yield fake, url
    server.shutdown()


def test_from_init_to_the_pr_comment_of_a_three_plan_workspace(tmp_path, github):
    fake, url = github
    repo = tmp_path / "my-billing-repo"
    repo.mkdir()

    # 1. scaffold: a valid workspace that already plans
    made = lagosync(repo, "init", "billing")
    assert made.returncode == 0, made.stderr
    ws = repo / "billing"
    for name in ("lagosync.yaml", "orgs.yaml", "plans/plans.yaml", "schemas/plans.schema.json"):
        assert (ws / name).is_file(), name

    # 2. edit the YAML: their own three plans, three orgs and a pricing case
    (ws / "plans" / "plans.yaml").write_text(PLANS)
    (ws / "orgs.yaml").write_text(ORGS)
    (ws / "pricing_tests").mkdir()
    (ws / "pricing_tests" / "plans.yaml").write_text(PRICING)

    # 3. check it offline, from inside the workspace (found without -w), then from a subfolder
    checked = lagosync(ws, "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = lagosync(ws / "plans", "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout == "ok: 1 pricing test in 1 file passed\n"
    (ws / "orgs.yaml").write_text(ORGS.replace("plan_code: team", "plan_code: teams"))
    typo = lagosync(ws, "validate")
    assert typo.returncode == 1 and "orgs.yaml:" in typo.stdout + typo.stderr
    assert "'team'" in typo.stdout + typo.stderr  # did you mean
    (ws / "orgs.yaml").write_text(ORGS)

    # 4. plan against the embedded local Lago: everything to create, nothing written
    planned = lagosync(ws, "plan", "--no-color")
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 10 to create, 0 to update, 0 to replace, 0 to migrate, 0 to delete." in planned.stdout
    for what in ("plan 'hobby'", "plan 'team'", "plan 'business'", "customer 'org_curie'"):
        assert what in planned.stdout

    # 5. adopt it in CI: the three workflow files, LAGOSYNC_WORKSPACE naming the folder, a pull request
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for name in ("pr", "apply", "drift"):
        shutil.copy2(ROOT / ".github" / "workflows" / f"lagosync-{name}.yml", workflows)
    event = {"number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD}}}
    (tmp_path / "event.json").write_text(json.dumps(event))
    runner = Runner(repo, github={"event": event, "event_name": "pull_request", "repository": fake.repo,
                                  "sha": HEAD, "token": TOKEN, "api_url": url, "server_url": "https://github.com",
                                  "run_id": "1", "event_path": str(tmp_path / "event.json")},
                    vars={"LAGOSYNC_WORKSPACE": "billing"}, base_env=venv_env(), artifacts={},
                    on_upload=lambda name, files: None)
    results = runner.run_workflow(workflows / "lagosync-pr.yml")
    for job in ("validate", "plan"):
        assert results[job] and not any(r.failed for r in results[job]), results[job][0].log if results[job] else job
    assert results["validate"][0].step("Pricing tests").stdout == "ok: 1 pricing test in 1 file passed\n"

    [comment] = [c for c in fake.comments[PR] if c["body"].startswith(ci.plan_marker("local"))]
    body = comment["body"]
    assert "### lagosync plan for `local`" in body
    assert "**Plan: 10 to create, 0 to update, 0 to replace, 0 to migrate, 0 to delete.**" in body
    for what in ("plan 'hobby'", "plan 'team'", "plan 'business'", "subscription 'sub_org_bell'"):
        assert what in body
    assert "#### Next steps" in body and "On merge" in body
    # the pull request wrote nothing: Lago still lacks all of it
    assert lagosync(ws, "plan", "--detailed-exitcode").returncode == 2
