"""The JSON schemas themselves, the example files against them, and the CI workflow."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


@pytest.mark.parametrize("name", ["lagosync.schema.json", "plans.schema.json", "orgs.schema.json"])
def test_schema_is_valid_2020_12(name):
    schema = json.loads((SCHEMAS / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _plans_validator():
    return Draft202012Validator(json.loads((SCHEMAS / "plans.schema.json").read_text()))


def test_every_charge_model_has_a_properties_shape():
    defs = json.loads((SCHEMAS / "plans.schema.json").read_text())["$defs"]
    models = defs["charge"]["properties"]["charge_model"]["enum"]
    assert set(models) == {"standard", "graduated", "volume", "package", "percentage", "graduated_percentage",
                           "dynamic"}
    for m in models:
        assert f"properties_{m}" in defs


VALID_PROPERTIES = {  # lago-behaviour#charge-properties-stripped: one valid `properties` per charge model
    "standard": {"amount": "0.002"},
    "graduated": {"graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"}]},
    "volume": {"volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]},
    "package": {"amount": "5", "package_size": 1000, "free_units": 100},
    "percentage": {"rate": "1.5", "fixed_amount": "0.1", "free_units_per_events": 3,
                   "per_transaction_min_amount": "0.5", "per_transaction_max_amount": "10"},
    "graduated_percentage": {"graduated_percentage_ranges": [
        {"from_value": 0, "to_value": None, "rate": "1", "flat_amount": "0"}]},
    "dynamic": {},
}
# ... and one that each model's shape must refuse (wrong key, number for a decimal, missing field)
INVALID_PROPERTIES = {
    "standard": {"amount": 0.002},
    "graduated": {"volume_ranges": VALID_PROPERTIES["volume"]["volume_ranges"]},
    "volume": {"volume_ranges": [{"from_value": 0, "to_value": None, "rate": "1", "flat_amount": "0"}]},
    "package": {"amount": "5"},
    "percentage": {"amount": "1"},
    "graduated_percentage": {"graduated_percentage_ranges": [
        {"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]},
    "dynamic": {"amount": "1"},
}


def _charge_doc(model, props, *, in_filter=False):
    charge = {"billable_metric_code": "m", "charge_model": model, "properties": props}
    if in_filter:
        charge["properties"] = VALID_PROPERTIES[model]
        charge["filters"] = [{"values": {"k": ["v"]}, "properties": props}]
    return {"plans": [{"code": "p", "name": "P", "interval": "monthly", "amount_cents": 0,
                       "amount_currency": "USD", "charges": [charge]}]}


@pytest.mark.parametrize("model", sorted(VALID_PROPERTIES))
@pytest.mark.parametrize("in_filter", [False, True], ids=["charge", "filter"])
def test_each_charge_model_properties_shape_is_enforced(model, in_filter):
    validator = _plans_validator()
    assert list(validator.iter_errors(_charge_doc(model, VALID_PROPERTIES[model], in_filter=in_filter))) == []
    errors = list(validator.iter_errors(_charge_doc(model, INVALID_PROPERTIES[model], in_filter=in_filter)))
    assert errors, (model, in_filter)
    # another model's valid properties do not pass either (the shape follows charge_model)
    other = "standard" if model not in ("standard", "package") else "graduated"
    if model != "dynamic":
        assert list(validator.iter_errors(_charge_doc(model, VALID_PROPERTIES[other], in_filter=in_filter)))


def test_enums_match_lago_behaviour():
    defs = json.loads((SCHEMAS / "plans.schema.json").read_text())["$defs"]
    assert set(defs["plan"]["properties"]["interval"]["enum"]) == {"weekly", "monthly", "yearly", "quarterly",
                                                                    "semiannual"}  # lago-behaviour#plan-intervals
    assert set(defs["billable_metric"]["properties"]["aggregation_type"]["enum"]) == {
        "count_agg", "sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg", "latest_agg", "custom_agg"}
    assert set(defs["coupon"]["properties"]["frequency"]["enum"]) == {"once", "recurring", "forever"}
    assert set(defs["coupon"]["properties"]["coupon_type"]["enum"]) == {"fixed_amount", "percentage"}
    assert set(defs["coupon"]["properties"]["expiration"]["enum"]) == {"no_expiration", "time_limit"}
    orgs = json.loads((SCHEMAS / "orgs.schema.json").read_text())["$defs"]
    assert set(orgs["subscription"]["properties"]["billing_time"]["enum"]) == {"calendar", "anniversary"}


@pytest.mark.parametrize("value,ok", [("0.002", True), ("0.0010", True), ("19", True), ("0", True),
                                      (0.002, False), (19, False), ("-1", False), ("1e-3", False),
                                      ("1,5", False), (" 1", False), ("01", False)])
def test_decimal_strings(value, ok):
    doc = {"taxes": [{"code": "t", "name": "T", "rate": value}]}
    assert (list(_plans_validator().iter_errors(doc)) == []) is ok


def test_example_files_validate_with_plain_jsonschema():
    """Editors use the schemas directly (yaml-language-server); the examples must pass there too."""
    pairs = [(REPO / "lagosync.yaml", "lagosync.schema.json"), (REPO / "orgs.yaml", "orgs.schema.json")]
    pairs += [(p, "plans.schema.json") for p in sorted((REPO / "plans").glob("*.yaml"))]
    for path, name in pairs:
        validator = Draft202012Validator(json.loads((SCHEMAS / name).read_text()))
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path, errors)


def test_ci_workflow_runs_ci_script_on_push_and_pr():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    triggers = wf[True]  # YAML 1.1 reads the key `on` as true
    assert "push" in triggers and "pull_request" in triggers
    steps = wf["jobs"]["test"]["steps"]
    assert any(s.get("with", {}).get("python-version") == "3.11" for s in steps)
    assert any(s.get("run") == "bash .ci/run" for s in steps)
    actionlint = shutil.which("actionlint") or str(Path(__import__("sys").executable).parent / "actionlint")
    if not Path(actionlint).exists():
        pytest.skip("actionlint not installed (it comes with the test extra)")
    result = subprocess.run([actionlint, str(REPO / ".github" / "workflows" / "ci.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
