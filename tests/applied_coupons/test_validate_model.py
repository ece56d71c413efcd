"""orgs.yaml `coupons`: validation messages (file:line), flattening, and the canonical model."""

from __future__ import annotations

import textwrap

import pytest

from lagosync import kinds, model
from lagosync.workspace import load_workspace, validate_workspace

PLANS = """\
plans:
  - {code: pro, name: Pro, interval: monthly, amount_cents: 1000, amount_currency: USD}
coupons:
  - {code: launch, name: Launch, coupon_type: percentage, percentage_rate: "20", frequency: once,
     expiration: no_expiration}
  - {code: ten_eur, name: Ten, coupon_type: fixed_amount, amount_cents: 1000, amount_currency: EUR,
     frequency: once, expiration: no_expiration}
  - {code: vip, name: VIP, coupon_type: percentage, percentage_rate: "50", reusable: false, frequency: once,
     expiration: no_expiration}
"""


def workspace(tmp_path, orgs: str):
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\n")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.yaml").write_text(PLANS)
    (tmp_path / "orgs.yaml").write_text(textwrap.dedent(orgs))
    return tmp_path


def errors(tmp_path, orgs: str) -> list[str]:
    return [d.format() for d in validate_workspace(workspace(tmp_path, orgs))]


def test_flattened_into_applied_coupon_and_not_a_customer_field(tmp_path):
    ws = load_workspace(workspace(tmp_path, """\
        orgs:
          - external_id: org_a
            currency: USD
            coupons:
              - coupon_code: launch
                percentage_rate: "15"
        """))
    assert ws.desired["applied_coupon"] == {
        "org_a/launch": {"external_customer_id": "org_a", "coupon_code": "launch", "percentage_rate": "15"}}
    customer = model.from_yaml("customer", ws.desired["customer"]["org_a"])
    assert "coupons" not in customer


def test_unknown_coupon(tmp_path):
    assert errors(tmp_path, """\
        orgs:
          - external_id: org_a
            coupons:
              - coupon_code: nope
        """) == ["orgs.yaml:4:22: orgs[0].coupons[0].coupon_code: unknown coupon 'nope' (define it under "
                 "coupons, or fix the code; an org can only be given a coupon declared under coupons in plans/)"]


def test_duplicate_coupon_on_one_org(tmp_path):
    assert errors(tmp_path, """\
        orgs:
          - external_id: org_a
            coupons:
              - coupon_code: launch
              - coupon_code: launch
        """) == ["orgs.yaml:5:22: orgs[0].coupons[1].coupon_code: coupon 'launch' is applied twice to org 'org_a' "
                 "(also at orgs.yaml:4) (list each coupon once per org; put overrides on that one item)"]


def test_non_reusable_coupon_on_two_orgs(tmp_path):
    assert errors(tmp_path, """\
        orgs:
          - external_id: org_a
            coupons: [{coupon_code: vip}]
          - external_id: org_b
            coupons: [{coupon_code: vip}]
        """) == ["orgs.yaml:5:29: orgs[1].coupons[0].coupon_code: coupon 'vip' is not reusable (reusable: false) "
                 "but is also applied to org 'org_a' (orgs.yaml:3) (give it to one org only, or declare the "
                 "coupon with reusable: true)"]


def test_fixed_amount_currency_must_match_the_org(tmp_path):
    assert errors(tmp_path, """\
        orgs:
          - external_id: org_a
            currency: USD
            coupons: [{coupon_code: ten_eur}]
        """) == ["orgs.yaml:4:29: orgs[0].coupons[0].coupon_code: coupon 'ten_eur' is in EUR but org 'org_a' "
                 "bills in USD (Lago answers currencies_does_not_match: use a USD coupon or override "
                 "amount_currency)"]


def test_overrides_must_fit_the_coupon_type(tmp_path):
    assert errors(tmp_path, """\
        orgs:
          - external_id: org_a
            coupons:
              - {coupon_code: launch, amount_cents: 500}
              - {coupon_code: ten_eur, percentage_rate: "5", frequency_duration: 2}
        """) == [
        "orgs.yaml:4:45: orgs[0].coupons[0].amount_cents: amount_cents does not apply to percentage coupon "
        "'launch' (remove it, or override percentage_rate)",
        "orgs.yaml:5:49: orgs[0].coupons[1].percentage_rate: percentage_rate does not apply to fixed_amount "
        "coupon 'ten_eur' (remove it, or override amount_cents)",
        "orgs.yaml:5:74: orgs[0].coupons[1].frequency_duration: frequency_duration only applies to recurring "
        "coupons, not once (remove it, or set frequency: recurring)",
    ]


def test_schema_rejects_unknown_override_and_bad_rate(tmp_path):
    errs = errors(tmp_path, """\
        orgs:
          - external_id: org_a
            coupons:
              - {coupon_code: launch, percentage_rate: 15, discount: 3}
        """)
    assert len(errs) == 2
    assert all(e.startswith("orgs.yaml:4:") for e in errs)
    assert any("discount" in e for e in errs) and any("percentage_rate" in e for e in errs)


def test_model_compares_only_declared_overrides():
    live = {"lago_id": "x", "external_customer_id": "org_a", "coupon_code": "launch", "status": "active",
            "frequency": "recurring", "frequency_duration": 3, "amount_cents": None, "amount_currency": None,
            "percentage_rate": "20.0"}
    assert model.from_api("applied_coupon", live, declared={"external_customer_id": "org_a",
                                                            "coupon_code": "launch"}) == \
        model.from_yaml("applied_coupon", {"external_customer_id": "org_a", "coupon_code": "launch"})
    declared = {"external_customer_id": "org_a", "coupon_code": "launch", "percentage_rate": "20.000",
                "frequency_duration": 3}
    assert model.from_api("applied_coupon", live, declared=declared) == model.from_yaml("applied_coupon", declared)
    assert model.from_yaml("applied_coupon", declared)["percentage_rate"] == "20"
    assert kinds.key_of("applied_coupon", live) == "org_a/launch"
    with pytest.raises(model.ModelError, match="percentage_rate"):
        model.from_yaml("applied_coupon", {**declared, "percentage_rate": 20.5})
