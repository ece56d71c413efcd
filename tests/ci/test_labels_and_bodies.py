"""Labels, the sticky PR comment body and the drift issue body: pure functions of the documents."""

from __future__ import annotations

import json

import pytest
from ci_docs import op, paid, plan_doc
from click.testing import CliRunner

from lagosync import ci
from lagosync.cli import main
from lagosync.errors import UserError
from lagosync.planner.ops import FORMAT_VERSION
from lagosync.workflow import load_plan


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([], ["lagosync:no-changes"]),
        ([op("no-op")], ["lagosync:no-changes"]),
        ([op("create", reasons=["new"])], ["lagosync:changes"]),
        ([op("update", reasons=["changed"])], ["lagosync:changes"]),
        ([op("delete", kind="coupon", key="x", reasons=["removed"])], ["lagosync:changes", "lagosync:destroy"]),
        ([op("update", reasons=["changed", "charge_removed"])], ["lagosync:changes", "lagosync:destroy"]),
        ([op("delete", kind="billable_metric", reasons=["removed", "destroys_events"])],
         ["lagosync:changes", "lagosync:destroy"]),
        ([op("update", reasons=["changed", "reprices_subscribers"], impact=paid())],
         ["lagosync:changes", "lagosync:reprice"]),
        # the reprice label follows the money impact, not the reason codes
        ([op("update", reasons=["changed", "reprices_subscribers"])], ["lagosync:changes"]),
        ([op("update", kind="tax", key="vat", reasons=["changed"], impact=paid("tax"))],
         ["lagosync:changes", "lagosync:reprice"]),
        ([op("migrate", kind="subscription", key="s1", reasons=["downgrade_at_period_end"], impact=paid("plan"))],
         ["lagosync:changes", "lagosync:reprice"]),
        ([op("replace", reasons=["locked_after_subscription"], version={"code": "pro__v2", "live_code": "pro", "migrate": ["s1"]},
            impact=paid("plan"))],
         ["lagosync:changes", "lagosync:reprice"]),
        ([op("replace", reasons=["locked_after_subscription"], version={"code": "pro__v2", "live_code": "pro", "migrate": []})],
         ["lagosync:changes"]),
        ([op("delete", reasons=["removed", "terminates_subscriptions"]),
          op("update", reasons=["reprices_subscribers"], impact=paid())],
         ["lagosync:changes", "lagosync:destroy", "lagosync:reprice"]),
    ],
)
def test_labels_of_one_plan(ops, expected):
    assert ci.plan_labels([plan_doc(ops=ops)]) == expected


def test_labels_are_the_union_over_environments():
    quiet = plan_doc("staging")
    loud = plan_doc("production", [op("delete", reasons=["removed"])])
    assert ci.plan_labels([quiet, quiet]) == ["lagosync:no-changes"]
    assert ci.plan_labels([quiet, loud]) == ["lagosync:changes", "lagosync:destroy"]


def test_pr_comment_starts_with_the_environment_marker_and_names_labels():
    plan = plan_doc("production", [op("delete", reasons=["removed"])])
    body = ci.pr_comment_body(plan, "### Plan: 0 to create, 1 to delete", context=ci.RunContext(
        sha="0123456789abcdef", run_url="https://github.com/acme/billing/actions/runs/7"), artifact="a-name")
    lines = body.splitlines()
    assert lines[0] == "<!-- lagosync:plan:production -->"
    assert lines[1].startswith("### lagosync plan for `production`")
    assert "`lagosync:destroy`" in lines[3] and lines[3].startswith("Labels: ")
    assert "--allow-destroy" in body
    assert "### Plan: 0 to create, 1 to delete" in body
    assert "commit `0123456789ab`" in body and "actions/runs/7" in body and "`a-name`" in body
    assert ci.plan_marker("staging") not in body


def test_pr_comment_fits_githubs_limit_and_closes_open_blocks():
    huge = "\n".join(["<details><summary>x</summary>", "", "```diff"] + [f"+ line {i}" for i in range(20000)])
    body = ci.pr_comment_body(plan_doc(ops=[op("create")]), huge)
    assert len(body) <= ci.GITHUB_BODY_LIMIT
    assert body.count("```") % 2 == 0
    assert body.count("<details") == body.count("</details>")
    assert "too long for a comment" in body
    small = ci.pr_comment_body(plan_doc(ops=[op("create")]), huge, limit=3000)
    assert len(small) <= 3000 and small.startswith("<!-- lagosync:plan:staging -->")


def test_load_plan_reports_user_mistakes_clearly(tmp_path, write_json):
    # lagosync ci reads plan files through the one plan reader, as the raw document
    with pytest.raises(UserError, match="no such file"):
        load_plan(tmp_path / "nope.json", raw=True)
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  oops")
    with pytest.raises(UserError, match=r"bad.json:2:3: not valid JSON"):
        load_plan(bad, raw=True)
    newer = FORMAT_VERSION + 1
    with pytest.raises(UserError, match=f"format_version {newer}"):
        load_plan(write_json("newer.json", {**plan_doc(), "format_version": newer}), raw=True)
    with pytest.raises(UserError, match="environment"):
        load_plan(write_json("env.json", {**plan_doc(), "environment": "a b -->"}), raw=True)
    with pytest.raises(UserError, match="'operations' must be a list"):
        load_plan(write_json("ops.json", {**plan_doc(), "operations": [{"kind": "plan"}]}), raw=True)
    assert load_plan(write_json("ok.json", plan_doc()), raw=True) == plan_doc()


def test_ci_uses_the_one_plan_reader():
    assert ci.load_plan is load_plan


def test_cli_labels_and_errors_without_traceback(tmp_path, write_json):
    runner = CliRunner()
    a = write_json("a.json", plan_doc("staging", [op("update", reasons=["reprices_subscribers"], impact=paid())]))
    b = write_json("b.json", plan_doc("production"))
    res = runner.invoke(main, ["ci", "labels", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["lagosync:changes", "lagosync:reprice"]
    res = runner.invoke(main, ["ci", "labels", "--format", "json", str(b)])
    assert json.loads(res.output)["labels"] == ["lagosync:no-changes"]
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    res = runner.invoke(main, ["ci", "labels", str(bad)])
    assert res.exit_code == 1
    assert "error:" in res.output and "Traceback" not in res.output


def test_cli_labels_writes_github_output(tmp_path, write_json):
    out = tmp_path / "gh_output"
    a = write_json("a.json", plan_doc("staging", [op("create")]))
    res = CliRunner().invoke(main, ["ci", "labels", str(a)], env={"GITHUB_OUTPUT": str(out)})
    assert res.exit_code == 0
    text = out.read_text()
    assert "labels<<" in text and "\nlagosync:changes\n" in text and "\ntrue\n" in text


DRIFT = {
    "format_version": 1, "environment": "production", "has_drift": True, "fingerprint": "sha256:aaa",
    "changed": [{"kind": "plan", "key": "pro", "id": "plan:pro", "source": "plans/pro.yaml:1",
                 "fields": [{"path": "amount_cents", "declared": 1000, "live": 1200}]}],
    "missing": [{"kind": "tax", "key": "vat", "id": "tax:vat"}], "unmanaged": [], "user_customers": [],
    "coverage": {"declared": 3, "live": 4},
}


def test_drift_issue_body_carries_marker_and_items():
    title, body = ci.drift_issue(DRIFT)
    assert "production" in title
    assert body.splitlines()[0] == "<!-- lagosync:drift:production fingerprint=sha256:aaa -->"
    assert ci.parse_drift_marker(body) == ("production", "sha256:aaa")
    assert "`plan:pro` (plans/pro.yaml:1)" in body
    assert "`amount_cents`: `1000` -> `1200`" in body
    assert "`tax:vat`" in body
    assert ci.parse_drift_marker("no marker here") is None


def test_cli_drift_issue_tells_whether_the_fingerprint_is_the_open_issues(tmp_path, write_json):
    d = write_json("drift.json", DRIFT)
    current = tmp_path / "current.md"
    current.write_text(ci.drift_issue(DRIFT)[1])
    runner = CliRunner()
    res = runner.invoke(main, ["ci", "drift-issue", str(d), "--current", str(current), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["same_as_current"] is True
    current.write_text(ci.drift_issue({**DRIFT, "fingerprint": "sha256:bbb"})[1])
    res = runner.invoke(main, ["ci", "drift-issue", str(d), "--current", str(current), "--format", "json"])
    assert json.loads(res.output)["same_as_current"] is False
    res = runner.invoke(main, ["ci", "drift-issue", str(write_json("nofp.json", {"environment": "x"}))])
    assert res.exit_code == 1 and "fingerprint" in res.output


def test_pr_comment_renders_the_saved_plan_with_the_planners_markdown():
    plan = plan_doc("staging", [op("create", kind="tax", key="vat_20", reasons=["new"])])
    body = ci.pr_comment_body(plan)
    assert body.startswith("<!-- lagosync:plan:staging -->\n")
    assert "vat_20" in body and "1 to create" in body
    # the renderer is given the room left by the header and footer
    small = ci.pr_comment_body(plan_doc("staging", [op("create", kind="customer", key=f"org_{i}", reasons=["new"])
                                                    for i in range(3000)]), limit=20000)
    assert len(small) <= 20000


def test_pr_comment_has_one_title_and_ends_with_next_steps():
    plan = plan_doc("production", [op("create", reasons=["new"])])
    rendered = ci.render_plan_markdown(plan)
    assert rendered.startswith("### lagosync plan for environment 'production'")  # the renderer's own title
    body = ci.pr_comment_body(plan, rendered, artifact="lagosync-plan-production-pr5")
    assert [line for line in body.splitlines() if line.startswith("### ")] == [
        "### lagosync plan for `production` (https://lago.example/api/v1)"]
    steps = body[body.index("#### Next steps"):]
    assert body.index("**Plan: 1 to create") < body.index("#### Next steps") < body.index("\n---\n")
    assert "**On merge** to the default branch, the `lagosync apply` workflow applies the saved plan " \
           "(artifact `lagosync-plan-production-pr5`) to `production`" in steps
    assert "allow-destroy" not in steps and "allow-reprice" not in steps

    empty = ci.pr_comment_body(plan_doc("production"), None)
    assert "- Nothing to apply: Lago `production` already matches the workspace" in empty


def test_next_steps_of_a_destroying_and_repricing_plan_say_exactly_what_to_do():
    plan = plan_doc("production", [op("delete", reasons=["removed"]),
                                   op("update", key="pro", reasons=["changed"], impact=paid())])
    steps = ci.next_steps(plan, "lagosync-plan-production-pr5")
    text = "\n".join(steps)
    assert "This plan **deletes or terminates** (1 operation(s)): the apply on merge refuses it without " \
           "`--allow-destroy`." in text
    assert "**changes what existing subscribers pay** (1 operation(s))" in text and "`--allow-reprice`" in text
    assert ("a person runs **Actions → lagosync apply → Run workflow** with apply-mode `reviewed`, environments "
            "`production` and `allow-destroy` and `allow-reprice` ticked") in text
    assert "`allow-destroy: true`, `allow-reprice: true`" in text  # the composite action's inputs
    assert "`lagosync apply plan.json -e production --allow-destroy --allow-reprice`" in text
    blocked = plan_doc("production", [op("update", key="seats", kind="billable_metric", reasons=["metric_locked"],
                                         block={"why": "locked", "hint": "declare a new metric"})])
    assert "**1 operation(s) cannot be applied** (marked `!!`): metric 'seats'" in "\n".join(ci.next_steps(blocked))


def test_a_large_plan_is_grouped_by_kind_and_action_with_counts_first():
    ops = [op("create", kind="plan", key=f"p{i}", reasons=["new"]) for i in range(15)]
    ops += [op("create", kind="tax", key=f"t{i}", reasons=["new"]) for i in range(3)]
    ops += [op("update", kind="plan", key=f"u{i}", reasons=["changed"]) for i in range(4)]
    ops += [op("delete", kind="coupon", key="old", reasons=["removed"])]
    md = ci.render_plan_markdown(plan_doc("production", ops))
    lines = md.splitlines()
    counts = lines.index("| kind | to create | to update | to delete |")
    assert lines[counts + 2: counts + 5] == ["| plan | 15 | 4 |  |", "| tax | 3 |  |  |", "| coupon |  |  | 1 |"]
    groups = [line for line in lines if line.startswith("| | **")]
    assert groups == ["| | **plan: 15 to create** | |", "| | **tax: 3 to create** | |", "| | **plan: 4 to update** | |",
                      "| | **coupon: 1 to delete** | |"]
    assert counts < lines.index(groups[0]) < lines.index("| `+` | plan 'p0' | new |")
    assert lines.index("| `+` | tax 't0' | new |") < lines.index("| `~` | plan 'u0' | changed |")
    small = ci.render_plan_markdown(plan_doc("production", ops[:5]))
    assert "| kind |" not in small and "| | **" not in small  # a small plan is one table


def test_error_comment_replaces_the_plan_with_the_error_and_what_to_do():
    raw = ("::error file=orgs.yaml,line=13,col=20,title=lagosync validate::orgs[0].plan_code: unknown plan "
           "'no_such_plan' (declared: starter, pro)\n\x1b[31mvalidate: 1 error\x1b[0m\n")
    body = ci.error_comment_body("production", raw, context=ci.RunContext(
        sha="0123456789abcdef", run_url="https://github.com/acme/billing/actions/runs/7"))
    lines = body.splitlines()
    assert lines[0] == ci.plan_marker("production")  # the same sticky comment as the plan's
    assert lines[1] == "### lagosync plan for `production`: failed"
    assert "**lagosync could not plan this change:**" in body
    assert "orgs.yaml:13:20: orgs[0].plan_code: unknown plan 'no_such_plan' (declared: starter, pro)" in lines
    assert "validate: 1 error" in lines and "\x1b" not in body
    assert "#### Next steps" in body and "Fix what the error says and push" in body
    assert "commit `0123456789ab`" in body and "actions/runs/7" in body
    nothing = ci.error_comment_body("production", "", context=ci.RunContext(run_url="https://x/runs/7"))
    assert "the workflow failed before lagosync could say why" in nothing and "https://x/runs/7" in nothing
    long = ci.error_comment_body("production", "\n".join(f"line {i}" for i in range(500)))
    assert "line 59" in long and "line 60" not in long and "440 more line(s)" in long
    fenced = ci.error_comment_body("production", "a ``` b")
    assert "````text" in fenced  # the error cannot close the code block


def test_dry_run_prints_the_comment_and_calls_no_github(tmp_path, write_json):
    plan = write_json("plan.json", plan_doc("production", [op("create", reasons=["new"])]))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 9, "pull_request": {"number": 9}}))
    res = CliRunner().invoke(main, ["ci", "github", "pr-comment", str(plan), "--dry-run"],
                             env={"GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": None,
                                  "GITHUB_API_URL": "http://127.0.0.1:9/unreachable"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "dry run: nothing is sent to GitHub; would create or update 1 comment(s) on pull request #9:"
    assert "<!-- lagosync:plan:production -->" in lines and "`lagosync-plan-production-pr9`" in res.output
    error = tmp_path / "error.txt"
    error.write_text("error: environment 'production' needs a Lago API key\n")
    res = CliRunner().invoke(main, ["ci", "github", "pr-comment", "--error", str(error), "-e", "production",
                                    "--dry-run", "--pr", "3"], env={"GITHUB_TOKEN": None})
    assert res.exit_code == 0, res.output
    assert "on pull request #3:" in res.output and "lagosync could not plan this change" in res.output
    assert "needs a Lago API key" in res.output


def test_approval_labels_approve_only_the_violated_policies_they_name():
    plan = {"policies": [{"name": "approve-prices", "ok": False}, {"name": "small-batches", "ok": True},
                         {"name": "ten-percent", "ok": False}]}
    labels = ["lagosync:reprice", "lagosync:approve:ten-percent", "lagosync:approve:small-batches",
              "lagosync:approve:", "approve-prices"]
    assert ci.approved_policies(plan, labels) == ["ten-percent"]
    assert ci.approved_policies({"policies": [{"name": "x; rm -rf /", "ok": False}]},
                                ["lagosync:approve:x; rm -rf /"]) == []  # never a shell word
    assert ci.approved_policies({}, ["lagosync:approve:ten-percent"]) == []
