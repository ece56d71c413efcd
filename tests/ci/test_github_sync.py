"""The GitHub REST side, against a fake GitHub through httpx.MockTransport."""

from __future__ import annotations

import json

import pytest
from ci_docs import op, paid, plan_doc
from fake_github import TOKEN, FakeGitHub

from lagosync import ci
from lagosync.errors import UserError


@pytest.fixture
def fake():
    return FakeGitHub(page_size_cap=2)  # small pages: every list is paginated


@pytest.fixture
def environ(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 42, "pull_request": {"number": 42, "head": {"sha": "f" * 40}}}))
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/billing", "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": "e" * 40, "GITHUB_RUN_ID": "99", "GITHUB_SERVER_URL": "https://github.com"}


def gh(fake, environ):
    return ci.GitHub(ci.GitHubEnv.from_env(environ), transport=fake.transport())


def test_sticky_comment_is_created_once_then_updated(fake, environ, write_json):
    # other people's comments, spread over several pages, one mentioning lagosync in passing
    fake.comments[42] = [{"id": i, "body": f"review {i}"} for i in range(5)]
    fake.comments[42].append({"id": 77, "body": "see <!-- lagosync:plan:staging --> later"})
    p1 = write_json("p1.json", plan_doc("staging", [op("create")]))
    out = ci.gh_pr_comment(p1, markdown_path=None, environ=environ, transport=fake.transport())
    assert out.startswith("created") and "#42" in out
    mine = [c for c in fake.comments[42] if c["body"].startswith("<!-- lagosync:plan:staging -->")]
    assert len(mine) == 1

    p2 = write_json("p2.json", plan_doc("staging", [op("create"), op("delete", key="old")]))
    out = ci.gh_pr_comment(p2, environ=environ, transport=fake.transport())
    assert out.startswith("updated")
    mine2 = [c for c in fake.comments[42] if c["body"].startswith("<!-- lagosync:plan:staging -->")]
    assert len(mine2) == 1 and mine2[0]["id"] == mine[0]["id"]
    assert "lagosync:destroy" in mine2[0]["body"]
    assert len(fake.comments[42]) == 7

    fake.requests.clear()
    out = ci.gh_pr_comment(p2, environ=environ, transport=fake.transport())
    assert out.startswith("unchanged") and fake.writes() == []

    # another environment gets its own sticky comment
    p3 = write_json("p3.json", plan_doc("production"))
    ci.gh_pr_comment(p3, environ=environ, transport=fake.transport())
    assert len(fake.comments[42]) == 8
    assert fake.comments[42][-1]["body"].startswith("<!-- lagosync:plan:production -->")


def test_pr_number_comes_from_the_event_or_the_flag(fake, environ, write_json, tmp_path):
    p = write_json("p.json", plan_doc())
    ci.gh_pr_comment(p, pr=7, environ=environ, transport=fake.transport())
    assert 7 in fake.comments
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}))
    with pytest.raises(UserError, match="pull request number"):
        ci.gh_pr_comment(p, environ={**environ, "GITHUB_EVENT_PATH": str(push)}, transport=fake.transport())


def test_labels_are_set_and_stale_ones_removed(fake, environ, write_json):
    fake.issue_labels[42] = ["needs-review", "lagosync:no-changes"]
    fake.repo_labels = {"needs-review": {"name": "needs-review"}, "lagosync:no-changes": {"name": "lagosync:no-changes"}}
    a = write_json("a.json", plan_doc("staging", [op("update", reasons=["reprices_subscribers"], impact=paid())]))
    b = write_json("b.json", plan_doc("production", [op("delete", reasons=["removed"])]))
    out = ci.gh_labels([a, b], environ=environ, transport=fake.transport())
    assert sorted(fake.issue_labels[42]) == sorted(
        ["needs-review", "lagosync:changes", "lagosync:destroy", "lagosync:reprice"])
    assert "removed lagosync:no-changes" in out
    assert fake.repo_labels["lagosync:destroy"]["color"] == ci.PLAN_LABELS["lagosync:destroy"][0]
    # same plans again: nothing to write
    fake.requests.clear()
    ci.gh_labels([a, b], environ=environ, transport=fake.transport())
    assert fake.writes() == []
    # back to no changes
    c = write_json("c.json", plan_doc("staging"))
    ci.gh_labels([c], environ=environ, transport=fake.transport())
    assert sorted(fake.issue_labels[42]) == ["lagosync:no-changes", "needs-review"]


DRIFT = {"format_version": 1, "environment": "production", "has_drift": True, "fingerprint": "sha256:one",
         "changed": [{"id": "plan:pro", "kind": "plan", "key": "pro",
                      "fields": [{"path": "amount_cents", "declared": 1000, "live": 1200}]}],
         "missing": [], "unmanaged": [], "user_customers": []}


def test_drift_issue_opened_not_realerted_updated_then_closed(fake, environ, write_json):
    # an unrelated open issue and a PR carrying the label must be left alone
    fake.issues[1] = {"number": 1, "title": "bug", "body": "x", "state": "open", "labels": []}
    fake.issues[2] = {"number": 2, "title": "pr", "body": ci.drift_marker("production", "sha256:one"),
                      "state": "open", "labels": ["lagosync:drift"], "pull_request": {}}
    d1 = write_json("d1.json", DRIFT)
    out = ci.gh_drift_issue(d1, environ=environ, transport=fake.transport())
    assert out == "drift in 'production': opened issue #3"
    assert fake.issues[3]["labels"] == ["lagosync:drift"]
    assert "sha256:one" in fake.issues[3]["body"] and "amount_cents" in fake.issues[3]["body"]
    assert "lagosync:drift" in fake.repo_labels

    fake.requests.clear()
    out = ci.gh_drift_issue(d1, environ=environ, transport=fake.transport())
    assert "unchanged" in out and "no new alert" in out
    assert fake.writes() == []
    assert 3 not in fake.comments

    d2 = write_json("d2.json", {**DRIFT, "fingerprint": "sha256:two"})
    out = ci.gh_drift_issue(d2, environ=environ, transport=fake.transport())
    assert out == "drift in 'production' changed: updated issue #3"
    assert ci.parse_drift_marker(fake.issues[3]["body"]) == ("production", "sha256:two")
    assert len(fake.comments[3]) == 1 and "sha256:one" in fake.comments[3][0]["body"]
    assert len([i for i in fake.issues.values() if i["state"] == "open"]) == 3

    # another environment's drift is a separate issue
    ds = write_json("ds.json", {**DRIFT, "environment": "staging"})
    assert "opened issue #4" in ci.gh_drift_issue(ds, environ=environ, transport=fake.transport())

    clean = write_json("clean.json", {**DRIFT, "has_drift": False, "changed": [], "fingerprint": "sha256:none"})
    out = ci.gh_drift_issue(clean, environ=environ, transport=fake.transport())
    assert out == "no drift in 'production': closed issue #3"
    assert fake.issues[3]["state"] == "closed" and fake.issues[4]["state"] == "open"
    assert ci.gh_drift_issue(clean, environ=environ, transport=fake.transport()) == "no drift in 'production'"


def _merged(fake, sha="e" * 40, head="f" * 40, number=42):
    fake.pulls_by_commit[sha] = [{"number": number, "merged_at": "2025-01-02T00:00:00Z", "merge_commit_sha": sha,
                                  "head": {"sha": head}}]


def test_fetch_reviewed_plan_downloads_the_newest_artifact_of_the_pr(fake, environ, tmp_path):
    _merged(fake)
    old = json.dumps(plan_doc("production", [op("create", key="old")])).encode()
    new = json.dumps(plan_doc("production", [op("create", key="new")])).encode()
    fake.add_artifact("lagosync-plan-production-pr42", {"plan.json": old}, "1" * 40, "2025-01-01T00:00:00Z")
    fake.add_artifact("lagosync-plan-production-pr42", {"plan.json": new, "plan.md": b"x"}, "f" * 40,
                      "2025-01-01T10:00:00Z")
    fake.add_artifact("lagosync-plan-staging-pr42", {"plan.json": b"{}"}, "f" * 40, "2025-01-01T11:00:00Z")
    out = tmp_path / "dl" / "plan.json"
    msg = ci.gh_fetch_plan("production", out, environ=environ, transport=fake.transport())
    assert "pull request #42" in msg
    assert json.loads(out.read_text())["operations"][0]["key"] == "new"
    assert any(r[1].startswith("blob:") for r in fake.requests)


def test_fetch_reviewed_plan_refuses_what_was_not_reviewed(fake, environ, tmp_path):
    out = tmp_path / "plan.json"
    with pytest.raises(UserError, match="does not come from a merged pull request"):
        ci.gh_fetch_plan("production", out, environ=environ, transport=fake.transport())
    _merged(fake)
    with pytest.raises(UserError, match="no artifact 'lagosync-plan-production-pr42'"):
        ci.gh_fetch_plan("production", out, environ=environ, transport=fake.transport())
    plan = json.dumps(plan_doc("production")).encode()
    fake.add_artifact("lagosync-plan-production-pr42", {"plan.json": plan}, "1" * 40, "2025-01-01T00:00:00Z")
    with pytest.raises(UserError, match="was never reviewed"):
        ci.gh_fetch_plan("production", out, environ=environ, transport=fake.transport())
    fake.add_artifact("lagosync-plan-production-pr42", {"plan.json": plan}, "f" * 40, "2025-01-02T00:00:00Z",
                      expired=True)
    with pytest.raises(UserError, match="was never reviewed"):
        ci.gh_fetch_plan("production", out, environ=environ, transport=fake.transport())
    assert not out.exists()


def test_token_is_required_and_never_shown(fake, environ, write_json):
    p = write_json("p.json", plan_doc())
    with pytest.raises(UserError, match="GITHUB_TOKEN is not set"):
        ci.gh_pr_comment(p, environ={**environ, "GITHUB_TOKEN": ""}, transport=fake.transport())
    env = ci.GitHubEnv.from_env(environ)
    assert TOKEN not in repr(env)
    wrong = {**environ, "GITHUB_TOKEN": "ghs_wrong_secret"}
    with pytest.raises(ci.GitHubError) as err:
        ci.gh_pr_comment(p, environ=wrong, transport=fake.transport())
    assert "401" in str(err.value) and "ghs_wrong_secret" not in str(err.value)
    with pytest.raises(UserError, match="owner/name"):
        ci.GitHubEnv.from_env({**environ, "GITHUB_REPOSITORY": "nope"})
