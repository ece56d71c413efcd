"""The loader: example workspace, desired/sources shapes, subscription ids, settings, digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagosync.errors import Diagnostic, WorkspaceError
from lagosync.workspace import KINDS, Location, load_workspace, validate_workspace

REPO = Path(__file__).resolve().parents[2]


def test_example_workspace_is_clean_and_complete():
    assert validate_workspace(REPO) == []
    ws = load_workspace(REPO)
    assert list(ws.desired) == list(KINDS)
    assert set(ws.desired["plan"]) == {"founders_friend", "trial", "starter", "professional", "enterprise"}
    prices = {code: (p["amount_cents"], p["amount_currency"], p["interval"]) for code, p in ws.desired["plan"].items()}
    assert prices == {"founders_friend": (0, "USD", "monthly"), "trial": (100, "USD", "monthly"),
                      "starter": (1900, "USD", "monthly"), "professional": (4900, "USD", "monthly"),
                      "enterprise": (9900, "USD", "monthly")}
    assert {"api_call", "tokens"} <= set(ws.desired["billable_metric"])
    assert ws.desired["billable_metric"]["tokens"]["aggregation_type"] == "sum_agg"
    assert ws.desired["billable_metric"]["tokens"]["field_name"] == "tokens"
    models = {c["charge_model"] for p in ws.desired["plan"].values() for c in p["charges"]
              if c["billable_metric_code"] == "tokens"}
    assert {"graduated", "package"} <= models
    assert ws.desired["tax"] and ws.desired["add_on"] and ws.desired["coupon"]
    assert 5 <= len(ws.desired["customer"]) <= 6
    for org in ws.desired["customer"].values():
        meta = {m["key"]: m["value"] for m in org["metadata"]}
        assert meta["billing_type"] == "organization" and meta["created_by_user_id"].startswith("usr_")
        assert "subscriptions" not in org
    assert len({s["plan_code"] for s in ws.desired["subscription"].values()}) >= 4


def test_example_files_name_their_schema():
    files = [REPO / "lagosync.yaml", REPO / "orgs.yaml", *sorted((REPO / "plans").glob("*.yaml"))]
    assert len(files) >= 5
    for f in files:
        first = f.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), f
        target = (f.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.is_file() and target.parent == REPO / "schemas", f


def test_desired_keeps_objects_as_written_and_sources_point_at_them(make_ws):
    root = make_ws(plans={"a.yaml": """\
        taxes:
          - code: vat
            name: VAT
            rate: "20.0"
        """, "b.yaml": """\
        billable_metrics:
          - code: m
            name: M
            aggregation_type: count_agg
        plans:
          - code: p
            name: P
            interval: monthly
            amount_cents: 0
            amount_currency: USD
            tax_codes: [vat]
        """}, orgs="""\
        orgs:
          - external_id: org_1
            name: One
            subscriptions:
              - plan_code: p
          - external_id: org_2
            subscriptions:
              - external_id: s_a
                plan_code: p
                name: A
              - external_id: s_b
                plan_code: p
        """)
    ws = load_workspace(root)
    assert ws.desired["tax"]["vat"] == {"code": "vat", "name": "VAT", "rate": "20.0"}
    assert ws.sources[("tax", "vat")] == Location("plans/a.yaml", 2, 5, "taxes[0]")
    assert ws.sources[("plan", "p")] == Location("plans/b.yaml", 6, 5, "plans[0]")
    assert ws.desired["customer"]["org_1"] == {"external_id": "org_1", "name": "One"}
    assert ws.desired["subscription"] == {
        "sub_org_1": {"external_id": "sub_org_1", "external_customer_id": "org_1", "plan_code": "p"},
        "s_a": {"external_id": "s_a", "external_customer_id": "org_2", "plan_code": "p", "name": "A"},
        "s_b": {"external_id": "s_b", "external_customer_id": "org_2", "plan_code": "p"},
    }
    assert ws.sources[("subscription", "sub_org_1")] == Location("orgs.yaml", 5, 9, "orgs[0].subscriptions[0]")
    assert ws.sources[("customer", "org_2")].line == 6
    assert ws.files == ["lagosync.yaml", "orgs.yaml", "plans/a.yaml", "plans/b.yaml"]


def test_derived_subscription_id_is_deterministic(make_ws, base_plans):
    orgs = "orgs:\n  - external_id: org_9\n    subscriptions:\n      - plan_code: starter\n"
    a = load_workspace(make_ws(plans={"p.yaml": base_plans}, orgs=orgs, name="a"))
    b = load_workspace(make_ws(plans={"p.yaml": base_plans}, orgs=orgs, name="b"))
    assert list(a.desired["subscription"]) == ["sub_org_9"] == list(b.desired["subscription"])
    assert a.digest == b.digest  # same bytes, same relative paths


def test_digest_changes_with_any_file(make_ws, example_copy):
    before = load_workspace(example_copy).digest
    assert len(before) == 64
    path = example_copy / "plans" / "taxes.yaml"
    path.write_text(path.read_text() + "\n# comment\n")
    assert load_workspace(example_copy).digest != before


def test_settings_environments(make_ws, base_plans):
    root = make_ws(plans={"p.yaml": base_plans}, settings="""\
        default_environment: prod
        environments:
          prod:
            api_url: https://api.getlago.com
            api_key_env: LAGO_API_KEY
            organization: Acme
        org_id_prefix: org_
        user_id_prefix: usr_
        ignore:
          - {kind: plan, key: legacy, field: description, reason: edited by sales, expires: 2030-01-31}
        """)
    s = load_workspace(root).settings
    assert s.default_environment == "prod"
    assert s.environments["local"].emulator is True and s.environments["local"].api_url is None
    prod = s.environments["prod"]
    assert (prod.name, prod.api_url, prod.api_key_env, prod.organization, prod.emulator) == (
        "prod", "https://api.getlago.com", "LAGO_API_KEY", "Acme", False)
    assert (s.org_id_prefix, s.user_id_prefix) == ("org_", "usr_")
    assert s.ignore == [{"kind": "plan", "key": "legacy", "field": "description", "reason": "edited by sales",
                         "expires": "2030-01-31"}]


def test_local_is_implicit_and_default(make_ws, base_plans):
    s = load_workspace(make_ws(plans={"p.yaml": base_plans})).settings
    assert s.default_environment == "local" and list(s.environments) == ["local"]
    assert s.environments["local"].emulator


def test_load_raises_workspace_error_with_every_diagnostic(make_ws):
    root = make_ws(plans={"p.yaml": "plans:\n  - code: x\n"}, settings="environments: {prod: {}}\n")
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    diags = info.value.diagnostics
    assert all(isinstance(d, Diagnostic) for d in diags)
    assert len(diags) == len(validate_workspace(root)) >= 5
    assert str(info.value).endswith(f"{len(diags)} errors in the workspace")


@pytest.mark.parametrize("key", ['"a\\0b"', '"a\\ud800b"', '"org.x y"'])
def test_any_text_as_a_nested_key_is_a_diagnostic_never_a_crash(make_ws, base_plans, key):
    # the declared objects' copies share key tables by the path of field names; a path that is
    # any text (a NUL, a lone surrogate) must not reach a class name
    plans = base_plans.replace('          amount: "0.001"\n', f'          amount: "0.001"\n          {key}:\n            x: 1\n')
    assert plans != base_plans
    diags = validate_workspace(make_ws(plans={"p.yaml": plans}))
    assert diags and all(isinstance(d, Diagnostic) for d in diags)
    assert any("unknown field" in d.message or "not allowed" in d.message for d in diags), diags


def test_orgs_yaml_is_optional_and_plans_may_nest(make_ws):
    root = make_ws(plans={"p.yaml": "taxes:\n  - {code: t, name: T, rate: \"5\"}\n"})
    (root / "plans" / "team").mkdir()
    (root / "plans" / "team" / "more.yml").write_text("taxes:\n  - {code: u, name: U, rate: \"7.5\"}\n")
    ws = load_workspace(root)
    assert set(ws.desired["tax"]) == {"t", "u"} and ws.desired["customer"] == {}
    assert ws.sources[("tax", "u")].file == "plans/team/more.yml"


def test_ensure_absent_needs_only_the_key(make_ws):
    root = make_ws(plans={"p.yaml": """\
        billable_metrics:
          - {code: old_metric, ensure: absent}
        plans:
          - {code: old_plan, ensure: absent}
        coupons:
          - {code: old_coupon, ensure: absent}
        """})
    ws = load_workspace(root)
    assert ws.desired["plan"]["old_plan"] == {"code": "old_plan", "ensure": "absent"}
    assert ws.desired["billable_metric"]["old_metric"]["ensure"] == "absent"


def test_dates_stay_strings(make_ws):
    root = make_ws(plans={"p.yaml": """\
        coupons:
          - code: c
            name: C
            coupon_type: percentage
            percentage_rate: "10"
            frequency: once
            expiration: time_limit
            expiration_at: 2030-12-31T23:59:59Z
        """})
    assert load_workspace(root).desired["coupon"]["c"]["expiration_at"] == "2030-12-31T23:59:59Z"


def test_declared_orgs_at_most_counts_before_parsing(tmp_path):
    from lagosync.workspace import declared_orgs_at_most

    assert declared_orgs_at_most(tmp_path) == 0  # no orgs.yaml
    (tmp_path / "orgs.yaml").write_text(
        "orgs:\n- external_id: org_a\n  name: A\n- {external_id: org_b, name: B}\n")
    assert declared_orgs_at_most(tmp_path) == 2
    (tmp_path / "orgs.yaml").write_text(
        "orgs:\n- external_id: org_a\n  migrate_from: [usr_1, usr_2, usr_3]\n")
    assert declared_orgs_at_most(tmp_path) >= 1 + 3  # the org and the users it replaces


def test_declared_orgs_at_most_counts_only_the_lists_of_replaced_users(tmp_path):
    from lagosync.workspace import declared_orgs_at_most

    orgs = "".join(f"- external_id: org_{i}\n  name: Org {i}, Inc.\n" for i in range(100))
    (tmp_path / "orgs.yaml").write_text(
        "orgs:\n- external_id: org_x\n  migrate_from: [usr_1, usr_2]\n" + orgs)
    assert 101 + 2 <= declared_orgs_at_most(tmp_path) <= 101 + 5  # not every line and comma of the file
