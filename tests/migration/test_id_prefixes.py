"""lagosync.yaml's org_id_prefix / user_id_prefix: how an org id differs from a user id (issue 6).
They decide which Lago customers drift reports as user-based, and validate migrate_from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lagosync.drift import run_drift
from lagosync.planner.moves import is_user_customer
from lagosync.workspace import validate_workspace

from .test_user_to_org import CATALOG, World


def test_is_user_customer_rules():
    # named by migrate_from: always a user, whatever its id
    assert is_user_customer("org_old", migrate_from={"org_old": "org_new"}, org_id_prefix="org_")
    # user_id_prefix decides when set
    assert is_user_customer("usr_1", user_id_prefix="usr_", org_id_prefix="org_")
    assert not is_user_customer("alice", user_id_prefix="usr_", org_id_prefix="org_")
    # only org_id_prefix: every id without it is a user, except a declared org
    assert is_user_customer("alice", org_id_prefix="org_")
    assert not is_user_customer("org_acme", org_id_prefix="org_")
    assert not is_user_customer("acme", org_id_prefix="org_", declared={"acme": {}})
    # no prefix at all: only migrate_from names users
    assert not is_user_customer("usr_1")


def _workspace(root: Path, settings: str, orgs: str) -> list[str]:
    (root / "plans").mkdir(exist_ok=True)
    (root / "plans" / "catalog.yaml").write_text(CATALOG)
    (root / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n" + settings)
    (root / "orgs.yaml").write_text(orgs)
    return [d.format() for d in validate_workspace(root)]


ORG = "orgs:\n  - external_id: {org}\n    name: A\n    currency: EUR\n    migrate_from: [{users}]\n"


def test_migrate_from_is_checked_against_the_prefixes(tmp_path):
    diags = _workspace(tmp_path, "org_id_prefix: org_\nuser_id_prefix: usr_\n",
                       ORG.format(org="org_a", users="usr_1, org_b, bob"))
    assert len(diags) == 2, diags
    assert diags[0].startswith("orgs.yaml:5:") and "'org_b' is an org id (org_id_prefix 'org_'" in diags[0]
    assert "'bob' is not a user id (user_id_prefix 'usr_'" in diags[1]
    assert _workspace(tmp_path, "org_id_prefix: org_\nuser_id_prefix: usr_\n",
                      ORG.format(org="org_a", users="usr_1, usr_2")) == []


def test_migrate_from_cannot_name_a_declared_org(tmp_path):
    orgs = ORG.format(org="acme", users="globex") + "  - external_id: globex\n    name: G\n    currency: EUR\n"
    diags = _workspace(tmp_path, "", orgs)
    assert len(diags) == 1 and "'globex' is declared as an org (orgs.yaml:6)" in diags[0], diags


@pytest.fixture
def org_prefix_only(tmp_path: Path) -> World:
    w = World(tmp_path)
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n"
                                            "org_id_prefix: org_\n")
    (tmp_path / "orgs.yaml").write_text("orgs:\n  - external_id: legacy_co\n    name: L\n    currency: EUR\n"
                                        "    subscriptions:\n      - plan_code: pro\n")
    assert w.apply().ok
    w.call("POST", "/customers", json={"customer": {"external_id": "alice", "name": "Alice", "currency": "EUR"}})
    w.call("POST", "/subscriptions", json={"subscription": {
        "external_customer_id": "alice", "plan_code": "pro", "external_id": "sub_alice"}})
    w.call("POST", "/customers", json={"customer": {"external_id": "org_new", "name": "N", "currency": "EUR"}})
    w.call("POST", "/subscriptions", json={"subscription": {
        "external_customer_id": "org_new", "plan_code": "pro", "external_id": "sub_org_new"}})
    return w


def test_drift_with_only_org_id_prefix_reports_ids_without_it(org_prefix_only):
    w = org_prefix_only
    text, code = run_drift(w.root, None, "json", client_factory=w.factory())
    report = json.loads(text)
    assert code == 2
    # alice has no org_ prefix: a user customer; org_new is an (undeclared) org; legacy_co is declared
    assert [u["external_id"] for u in report["user_customers"]] == ["alice"]
    assert report["user_customers"][0]["subscriptions"] == [{"external_id": "sub_alice", "plan_code": "pro"}]
