"""Price changes the way billing teams make them, end to end through the CLI, on the emulator's clock.

A price rise as a new version (new customers pay it, existing ones are grandfathered), then a migration
that moves the existing subscriptions at their own period end, on a date, in a first sample, within a
notice window; a crash in the middle is finished by the next apply; a migration removed half-way stops.
``LAGOSYNC_EMULATOR_NOW`` sets the day the embedded Lago lives on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from money_helpers import cli, example

START = "2026-12-10"  # the example is applied on this day (calendar periods end on 2026-12-31)


def run(root: Path, day: str, *args: str):
    return cli(root, *args, env={"LAGOSYNC_EMULATOR_NOW": day})


def ok(root: Path, day: str, *args: str) -> str:
    result = run(root, day, *args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = example(tmp_path)
    # the example's applied coupon is limited to starter and professional: a version of professional
    # would end its discount (the plan blocks it); this workspace limits it to starter
    extras = root / "plans" / "extras.yaml"
    extras.write_text(extras.read_text().replace("plan_codes: [starter, professional]", "plan_codes: [starter]"))
    ok(root, START, "apply", "--auto-approve")
    return root


def set_professional(root: Path, old: str, new: str) -> None:
    plans = root / "plans" / "plans.yaml"
    text = plans.read_text()
    start, end = text.index("  - code: professional"), text.index("  - code: enterprise")
    assert old in text[start:end]
    plans.write_text(text[:start] + text[start:end].replace(old, new, 1) + text[end:])


def add_migration(root: Path, body: str) -> None:
    with (root / "plans" / "plans.yaml").open("a") as f:
        f.write("\nmigrations:\n" + body)


def sub(root: Path, day: str, ext: str) -> dict:
    import datetime as dt

    from lagosync.emulator import Emulator

    moment = dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc)
    emu = Emulator(str(root / ".lagosync" / "local.db"), api_key="k", clock=lambda: moment)
    response = emu.handle("GET", f"/api/v1/subscriptions/{ext}", [], {"authorization": "Bearer k"}, b"")
    return json.loads(response.body)["subscription"]


def plan_doc(root: Path, day: str) -> dict:
    return json.loads(ok(root, day, "plan", "--format", "json"))


def raise_price_as_new_version(root: Path) -> None:
    set_professional(root, "    pay_in_advance: true\n", "    pay_in_advance: true\n    price_change: new_version\n")
    set_professional(root, "amount_cents: 4900", "amount_cents: 5900")


def test_a_price_rise_as_a_new_version_grandfathers_existing_subscribers(ws):
    raise_price_as_new_version(ws)
    text = ok(ws, START, "plan", "--no-color")
    assert "Money impact" not in text  # nobody pays differently
    assert ("creates version 'professional__v2' of plan 'professional' for new subscriptions; 2 existing "
            "subscriptions stay on their version (grandfathered) until a migration moves them") in text
    ok(ws, START, "apply", "--auto-approve")  # no --allow-reprice: no existing subscriber is re-priced
    assert "No changes." in ok(ws, START, "plan")
    assert sub(ws, START, "sub_org_stark")["plan_code"] == "professional"
    # a new org subscribing to 'professional' gets the newest version
    with (ws / "orgs.yaml").open("a") as f:
        f.write("\n  - external_id: org_wayne\n    name: Wayne\n    currency: USD\n"
                "    subscriptions:\n      - plan_code: professional\n")
    ok(ws, START, "apply", "--auto-approve")
    assert sub(ws, START, "sub_org_wayne")["plan_code"] == "professional__v2"
    assert "No changes." in ok(ws, START, "plan")


def test_a_migration_at_period_end_moves_each_subscription_at_its_own_period_end(ws):
    raise_price_as_new_version(ws)
    ok(ws, START, "apply", "--auto-approve")
    add_migration(ws, "  - code: pro-2027\n    plan_code: professional\n    at: period_end\n")
    doc = plan_doc(ws, "2026-12-12")
    assert [op["id"] for op in doc["operations"]] == ["migration:pro-2027"]  # its record only
    [m] = doc["migrations"]
    # Stark bills on calendar months (period ends 2026-12-31), Globex on its anniversary (2027-01-09)
    assert sorted((w["subscription"], w["from"]) for w in m["waiting"]) == [
        ("sub_globex_main", "2027-01-10"), ("sub_org_stark", "2027-01-01")]
    ok(ws, "2026-12-12", "apply", "--auto-approve")
    text = ok(ws, "2026-12-20", "plan", "--no-color", "--detailed-exitcode")  # nothing due: no change
    assert "No changes." in text and "migration 'pro-2027' (plan 'professional' -> 'professional__v2'): waiting" in text
    # after Stark's period end its move is due; Globex still waits
    doc = plan_doc(ws, "2027-01-02")
    assert [(op["id"], op["reasons"]) for op in doc["operations"]] == [
        ("subscription:sub_org_stark", ["upgrade_immediate", "migration"])]
    assert [(i["subscription"], i["change"]) for i in doc["impact"]] == [("sub_org_stark", "plan")]
    refused = run(ws, "2027-01-02", "apply", "--migrations", "--auto-approve")
    assert refused.exit_code == 1 and "--allow-reprice" in refused.output
    ok(ws, "2027-01-02", "apply", "--migrations", "--auto-approve", "--allow-reprice")
    assert sub(ws, "2027-01-02", "sub_org_stark")["plan_code"] == "professional__v2"
    assert sub(ws, "2027-01-02", "sub_globex_main")["plan_code"] == "professional"
    status = ok(ws, "2027-01-02", "migrations")
    assert "1 moved, 0 due now, 1 waiting; next on 2027-01-10" in status
    ok(ws, "2027-01-11", "apply", "--migrations", "--auto-approve", "--allow-reprice")
    assert sub(ws, "2027-01-11", "sub_globex_main")["plan_code"] == "professional__v2"
    assert "migration 'pro-2027' (plan 'professional' -> 'professional__v2'): done: 2 moved" in ok(
        ws, "2027-01-11", "migrations")
    assert "No changes." in ok(ws, "2027-01-11", "plan")


def test_a_migration_on_a_date_a_first_sample_then_the_rest(ws):
    raise_price_as_new_version(ws)
    ok(ws, START, "apply", "--auto-approve")
    add_migration(ws, "  - code: cohort-1\n    plan_code: professional\n    sample: 1\n    at: 2027-02-01\n")
    ok(ws, START, "apply", "--auto-approve")
    assert plan_doc(ws, "2027-01-31")["operations"] == []  # the date has not come
    ok(ws, "2027-02-01", "apply", "--migrations", "--auto-approve", "--allow-reprice")
    # the first of the two by external id moved; the other stays until the sample grows
    assert sub(ws, "2027-02-01", "sub_globex_main")["plan_code"] == "professional__v2"
    assert sub(ws, "2027-02-01", "sub_org_stark")["plan_code"] == "professional"
    assert "No changes." in ok(ws, "2027-02-01", "plan")
    text = (ws / "plans" / "plans.yaml").read_text()
    (ws / "plans" / "plans.yaml").write_text(text.replace("    sample: 1\n", ""))
    ok(ws, "2027-02-02", "apply", "--auto-approve", "--allow-reprice")
    assert sub(ws, "2027-02-02", "sub_org_stark")["plan_code"] == "professional__v2"


def test_a_notice_window_refuses_a_move_that_would_come_too_soon(ws):
    raise_price_as_new_version(ws)
    ok(ws, START, "apply", "--auto-approve")
    add_migration(ws, "  - code: announced\n    plan_code: professional\n    at: now\n    notice_days: 30\n")
    ok(ws, START, "apply", "--auto-approve", "--allow-reprice")  # records the day; nothing moves yet
    assert sub(ws, START, "sub_org_stark")["plan_code"] == "professional"
    [m] = plan_doc(ws, "2027-01-08")["migrations"]
    assert {w["from"] for w in m["waiting"]} == {"2027-01-09"}
    assert all(w["why"].startswith("notice window: 30 days after 2026-12-10") for w in m["waiting"])
    ok(ws, "2027-01-09", "apply", "--migrations", "--auto-approve", "--allow-reprice")
    assert sub(ws, "2027-01-09", "sub_org_stark")["plan_code"] == "professional__v2"


def test_a_migration_removed_half_way_stops_and_moves_stay(ws):
    raise_price_as_new_version(ws)
    ok(ws, START, "apply", "--auto-approve")
    add_migration(ws, "  - code: pro-2027\n    plan_code: professional\n    at: period_end\n")
    ok(ws, START, "apply", "--auto-approve")
    ok(ws, "2027-01-02", "apply", "--auto-approve", "--allow-reprice")  # Stark moved, Globex waits
    text = (ws / "plans" / "plans.yaml").read_text()
    (ws / "plans" / "plans.yaml").write_text(text[:text.index("\nmigrations:")] + "\n")
    assert "No changes." in ok(ws, "2027-01-20", "plan")  # Globex stays on version 1, Stark on 2
    assert sub(ws, "2027-01-20", "sub_globex_main")["plan_code"] == "professional"
    assert sub(ws, "2027-01-20", "sub_org_stark")["plan_code"] == "professional__v2"


def test_import_of_a_lago_with_two_versions_plans_empty(ws, tmp_path):
    raise_price_as_new_version(ws)
    ok(ws, START, "apply", "--auto-approve")
    add_migration(ws, "  - code: pro-2027\n    plan_code: professional\n    sample: 1\n    at: now\n")
    ok(ws, START, "apply", "--auto-approve", "--allow-reprice")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    shutil.copytree(ws / ".lagosync", fresh / ".lagosync")
    ok(fresh, START, "import")
    assert run(fresh, START, "validate").exit_code == 0
    assert "No changes." in ok(fresh, START, "plan")


def test_a_version_nobody_is_on_any_more_is_deleted_by_prune(ws):
    raise_price_as_new_version(ws)
    ok(ws, START, "apply", "--auto-approve")
    add_migration(ws, "  - code: all-now\n    plan_code: professional\n    at: now\n")
    ok(ws, START, "apply", "--auto-approve", "--allow-reprice")
    assert "No changes." in ok(ws, START, "plan")  # version 1 stays unless asked
    doc = json.loads(ok(ws, START, "plan", "--prune", "--format", "json"))
    assert [(op["id"], op["reasons"], op["target_plan"]) for op in doc["operations"]] == [
        ("plan:professional__v1", ["removed", "unused_version"], "professional")]
    refused = run(ws, START, "apply", "--prune", "--auto-approve")
    assert refused.exit_code == 1 and "--allow-destroy" in refused.output
    ok(ws, START, "apply", "--prune", "--auto-approve", "--allow-destroy")
    assert "No changes." in ok(ws, START, "plan", "--prune")
    assert sub(ws, START, "sub_org_stark")["plan_code"] == "professional__v2"
