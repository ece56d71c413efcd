"""Run the repository's workflows and composite action locally, against the embedded emulator.

The work directory is a temporary copy of the example workspace (the `local` environment keeps
its emulator in .lagosync/, which plays the part of the Lago server across runs). GitHub is faked
behind an HTTP server (GITHUB_API_URL); `lagosync` runs as a subprocess of each `run:` script,
exactly as the workflow files say (tests/ci/gha_runner.py executes them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_github import TOKEN, FakeGitHub
from gha_runner import SKIPPED_RUN_IDS, Runner, copy_workspace, venv_env

from lagosync import ci

ROOT = Path(__file__).resolve().parents[2]
WF = ROOT / ".github" / "workflows"
PR, HEAD1, HEAD2, MERGE = 5, "a" * 40, "b" * 40, "c" * 40


@pytest.fixture
def world(tmp_path):
    fake = FakeGitHub()
    url, server = fake.serve()
    ws = copy_workspace(ROOT, tmp_path / "repo")
    yield fake, url, ws
    server.shutdown()


def runner(fake, url, ws, *, event_name, sha, event, artifacts, **kw) -> Runner:
    event_path = ws.parent / f"event-{event_name}-{sha[:6]}.json"
    event_path.write_text(json.dumps(event))
    github = {"event": event, "event_name": event_name, "repository": fake.repo, "sha": sha, "token": TOKEN,
              "api_url": url, "server_url": "https://github.com", "run_id": "4242", "event_path": str(event_path)}

    def on_upload(name, files):
        fake.add_artifact(name, files, head_sha=sha, created_at=f"2025-01-01T00:00:{len(fake.artifacts):02d}Z")

    return Runner(ws, github=github, vars={"LAGOSYNC_ENVIRONMENTS": "local"}, base_env=venv_env(),
                  artifacts=artifacts, on_upload=on_upload, **kw)


def pr_event(head):
    return {"number": PR, "pull_request": {"number": PR, "head": {"sha": head}}}


def only(results, job) -> object:
    assert len(results[job]) == 1, f"job {job} did not run"
    res = results[job][0]
    assert not res.failed, res.log
    return res


def sticky(fake, env="local"):
    mine = [c for c in fake.comments.get(PR, []) if c["body"].startswith(ci.plan_marker(env))]
    assert len(mine) == 1, f"{len(mine)} lagosync comments for {env}"
    return mine[0]


def ui_edit(ws: Path):
    """Someone changes a plan's price in the Lago UI (directly in the emulator, not via lagosync)."""
    from lagosync.emulator import Emulator

    emu = Emulator(db_path=str(ws / ".lagosync" / "local.db"), api_key="lago-local-key")
    body = json.dumps({"plan": {"amount_cents": 123456}}).encode()
    resp = emu.handle("PUT", "/api/v1/plans/starter", [], {"Authorization": "Bearer lago-local-key",
                                                           "Content-Type": "application/json"}, body)
    assert resp.status == 200, resp.body


def test_pr_merge_and_drift_flows_end_to_end(world):
    fake, url, ws = world
    artifacts: dict = {}

    # 1. a pull request: validate, plan `local`, sticky comment, artifacts, labels
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts=artifacts)
    res = r.run_workflow(WF / "lagosync-pr.yml")
    only(res, "validate")
    plan_job = only(res, "plan")
    assert plan_job.matrix == {"environment": "local", "api_key_env": "", "emulator": True}
    only(res, "labels")
    body = sticky(fake)["body"]
    assert "24 to create" in body and "`lagosync:changes`" in body
    assert f"lagosync-plan-local-pr{PR}" in body and "actions/runs/4242" in body
    # one title; a plan this size grouped by kind and action, counts first; next steps at the end
    assert [line for line in body.splitlines() if line.startswith("### ")] == [
        "### lagosync plan for `local` (http://lago.local/api/v1)"]
    assert "| kind | to create |" in body and "| plan | 5 |" in body and "| | **plan: 5 to create** | |" in body
    assert body.index("| kind | to create |") < body.index("| | **tax: 1 to create** | |")
    assert body.index("#### Next steps") > body.index("| `+` | plan 'starter' | new |")
    assert "**On merge** to the default branch, the `lagosync apply` workflow applies the saved plan " \
           f"(artifact `lagosync-plan-local-pr{PR}`) to `local`" in body
    # the run's summary page has the same plan (without the hidden marker)
    summary = plan_job.step("Sticky PR comment (and the job summary)").summary
    assert summary.startswith("### lagosync plan for `local`") and "24 to create" in summary
    assert "<!-- lagosync" not in summary and plan_job.summary == summary
    assert plan_job.step("The error in the sticky PR comment (no earlier plan stays up)").outcome == "skipped"
    assert fake.issue_labels[PR] == ["lagosync:changes"]
    files = artifacts[f"lagosync-plan-local-pr{PR}"]
    assert {"plan.json", "plan.md", "plan.render.json"} <= set(files)
    assert json.loads(files["plan.json"])["environment"] == "local"
    assert all(step.startswith("python -m pip install") for step in r.skipped_runs) and r.skipped_runs
    assert SKIPPED_RUN_IDS == {"install"}

    # 2. another push to the PR: the same comment is updated, not a second one
    first_id = sticky(fake)["id"]
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD2, event=pr_event(HEAD2), artifacts=artifacts)
    only(r.run_workflow(WF / "lagosync-pr.yml"), "labels")
    assert sticky(fake)["id"] == first_id and len(fake.comments[PR]) == 1

    # 3. merge: apply the plan reviewed on the PR (the newest artifact, made for HEAD2)
    fake.pulls_by_commit[MERGE] = [{"number": PR, "merged_at": "2025-01-02T00:00:00Z", "merge_commit_sha": MERGE,
                                    "head": {"sha": HEAD2}}]
    merge = runner(fake, url, ws, event_name="push", sha=MERGE, event={"ref": "refs/heads/main"}, artifacts={})
    res = merge.run_workflow(WF / "lagosync-apply.yml")
    apply_job = only(res, "apply")
    fetched = apply_job.step("Fetch the plan reviewed on the merged pull request")
    assert fetched.outcome == "success" and f"pull request #{PR}" in fetched.stdout
    applied = apply_job.step("Apply the reviewed plan (refused if Lago or the workspace changed since)")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert apply_job.step("Plan and apply now").outcome == "skipped"

    # 4. re-running the merge workflow with the same, now stale, reviewed plan is refused
    res = merge.run_workflow(WF / "lagosync-apply.yml")
    again = res["apply"][0]
    assert again.failed
    stale = again.step("Apply the reviewed plan (refused if Lago or the workspace changed since)")
    assert stale.returncode not in (0, None), stale.stdout + stale.stderr

    # 5. the PR plan after apply: no changes
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD2, event=pr_event(HEAD2), artifacts=artifacts)
    only(r.run_workflow(WF / "lagosync-pr.yml"), "labels")
    assert fake.issue_labels[PR] == ["lagosync:no-changes"]
    assert "`lagosync:no-changes`" in sticky(fake)["body"] and len(fake.comments[PR]) == 1

    # 6. scheduled drift: none yet, no issue
    sched = runner(fake, url, ws, event_name="schedule", sha=MERGE, event={"schedule": "17 6 * * *"}, artifacts={})
    drift_job = only(sched.run_workflow(WF / "lagosync-drift.yml"), "drift")
    assert drift_job.step("drift").returncode == 0
    assert "no drift in 'local'" in drift_job.step("Open, update or close the drift issue").stdout
    assert fake.issues == {}

    # 7. an edit in the Lago UI: drift (exit 2) opens one issue with the fingerprint
    ui_edit(ws)
    drift_job = only(sched.run_workflow(WF / "lagosync-drift.yml"), "drift")
    assert drift_job.step("drift").returncode == 2
    assert drift_job.step("drift").outcome == "failure"  # continue-on-error: the job goes on
    opened = drift_job.step("Open, update or close the drift issue")
    number = int(opened.outputs["issue"])
    assert f"opened issue #{number}" in opened.stdout and opened.outputs["status"] == "opened"
    assert list(fake.issues) == [number]
    issue = fake.issues[number]
    assert issue["labels"] == ["lagosync:drift"] and "plan:starter" in issue["body"]
    env, fp = ci.parse_drift_marker(issue["body"])
    assert env == "local" and fp.startswith("sha256:")

    # 8. the next run: same drift, no re-alert (no write to GitHub at all)
    fake.requests.clear()
    drift_job = only(sched.run_workflow(WF / "lagosync-drift.yml"), "drift")
    assert "no new alert" in drift_job.step("Open, update or close the drift issue").stdout
    assert fake.writes() == [] and number not in fake.comments

    # 9. apply puts Lago back (fresh mode, by hand); then the drift issue is closed
    fix = runner(fake, url, ws, event_name="workflow_dispatch", sha=MERGE, event={}, artifacts={})
    res = fix.run_workflow(WF / "lagosync-apply.yml", inputs={"apply-mode": "fresh", "environments": "local",
                                                              "allow-destroy": False, "allow-reprice": True})
    fresh = only(res, "apply")
    assert fresh.step("Fetch the plan reviewed on the merged pull request").outcome == "skipped"
    assert fresh.step("Plan and apply now").returncode == 0
    drift_job = only(sched.run_workflow(WF / "lagosync-drift.yml"), "drift")
    assert f"closed issue #{number}" in drift_job.step("Open, update or close the drift issue").stdout
    assert fake.issues[number]["state"] == "closed"


def test_pr_flow_fails_clearly_on_an_invalid_workspace(world):
    fake, url, ws = world
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts={})
    only(r.run_workflow(WF / "lagosync-pr.yml"), "labels")  # a first push: its plan is the comment
    planned = sticky(fake)
    assert "24 to create" in planned["body"]

    (ws / "orgs.yaml").write_text((ws / "orgs.yaml").read_text().replace("plan_code: enterprise",
                                                                         "plan_code: no_such_plan", 1))
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD2, event=pr_event(HEAD2), artifacts={})
    res = r.run_workflow(WF / "lagosync-pr.yml")
    validate = res["validate"][0]
    assert validate.failed
    step = validate.step("Validate the workspace")
    assert step.returncode == 1 and "Traceback" not in step.stderr
    # --format github: an annotation on the line of the error, which the pull request shows there
    assert "::error file=orgs.yaml,line=13,col=20,title=lagosync validate::" in step.stdout
    assert "unknown plan 'no_such_plan'" in step.stdout
    assert res["plan"] == [] and res["labels"] == []
    # the earlier push's plan is gone from the comment: the same comment now holds the error
    posted = validate.step("The error in the sticky PR comment of every environment (no earlier plan stays up)")
    assert posted.outcome == "success", posted.stdout + posted.stderr
    assert "with the error" in posted.stdout
    comment = sticky(fake)
    assert comment["id"] == planned["id"] and len(fake.comments[PR]) == 1
    body = comment["body"]
    assert body.splitlines()[1] == "### lagosync plan for `local`: failed"
    assert "**lagosync could not plan this change:**" in body and "24 to create" not in body
    assert any(line.startswith("orgs.yaml:13:20: ") and "unknown plan 'no_such_plan'" in line
               for line in body.splitlines()), body
    assert f"commit `{HEAD2[:12]}`" in body and "Fix what the error says and push" in body
    assert "lagosync could not plan this change" in validate.summary

    # fixed and pushed again: the plan is back in the same comment
    (ws / "orgs.yaml").write_text((ws / "orgs.yaml").read_text().replace("plan_code: no_such_plan",
                                                                         "plan_code: enterprise", 1))
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts={})
    only(r.run_workflow(WF / "lagosync-pr.yml"), "labels")
    assert sticky(fake)["id"] == planned["id"] and "24 to create" in sticky(fake)["body"]


def test_pr_flow_puts_a_failed_plan_into_the_comment(world):
    """The plan step fails (Lago cannot be reached): the plan job's failure step posts the error."""
    fake, url, ws = world
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings = (ws / "lagosync.yaml").read_text()
    (ws / "lagosync.yaml").write_text(settings.replace("https://lago.staging.example.com", f"http://127.0.0.1:{port}"))
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts={})
    r.vars = {"LAGOSYNC_ENVIRONMENTS": "staging"}
    r.secrets = {"LAGO_STAGING_API_KEY": "lago_key_for_a_closed_port"}
    r.base_env = {**r.base_env, "LAGOSYNC_MAX_RETRIES": "1"}
    res = r.run_workflow(WF / "lagosync-pr.yml")
    failed = res["plan"][0]
    assert failed.failed and res["labels"] == []
    assert failed.step("Plan").returncode == 1
    assert "retrying in" in failed.step("Plan").stderr
    posted = failed.step("The error in the sticky PR comment (no earlier plan stays up)")
    assert posted.outcome == "success", posted.stdout + posted.stderr
    body = sticky(fake, "staging")["body"]
    assert "**lagosync could not plan this change:**" in body
    assert f"error: cannot reach Lago at http://127.0.0.1:{port}/api/v1 for environment 'staging'" in body
    assert "connection refused" in body and "lago_key_for_a_closed_port" not in body
    assert "lagosync could not plan this change" in failed.summary


def test_composite_action_plan_comments_labels_and_outputs(world):
    fake, url, ws = world
    artifacts: dict = {}
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts=artifacts,
               action_root=ROOT)
    ctx = r._ctx()
    steps = [{"id": "lagosync", "uses": "./", "with": {"command": "plan", "environment": "local"}}]
    [res] = r.run_steps(steps, ctx, {})
    assert res.outcome == "success", res.stdout
    assert res.outputs["has-changes"] == "true" and res.outputs["labels"] == "lagosync:changes"
    assert "24 to create" in sticky(fake)["body"]
    assert fake.issue_labels[PR] == ["lagosync:changes"]
    assert f"lagosync-plan-local-pr{PR}" in artifacts


def test_pr_flow_for_a_remote_environment_uses_its_secret_and_never_prints_it(world):
    """`staging` points at an emulator over HTTP that accepts only the key stored as the secret
    named by api_key_env; the key travels secrets -> export-api-key -> lagosync and is never shown."""
    from lagosync.emulator.server import start_in_thread

    fake, url, ws = world
    secret = "lago_staging_key_7c1f0e_never_print"
    server, _ = start_in_thread(host="127.0.0.1", port=0, db=":memory:", api_key=secret)
    try:
        host, port = server.server_address[:2]
        settings = (ws / "lagosync.yaml").read_text()
        (ws / "lagosync.yaml").write_text(settings.replace("https://lago.staging.example.com",
                                                           f"http://{host}:{port}"))
        r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts={})
        r.vars = {"LAGOSYNC_ENVIRONMENTS": "staging"}
        r.secrets = {"LAGO_STAGING_API_KEY": secret}
        res = r.run_workflow(WF / "lagosync-pr.yml")
        plan_job = only(res, "plan")
        only(res, "labels")
        assert "24 to create" in sticky(fake, "staging")["body"]
        everything = plan_job.log + json.dumps([c["body"] for c in fake.comments[PR]])
        assert secret not in everything

        # without the secret: a clear error naming the secret to create, put into the same comment in
        # place of the earlier plan
        before = [dict(c) for c in fake.comments[PR]]
        r.secrets = {}
        res = r.run_workflow(WF / "lagosync-pr.yml")
        failed = res["plan"][0]
        assert failed.failed and res["labels"] == []
        step = failed.step("API key from the secret named like api_key_env in lagosync.yaml")
        assert "set the secret LAGO_STAGING_API_KEY" in step.stderr
        assert failed.step("Plan").outcome == "skipped"
        [after] = fake.comments[PR]
        assert after["id"] == before[0]["id"] and "24 to create" not in after["body"]
        assert "lagosync could not plan this change" in after["body"]
        assert "set the secret LAGO_STAGING_API_KEY" in after["body"] and secret not in after["body"]
    finally:
        server.shutdown()
        server.server_close()


def test_composite_action_plan_failure_posts_the_error(world):
    fake, url, ws = world
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts={},
               action_root=ROOT)
    (ws / "plans" / "plans.yaml").write_text((ws / "plans" / "plans.yaml").read_text() + "\n  - bad: [\n")
    [res] = r.run_steps([{"uses": "./", "with": {"command": "plan", "environment": "local"}}], r._ctx(), {})
    assert res.outcome == "failure"
    inner = {s.name: s for s in res.inner}
    assert inner["Validate"].returncode == 1 and inner["Plan"].outcome == "skipped"
    assert inner["The error in the sticky PR comment (no earlier plan stays up)"].outcome == "success"
    body = sticky(fake)["body"]
    assert "lagosync could not plan this change" in body and "plans/plans.yaml:" in body


def test_composite_action_drift_opens_the_issue_once(world):
    fake, url, ws = world
    r = runner(fake, url, ws, event_name="schedule", sha=MERGE, event={}, artifacts={}, action_root=ROOT)
    steps = [{"id": "lagosync", "uses": "./", "with": {"command": "drift", "environment": "local"}}]
    [res] = r.run_steps(steps, r._ctx(), {})  # nothing applied to the fresh emulator: all missing
    assert res.outcome == "success", res.stdout
    assert res.outputs["drift-status"] == "opened"
    number = int(res.outputs["drift-issue"])
    assert "tax:vat_20" in fake.issues[number]["body"]
    [res] = r.run_steps(steps, r._ctx(), {})
    assert res.outputs["drift-status"] == "unchanged" and len(fake.issues) == 1


def apply_now(ws: Path):
    """Bring the emulator in line with the workspace in-process (setup only; the workflow runs of
    apply are what the other tests exercise)."""
    from click.testing import CliRunner

    from lagosync.cli import main

    res = CliRunner().invoke(main, ["apply", "-w", str(ws), "-e", "local", "--auto-approve", "--no-color"])
    assert res.exit_code == 0, res.output


def reprice_and_remove_a_charge(ws: Path):
    """A PR that raises starter's price (re-prices its subscriber) and drops a charge of professional."""
    p = ws / "plans" / "plans.yaml"
    text = p.read_text()
    assert "amount_cents: 1900" in text
    text = text.replace("amount_cents: 1900", "amount_cents: 2900", 1)
    start = text.index("      - billable_metric_code: active_users")
    text = text[:start] + text[text.index("  - code: enterprise"):]
    p.write_text(text)


def test_pr_destroy_and_reprice_labels_and_the_merge_gates(world):
    """Against a Lago with subscribers: the PR flow labels a destroying, re-pricing plan and warns in
    the comment; the merge refuses the reviewed plan (exit 1, nothing written) until a person
    re-runs it by hand with allow-destroy and allow-reprice."""
    fake, url, ws = world
    artifacts: dict = {}
    apply_now(ws)

    reprice_and_remove_a_charge(ws)
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts=artifacts)
    res = r.run_workflow(WF / "lagosync-pr.yml")
    assert only(res, "plan").step("Plan").returncode == 0
    only(res, "labels")
    assert fake.issue_labels[PR] == ["lagosync:changes", "lagosync:destroy", "lagosync:reprice"]
    body = sticky(fake)["body"]
    assert "> [!WARNING]" in body and "`--allow-destroy`" in body and "`--allow-reprice`" in body
    assert "re-prices 1 active subscription on 'starter'" in body
    assert "removes charge 'active_users' from plan 'professional'" in body
    # the next steps say exactly what lets this plan through: the flags, by hand, as the merge below does
    steps = body[body.index("#### Next steps"):]
    assert "the apply on merge refuses it without `--allow-destroy`" in steps
    assert "the apply on merge refuses it without `--allow-reprice`" in steps
    assert ("**Actions → lagosync apply → Run workflow** with apply-mode `reviewed`, environments `local` and "
            "`allow-destroy` and `allow-reprice` ticked") in steps

    # merge: the reviewed plan is refused without the flags, and Lago is left as it was
    fake.pulls_by_commit[MERGE] = [{"number": PR, "merged_at": "2025-01-02T00:00:00Z", "merge_commit_sha": MERGE,
                                    "head": {"sha": HEAD1}}]
    merge = runner(fake, url, ws, event_name="push", sha=MERGE, event={"ref": "refs/heads/main"}, artifacts={})
    refused = merge.run_workflow(WF / "lagosync-apply.yml")["apply"][0]
    assert refused.failed
    step = refused.step("Apply the reviewed plan (refused if Lago or the workspace changed since)")
    assert step.returncode == 1, step.stdout + step.stderr
    assert "--allow-destroy" in step.stderr and "--allow-reprice" in step.stderr and "Traceback" not in step.stderr

    # by hand, with both permissions: the same reviewed plan is applied (had the refused run written
    # anything, this reviewed plan would now be stale, exit 3) and Lago then matches the workspace
    hand = runner(fake, url, ws, event_name="workflow_dispatch", sha=MERGE, event={}, artifacts={})
    res = hand.run_workflow(WF / "lagosync-apply.yml", inputs={"apply-mode": "reviewed", "environments": "local",
                                                               "allow-destroy": True, "allow-reprice": True})
    done = only(res, "apply").step("Apply the reviewed plan (refused if Lago or the workspace changed since)")
    assert done.returncode == 0 and "Lago matches the workspace" in done.stdout


def test_drift_flow_updates_the_open_issue_when_the_drift_changes(world):
    """Scheduled drift through the workflow file: a first UI edit opens the issue, a second, different
    one updates that same issue (new fingerprint, one comment), never a second issue."""
    fake, url, ws = world
    apply_now(ws)
    sched = runner(fake, url, ws, event_name="schedule", sha=MERGE, event={"schedule": "17 6 * * *"}, artifacts={})
    ui_edit(ws)
    job = only(sched.run_workflow(WF / "lagosync-drift.yml"), "drift")
    opened = job.step("Open, update or close the drift issue")
    number = int(opened.outputs["issue"])
    _, fp1 = ci.parse_drift_marker(fake.issues[number]["body"])

    from lagosync.emulator import Emulator  # a second, different edit in the Lago UI
    emu = Emulator(db_path=str(ws / ".lagosync" / "local.db"), api_key="lago-local-key")
    resp = emu.handle("PUT", "/api/v1/add_ons/onboarding", [], {"Authorization": "Bearer lago-local-key",
                      "Content-Type": "application/json"}, json.dumps({"add_on": {"amount_cents": 1}}).encode())
    assert resp.status == 200, resp.body

    job = only(sched.run_workflow(WF / "lagosync-drift.yml"), "drift")
    assert job.step("drift").returncode == 2
    updated = job.step("Open, update or close the drift issue")
    assert updated.outputs["status"] == "updated" and updated.outputs["issue"] == str(number)
    assert f"updated issue #{number}" in updated.stdout
    assert list(fake.issues) == [number] and fake.issues[number]["state"] == "open"
    _, fp2 = ci.parse_drift_marker(fake.issues[number]["body"])
    assert fp2 != fp1 and "add_on:onboarding" in fake.issues[number]["body"]
    assert len(fake.comments[number]) == 1 and fp1 in fake.comments[number][0]["body"]


def test_composite_action_apply_reviewed_then_fresh(world):
    """`command: apply` of the action: the plan reviewed on the merged PR is fetched and applied;
    without allow-reprice a re-pricing plan is refused; apply-mode fresh with allow-reprice applies."""
    fake, url, ws = world
    artifacts: dict = {}
    pr = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts=artifacts,
                action_root=ROOT)
    [res] = pr.run_steps([{"uses": "./", "with": {"command": "plan", "environment": "local"}}], pr._ctx(), {})
    assert res.outcome == "success", res.stdout
    fake.pulls_by_commit[MERGE] = [{"number": PR, "merged_at": "2025-01-02T00:00:00Z", "merge_commit_sha": MERGE,
                                    "head": {"sha": HEAD1}}]
    push = runner(fake, url, ws, event_name="push", sha=MERGE, event={"ref": "refs/heads/main"}, artifacts={},
                  action_root=ROOT)
    apply_step = [{"uses": "./", "with": {"command": "apply", "environment": "local"}}]
    [res] = push.run_steps(apply_step, push._ctx(), {})
    assert res.outcome == "success", res.stdout
    inner = {s.name: s for s in res.inner}
    assert f"pull request #{PR}" in inner["Fetch the plan reviewed on the merged pull request"].stdout
    assert "24 done" in inner["Apply"].stdout
    [res] = push.run_steps(apply_step, push._ctx(), {})  # the same reviewed plan again: stale, refused
    assert res.outcome == "failure"
    assert {s.name: s for s in res.inner}["Apply"].returncode == 3

    reprice_and_remove_a_charge(ws)
    fresh = {"command": "apply", "environment": "local", "apply-mode": "fresh", "allow-destroy": "true"}
    [res] = push.run_steps([{"uses": "./", "with": fresh}], push._ctx(), {})
    assert res.outcome == "failure"
    inner = {s.name: s for s in res.inner}
    assert inner["Fetch the plan reviewed on the merged pull request"].outcome == "skipped"
    assert inner["Apply"].returncode == 1 and "--allow-reprice" in inner["Apply"].stderr
    [res] = push.run_steps([{"uses": "./", "with": {**fresh, "allow-reprice": "true"}}], push._ctx(), {})
    assert res.outcome == "success", res.stdout
    assert "Lago matches the workspace" in {s.name: s for s in res.inner}["Apply"].stdout


def test_an_approval_label_on_the_pr_lets_the_apply_pass_a_violated_policy(world):
    from click.testing import CliRunner

    from lagosync.cli import main

    fake, url, ws = world
    assert CliRunner().invoke(main, ["apply", "-w", str(ws), "--auto-approve"]).exit_code == 0
    # the pull request: a price rise on starter, under a policy that wants a person's approval for it
    with (ws / "lagosync.yaml").open("a") as fh:
        fh.write("policies:\n  - {name: approve-prices, kind: requires_approval, changes: [price]}\n")
    plans = ws / "plans" / "plans.yaml"
    text = plans.read_text()
    assert text.count("amount_cents: 1900\n") == 1
    plans.write_text(text.replace("amount_cents: 1900\n", "amount_cents: 2400\n"))
    r = runner(fake, url, ws, event_name="pull_request", sha=HEAD1, event=pr_event(HEAD1), artifacts={})
    only(r.run_workflow(WF / "lagosync-pr.yml"), "plan")
    assert "add the label `lagosync:approve:approve-prices` before merging" in sticky(fake)["body"]

    # merged, and run by a person with allow-reprice: the policy still refuses it without the label
    fake.pulls_by_commit[MERGE] = [{"number": PR, "merged_at": "2025-01-02T00:00:00Z", "merge_commit_sha": MERGE,
                                    "head": {"sha": HEAD1}}]
    step = "Apply the reviewed plan (refused if Lago or the workspace changed since)"
    dispatch = runner(fake, url, ws, event_name="workflow_dispatch", sha=MERGE, event={}, artifacts={})
    inputs = {"apply-mode": "reviewed", "environments": "local", "allow-destroy": False, "allow-reprice": True}
    refused = dispatch.run_workflow(WF / "lagosync-apply.yml", inputs=inputs)["apply"][0]
    assert refused.failed and refused.step(step).returncode == 1
    assert "approve-prices" in refused.step(step).stdout + refused.step(step).stderr
    # a label for a policy the plan does not violate approves nothing
    fake.issue_labels.setdefault(PR, []).append("lagosync:approve:some-other-policy")
    assert dispatch.run_workflow(WF / "lagosync-apply.yml", inputs=inputs)["apply"][0].failed

    fake.issue_labels[PR].append("lagosync:approve:approve-prices")
    applied = only(dispatch.run_workflow(WF / "lagosync-apply.yml", inputs=inputs), "apply")
    fetched = applied.step("Fetch the plan reviewed on the merged pull request")
    assert fetched.outputs["override_flags"] == "--override-policy approve-prices"
    assert "approved by label on the pull request, so applied with --override-policy approve-prices" in fetched.stdout
    assert applied.step(step).returncode == 0
    assert CliRunner().invoke(main, ["plan", "-w", str(ws), "--detailed-exitcode"]).exit_code == 0
