"""Each validation rule of issue 2: a failing fixture and the exact expected messages.

Fixtures are
small workspaces (lagosync.yaml + plans/ + orgs.yaml) written to tmp_path; every expected line is
`file:line:column: path: message (hint)`.
"""

from __future__ import annotations

import pytest

from lagosync.workspace import validate_workspace

# fmt: off
BASE = """\
billable_metrics:
  - code: api_call
    name: API calls
    aggregation_type: count_agg
    filters:
      - key: model
        values: [small, large]
plans:
  - code: starter
    name: Starter
    interval: monthly
    amount_cents: 1900
    amount_currency: USD
    charges:
      - billable_metric_code: api_call
        charge_model: standard
        properties:
          amount: "0.001"
"""
ORG = """\
orgs:
  - external_id: org_1
    currency: USD
    subscriptions:
      - plan_code: starter
"""

def charge(extra):  # a plan 'p2' whose single charge is `extra` (YAML lines at 6 spaces)
    return BASE + """\
  - code: p2
    name: P2
    interval: monthly
    amount_cents: 0
    amount_currency: USD
    charges:
""" + extra

CASES = {
 "yaml_syntax": dict(plans={"bad.yaml": "plans:\n  - code: [unclosed\n"}),
 "empty_file": dict(plans={"p.yaml": BASE, "empty.yaml": "# nothing yet\n"}),
 "missing_plans_dir": dict(plans=None),
 "missing_settings": dict(plans={"p.yaml": BASE}, settings=None),
 "not_utf8": dict(plans={"p.yaml": BASE}, raw={"plans/latin.yaml": b"taxes:\n  - name: Mehrwertsteuer \xfc\n"}),
 "duplicate_code_across_files": dict(plans={"a.yaml": BASE, "b.yaml": "plans:\n  - {code: starter, name: S, interval: monthly, amount_cents: 1, amount_currency: USD}\n"}),
 "duplicate_codes_every_kind": dict(plans={"a.yaml": BASE + "taxes:\n  - {code: vat, name: VAT, rate: \"20\"}\nadd_ons:\n  - {code: setup, name: Setup, amount_cents: 100, amount_currency: USD}\ncoupons:\n  - {code: c, name: C, coupon_type: fixed_amount, amount_cents: 100, amount_currency: USD, frequency: once, expiration: no_expiration}\n",
                                        "b.yaml": "billable_metrics:\n  - {code: api_call, name: A, aggregation_type: count_agg}\ntaxes:\n  - {code: vat, name: VAT, rate: \"19\"}\nadd_ons:\n  - {code: setup, name: Setup, amount_cents: 200, amount_currency: USD}\ncoupons:\n  - {code: c, name: C, coupon_type: percentage, percentage_rate: \"5\", frequency: once, expiration: no_expiration}\n"}),
 "duplicate_org_and_subscription": dict(plans={"p.yaml": BASE}, orgs="""\
orgs:
  - external_id: org_1
    subscriptions:
      - {external_id: s1, plan_code: starter}
  - external_id: org_1
  - external_id: org_2
    subscriptions:
      - {external_id: s1, plan_code: starter}
"""),
 "unknown_metric": dict(plans={"p.yaml": charge("      - {billable_metric_code: tokens, charge_model: standard, properties: {amount: \"1\"}}\n")}),
 "unknown_plan": dict(plans={"p.yaml": BASE}, orgs=ORG.replace("plan_code: starter", "plan_code: pro")),
 "unknown_tax": dict(plans={"p.yaml": BASE.replace("    amount_currency: USD\n", "    amount_currency: USD\n    tax_codes: [vat_20]\n") + "add_ons:\n  - {code: a, name: A, amount_cents: 100, amount_currency: USD, tax_codes: [gst]}\n"}),
 "unknown_tax_on_charge": dict(plans={"p.yaml": charge("      - {billable_metric_code: api_call, charge_model: standard, properties: {amount: \"1\"}, tax_codes: [vat]}\n")}),
 "coupon_refs": dict(plans={"p.yaml": BASE + "coupons:\n  - code: c\n    name: C\n    coupon_type: percentage\n    percentage_rate: \"10\"\n    frequency: once\n    expiration: no_expiration\n    applies_to:\n      plan_codes: [starter, pro]\n  - code: d\n    name: D\n    coupon_type: percentage\n    percentage_rate: \"10\"\n    frequency: once\n    expiration: no_expiration\n    applies_to:\n      billable_metric_codes: [tokens]\n"}),
 "currency_mismatch": dict(plans={"p.yaml": BASE}, orgs=ORG.replace("currency: USD", "currency: EUR")),
 "filter_values": dict(plans={"p.yaml": charge("""\
      - billable_metric_code: api_call
        charge_model: standard
        properties: {amount: "0.001"}
        filters:
          - values: {model: [small, huge]}
            properties: {amount: "0.002"}
          - values: {region: [eu]}
            properties: {amount: "0.002"}
""")}),
 "graduated_ranges": dict(plans={"p.yaml": charge("""\
      - billable_metric_code: api_call
        charge_model: graduated
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 100, per_unit_amount: "0.01", flat_amount: "0"}
            - {from_value: 150, to_value: null, per_unit_amount: "0.005", flat_amount: "0"}
            - {from_value: 200, to_value: 300, per_unit_amount: "0.001", flat_amount: "0"}
""")}),
 "volume_ranges": dict(plans={"p.yaml": charge("""\
      - billable_metric_code: api_call
        charge_model: volume
        properties:
          volume_ranges:
            - {from_value: 0, to_value: 100, per_unit_amount: "0.01", flat_amount: "0"}
            - {from_value: 100, to_value: null, per_unit_amount: "0.005", flat_amount: "0"}
""")}),
 "graduated_percentage_ranges": dict(plans={"p.yaml": BASE.replace("plans:\n", "  - {code: spend, name: Spend, aggregation_type: sum_agg, field_name: amount}\nplans:\n") + """\
  - code: p2
    name: P2
    interval: monthly
    amount_cents: 0
    amount_currency: USD
    charges:
      - billable_metric_code: spend
        charge_model: graduated_percentage
        properties:
          graduated_percentage_ranges:
            - {from_value: 5, to_value: 10, rate: "1", flat_amount: "0"}
            - {from_value: 20, to_value: 20, rate: "0.5", flat_amount: "0"}
"""}),
 "metric_recurring": dict(plans={"p.yaml": """\
billable_metrics:
  - {code: calls, name: Calls, aggregation_type: count_agg, recurring: true}
  - {code: last, name: Last, aggregation_type: latest_agg, field_name: n, recurring: true}
  - {code: seats, name: Seats, aggregation_type: unique_count_agg, field_name: user_id, recurring: true}
"""}),
 "float_money": dict(plans={"p.yaml": BASE.replace('amount: "0.001"', "amount: 0.002").replace("amount_cents: 1900", "amount_cents: 19.99") + "taxes:\n  - {code: vat, name: VAT, rate: 20}\n"}),
 "metric_rules": dict(plans={"p.yaml": """\
billable_metrics:
  - {code: tokens, name: Tokens, aggregation_type: sum_agg}
  - {code: peak, name: Peak, aggregation_type: max_agg, field_name: n, recurring: true}
  - {code: seats, name: Seats, aggregation_type: weighted_sum_agg, field_name: seats}
  - {code: calls, name: Calls, aggregation_type: count_agg, weighted_interval: seconds}
"""}),
 "api_key_literal": dict(plans={"p.yaml": BASE}, settings="environments:\n  prod:\n    api_url: https://api.getlago.com\n    api_key: lago_live_1234\n"),
 "two_undeclared_subscriptions": dict(plans={"p.yaml": BASE}, orgs=ORG + "      - plan_code: starter\n"),
 "customer_metadata": dict(plans={"p.yaml": BASE}, orgs="""\
orgs:
  - external_id: org_1
    metadata:
      - {key: a, value: "1"}
      - {key: b, value: "2"}
      - {key: managed_by, value: me}
      - {key: lagosync_x, value: "4"}
      - {key: a, value: "5"}
"""),
 "ensure_absent_referenced": dict(plans={"p.yaml": BASE.replace("    aggregation_type: count_agg\n", "    aggregation_type: count_agg\n    ensure: absent\n")}),
 "unknown_field": dict(plans={"p.yaml": BASE.replace("    interval: monthly\n", "    intervall: monthly\n")}),
 "duplicate_yaml_key": dict(plans={"p.yaml": BASE.replace("    name: Starter\n", "    name: Starter\n    name: Again\n")}),
 "unknown_default_environment": dict(plans={"p.yaml": BASE}, settings="default_environment: prod\n"),
 "charge_model_rules": dict(plans={"p.yaml": charge("""\
      - {billable_metric_code: api_call, charge_model: dynamic}
      - {code: c2, billable_metric_code: api_call, charge_model: volume, pay_in_advance: true, properties: {volume_ranges: [{from_value: 0, to_value: null, per_unit_amount: "1", flat_amount: "0"}]}}
""")}),
 "migrate_from": dict(plans={"p.yaml": BASE}, orgs="""\
orgs:
  - external_id: org_1
    migrate_from: [usr_1, org_1]
  - external_id: org_2
    migrate_from: [usr_1]
"""),
}


EXPECTED = {'yaml_syntax': ["plans/bad.yaml:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>' while parsing a flow sequence started at line 2 (fix the indentation, quoting or punctuation at "
                 'this spot)'],
 'empty_file': ['plans/empty.yaml:1:1: file is empty (declare billable_metrics, plans, taxes, add_ons or coupons, or delete the file)'],
 'missing_plans_dir': ['plans/:1:1: missing plans/ folder (create plans/ with YAML files declaring billable_metrics, plans, taxes, add_ons and coupons)'],
 'missing_settings': ['lagosync.yaml:1:1: missing workspace settings file lagosync.yaml (create it, e.g. with `default_environment: local`, or pass the workspace folder with -w DIR)'],
 'not_utf8': ['plans/latin.yaml:1:1: file is not UTF-8 text (byte 32) (save the file as UTF-8)'],
 'duplicate_code_across_files': ["plans/b.yaml:2:12: plans[0].code: duplicate plan code 'starter' (also defined at plans/a.yaml:9) (codes must be unique across all files; rename or remove one)"],
 'duplicate_codes_every_kind': ["plans/b.yaml:2:12: billable_metrics[0].code: duplicate metric code 'api_call' (also defined at plans/a.yaml:2) (codes must be unique across all files; rename or remove one)",
                                "plans/b.yaml:4:12: taxes[0].code: duplicate tax code 'vat' (also defined at plans/a.yaml:20) (codes must be unique across all files; rename or remove one)",
                                "plans/b.yaml:6:12: add_ons[0].code: duplicate add-on code 'setup' (also defined at plans/a.yaml:22) (codes must be unique across all files; rename or remove one)",
                                "plans/b.yaml:8:12: coupons[0].code: duplicate coupon code 'c' (also defined at plans/a.yaml:24) (codes must be unique across all files; rename or remove one)"],
 'duplicate_org_and_subscription': ["orgs.yaml:5:18: orgs[1].external_id: duplicate customer external_id 'org_1' (also defined at orgs.yaml:2) (external_ids must be unique across all files; rename or "
                                    'remove one)',
                                    "orgs.yaml:8:23: orgs[2].subscriptions[0].external_id: duplicate subscription external_id 's1' (also defined at orgs.yaml:4) (external_ids must be unique across "
                                    'all files; rename or remove one)'],
 'unknown_metric': ["plans/p.yaml:25:32: plans[1].charges[0].billable_metric_code: unknown metric 'tokens' (define it under billable_metrics, or fix the code)"],
 'unknown_plan': ["orgs.yaml:5:20: orgs[0].subscriptions[0].plan_code: unknown plan 'pro' (define it under plans, or fix the code; Lago would answer plan_not_found)"],
 'unknown_tax': ["plans/p.yaml:14:17: plans[0].tax_codes[0]: unknown tax 'vat_20' (define it under taxes, or fix the code)",
                 "plans/p.yaml:21:77: add_ons[0].tax_codes[0]: unknown tax 'gst' (define it under taxes, or fix the code)"],
 'unknown_tax_on_charge': ["plans/p.yaml:25:105: plans[1].charges[0].tax_codes[0]: unknown tax 'vat' (define it under taxes, or fix the code)"],
 'coupon_refs': ["plans/p.yaml:27:29: coupons[0].applies_to.plan_codes[1]: unknown plan 'pro' (define it under plans, or fix the code)",
                 "plans/p.yaml:35:31: coupons[1].applies_to.billable_metric_codes[0]: unknown metric 'tokens' (define it under billable_metrics, or fix the code)"],
 'currency_mismatch': ["orgs.yaml:5:20: orgs[0].subscriptions[0].plan_code: org 'org_1' bills in EUR but plan 'starter' is in USD (Lago bills a customer in one currency: pick a EUR plan or change "
                       'the org currency)'],
 'filter_values': ["plans/p.yaml:29:37: plans[1].charges[0].filters[0].values.model[1]: value 'huge' is not declared for filter 'model' on metric 'api_call' (declared values: small, large; add it to "
                   'the metric or fix it)',
                   "plans/p.yaml:31:22: plans[1].charges[0].filters[1].values.region: metric 'api_call' has no filter 'region' (declared filter keys: model; add it to the metric or fix the key)"],
 'graduated_ranges': ["plans/p.yaml:30:28: plans[1].charges[0].properties.graduated_ranges[1].from_value: from_value 150 does not follow the previous range's to_value 100 (start this range at 100 or "
                      '101 so ranges chain without gaps or overlaps)',
                      'plans/p.yaml:30:43: plans[1].charges[0].properties.graduated_ranges[1].to_value: only the last range may have to_value: null (give this range an upper bound)',
                      'plans/p.yaml:31:43: plans[1].charges[0].properties.graduated_ranges[2].to_value: the last range must be open-ended, not end at 300 (set to_value: null so every quantity is '
                      'priced)'],
 'volume_ranges': ["plans/p.yaml:30:28: plans[1].charges[0].properties.volume_ranges[1].from_value: from_value 100 does not follow the previous range's to_value 100 (start this range at 101 so "
                   'ranges chain without gaps or overlaps)'],
 'graduated_percentage_ranges': ['plans/p.yaml:30:28: plans[1].charges[0].properties.graduated_percentage_ranges[0].from_value: the first range must start at 0, not 5 (set from_value: 0)',
                                 "plans/p.yaml:31:28: plans[1].charges[0].properties.graduated_percentage_ranges[1].from_value: from_value 20 does not follow the previous range's to_value 10 (start this range at 10 or 11 "
                                 'so ranges chain without gaps or overlaps)',
                                 'plans/p.yaml:31:42: plans[1].charges[0].properties.graduated_percentage_ranges[1].to_value: the last range must be open-ended, not end at 20 (set to_value: null so every quantity '
                                 'is priced)',
                                 'plans/p.yaml:31:42: plans[1].charges[0].properties.graduated_percentage_ranges[1].to_value: to_value 20 must be greater than from_value 20 (fix the bounds)'],
 'metric_recurring': ['plans/p.yaml:2:72: billable_metrics[0].recurring: recurring: true is not allowed with count_agg (remove recurring, or use sum_agg, unique_count_agg or weighted_sum_agg)',
                      'plans/p.yaml:3:86: billable_metrics[1].recurring: recurring: true is not allowed with latest_agg (remove recurring, or use sum_agg, unique_count_agg or weighted_sum_agg)'],
 'float_money': ['plans/p.yaml:12:19: plans[0].amount_cents: 19.99 is not an integer; money is integer cents (amount_cents counts cents: write 1999 for 19.99)',
                 'plans/p.yaml:18:19: plans[0].charges[0].properties.amount: 0.002 is a number; write it as a decimal string "0.002" (Lago rejects numbers)',
                 'plans/p.yaml:20:34: taxes[0].rate: 20 is a number; write it as a decimal string "20" (Lago rejects numbers)'],
 'metric_rules': ['plans/p.yaml:2:5: billable_metrics[0]: aggregation_type sum_agg needs field_name (add field_name: the event property to aggregate, e.g. tokens)',
                  'plans/p.yaml:3:83: billable_metrics[1].recurring: recurring: true is not allowed with max_agg (remove recurring, or use sum_agg, unique_count_agg or weighted_sum_agg)',
                  'plans/p.yaml:4:5: billable_metrics[2]: weighted_sum_agg needs weighted_interval (add weighted_interval: seconds)',
                  'plans/p.yaml:5:80: billable_metrics[3].weighted_interval: weighted_interval only applies to weighted_sum_agg, not count_agg (remove it)'],
 'api_key_literal': ["lagosync.yaml:3:5: environments.prod: missing required field 'api_key_env' (the NAME of the environment variable holding the API key, e.g. LAGO_API_KEY)",
                     'lagosync.yaml:4:5: environments.prod.api_key: api_key holds a literal API key; lagosync never reads keys from files (remove it, set api_key_env: LAGO_API_KEY_PROD and export '
                     'that environment variable)'],
 'two_undeclared_subscriptions': ["orgs.yaml:5:7: orgs[0].subscriptions: org 'org_1' has 2 subscriptions without external_id; only an org's single subscription may default to 'sub_org_1' (give each "
                                  'subscription a stable external_id: it must survive plan changes)'],
 'customer_metadata': ['orgs.yaml:4:7: orgs[0].metadata: 5 metadata entries; at most 4 can be declared (Lago allows 5 per customer and lagosync keeps one for its managed_by marker)',
                       "orgs.yaml:6:15: orgs[0].metadata[2].key: metadata key 'managed_by' is reserved for lagosync's markers (rename the key)",
                       "orgs.yaml:7:15: orgs[0].metadata[3].key: metadata key 'lagosync_x' is reserved for lagosync's markers (rename the key)",
                       "orgs.yaml:8:15: orgs[0].metadata[4].key: metadata key 'a' is declared twice (metadata[0]) (keep one entry per key)"],
 'ensure_absent_referenced': ["plans/p.yaml:16:31: plans[0].charges[0].billable_metric_code: metric 'api_call' is declared with ensure: absent (plans/p.yaml:2) (remove this reference, or keep the "
                              'metric)'],
 'unknown_field': ["plans/p.yaml:9:5: plans[0]: missing required field 'interval' (one of weekly, monthly, quarterly, semiannual, yearly)",
                   "plans/p.yaml:11:5: plans[0].intervall: unknown field 'intervall' (did you mean 'interval'?)"],
 'duplicate_yaml_key': ["plans/p.yaml:11:5: plans[0].name: duplicate key 'name' (first at line 10) (keep only one of them)"],
 'unknown_default_environment': ["lagosync.yaml:1:22: default_environment: unknown environment 'prod' (declared: local)"],
 'charge_model_rules': ["plans/p.yaml:25:56: plans[1].charges[0].charge_model: charge_model dynamic needs a sum_agg metric; 'api_call' is count_agg (use another charge model)",
                        'plans/p.yaml:26:90: plans[1].charges[1].pay_in_advance: pay_in_advance is not allowed with charge_model volume (remove pay_in_advance or use another model)'],
 'migrate_from': ['orgs.yaml:3:27: orgs[0].migrate_from[1]: an org cannot migrate from itself (list the user customer ids it replaces)',
                  "orgs.yaml:5:20: orgs[1].migrate_from[0]: user 'usr_1' is already migrated to org 'org_1' (orgs.yaml:2) (a user moves to one org only)"]}
# fmt: on


def _write(root, case):
    root.mkdir()
    settings = case.get("settings", "default_environment: local\n")
    if settings is not None:
        (root / "lagosync.yaml").write_text(settings)
    if case.get("plans") is not None:
        (root / "plans").mkdir()
        for name, text in case["plans"].items():
            (root / "plans" / name).write_text(text)
    if case.get("orgs"):
        (root / "orgs.yaml").write_text(case["orgs"])
    for name, data in case.get("raw", {}).items():
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("name", list(CASES))
def test_rule(tmp_path, name):
    root = _write(tmp_path / "ws", CASES[name])
    assert [d.format() for d in validate_workspace(root)] == EXPECTED[name]


def test_every_case_fails():
    assert all(EXPECTED[name] for name in CASES)


def test_base_fixture_is_clean(tmp_path):
    assert validate_workspace(_write(tmp_path / "ws", {"plans": {"p.yaml": BASE}, "orgs": ORG})) == []


def test_unreadable_file(tmp_path):
    """Issue 2: an unreadable file is a clean error with its position, and the others are still checked."""
    import os

    root = _write(tmp_path / "ws", {"plans": {"p.yaml": BASE.replace('amount: "0.001"', "amount: 0.001")}})
    (root / "plans" / "gone.yaml").symlink_to(root / "plans" / "missing-target.yaml")
    expected = ["plans/gone.yaml:1:1: cannot read file: No such file or directory (check that it exists and is readable)",
                'plans/p.yaml:18:19: plans[0].charges[0].properties.amount: 0.001 is a number; write it as a decimal '
                'string "0.001" (Lago rejects numbers)']
    locked = root / "plans" / "locked.yaml"
    locked.write_text("taxes: []\n")
    locked.chmod(0)
    if not os.access(locked, os.R_OK):  # root reads anything; elsewhere this is "permission denied"
        expected.insert(1, "plans/locked.yaml:1:1: cannot read file: Permission denied (check that it exists and "
                           "is readable)")
    try:
        assert [d.format() for d in validate_workspace(root)] == expected
    finally:
        locked.chmod(0o644)


@pytest.mark.parametrize("char", ["\x85", "\x9b", "\u2028", "\u2029"])
def test_line_breaking_characters_in_keys_stay_on_one_line(tmp_path, char):
    """Found by the CLI property test: a key holding NEL or U+2028 split one error into several lines."""
    escaped = char.encode("unicode_escape").decode("ascii")  # also YAML's escape in a "quoted" key
    root = _write(tmp_path / "ws", {"plans": {"p.yaml": BASE + f'"a{escaped}b": 1\n'}})
    [diag] = validate_workspace(root)
    text = diag.format()
    assert len(text.splitlines()) == 1, text
    assert text == (f'plans/p.yaml:19:1: ["a{escaped}b"]: unknown field \'a{escaped}b\' '
                    "(allowed: billable_metrics, plans, taxes, add_ons, coupons, migrations)")
