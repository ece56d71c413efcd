"""`lagosync test` end to end through the CLI on a copy of the example workspace: passing and failing
cases, file:line in every report line, invalid cases, exit codes, JSON output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    for name in ("lagosync.yaml", "orgs.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "plans", tmp_path / "plans")
    shutil.copytree(ROOT / "pricing_tests", tmp_path / "pricing_tests")
    return tmp_path


def run(ws: Path, *args: str):
    return CliRunner().invoke(main, ["test", "-w", str(ws), *args])


def write(ws: Path, text: str, name: str = "extra.yaml") -> Path:
    path = ws / "pricing_tests" / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_cases_pass(ws: Path) -> None:
    result = run(ws)
    assert result.exit_code == 0, result.output
    assert result.output == "ok: 4 pricing tests in 1 file passed\n"


def test_a_failing_case_names_file_line_expected_computed_and_breakdown(ws: Path) -> None:
    write(ws, """pricing_tests:
  - name: ok case
    plan: starter
    expect: {subscription_cents: 1900}

  - name: wrong total
    plan: professional
    usage:
      api_call: 30000
      tokens:
        - values: {model: large}
          units: 1200000
    expect:
      before_tax: "73.40"
      charges_cents: {tokens: 80}
""")
    result = run(ws)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == ("pricing_tests/extra.yaml:6: wrong total: expected before tax 73.40 USD, "
                        "computed 73.80 USD")
    assert any(line.strip().startswith("charge tokens [Tokens on the large model]") and line.endswith("0.80")
               for line in lines)
    assert any("charge api_call" in line and "30000 units" in line and line.endswith("24.00") for line in lines)
    assert "fees 73.80, coupons 0.00, before tax 73.80, taxes 0.00, total 73.80 USD" in result.output
    assert lines[-1] == "1 of 6 pricing tests in 2 files failed"
    assert "ok case" not in result.output  # passing cases are not reported one by one


def test_cents_expectations_and_per_charge_failures(ws: Path) -> None:
    write(ws, """pricing_tests:
  - name: per charge in cents
    plan: starter
    usage: {api_call: 10000}
    expect:
      charges_cents: {api_call: 1001}
""")
    result = run(ws)
    assert result.exit_code == 1
    assert ("pricing_tests/extra.yaml:2: per charge in cents: expected charge api_call 1001 cents, "
            "computed 1000 cents") in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("pricing_tests:\n  - name: x\n    plan: nope\n    expect: {total: \"1\"}\n",
     "pricing_tests/extra.yaml:3:11: pricing_tests[0].plan: unknown plan 'nope'"),
    ("pricing_tests:\n  - name: x\n    plan: starter\n    expect: {total: 19.00}\n",
     "pricing_tests/extra.yaml:4:21: pricing_tests[0].expect.total: 19.00 is a number"),
    ("pricing_tests:\n  - name: x\n    plan: starter\n    usage: {api_call: 1}\n    expect: {charges: {nope: \"1\"}}\n",
     "pricing_tests/extra.yaml:5:30: pricing_tests[0].expect.charges.nope: plan 'starter' has no charge 'nope'"),
    ("pricing_tests:\n  - name: x\n    plan: starter\n    usage: {tokens: [{values: {region: eu}, units: 1}]}\n"
     "    expect: {total: \"1\"}\n",
     "pricing_tests[0].usage.tokens[0].values.region: metric 'tokens' has no filter key 'region'"),
])
def test_invalid_cases_exit_1_with_file_line(ws: Path, text: str, message: str) -> None:
    write(ws, text)
    result = run(ws)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    validate = CliRunner().invoke(main, ["validate", "-w", str(ws)])
    assert validate.exit_code == 1 and message in validate.output  # validate reports the same


def test_a_case_that_cannot_be_priced_is_a_failure(ws: Path) -> None:
    # a dynamic charge needs the events' amounts: said, not guessed
    plans = ws / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace(
        "      - billable_metric_code: api_call\n        charge_model: standard\n        properties:\n"
        "          amount: \"0.0008\"",
        "      - billable_metric_code: api_call\n        charge_model: standard\n        properties:\n"
        "          amount: \"0.0008\"\n      - billable_metric_code: tokens\n        code: tokens_dynamic\n"
        "        charge_model: dynamic", 1))
    write(ws, "pricing_tests:\n  - name: dyn\n    plan: professional\n    usage: {tokens: 10}\n"
              "    expect: {total: \"1\"}\n")
    result = run(ws)
    assert result.exit_code == 1, result.output
    assert ("pricing_tests/extra.yaml:2: dyn: cannot be priced: charge tokens_dynamic: a dynamic charge needs "
            "the events' precise_total_amount_cents") in result.output


def test_json_output(ws: Path) -> None:
    result = run(ws, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert (doc["passed"], doc["failed"]) == (4, 0)
    first = doc["cases"][0]
    assert (first["file"], first["line"], first["plan"]) == ("pricing_tests/plans.yaml", 5, "professional")
    assert first["result"]["sub_total_excluding_taxes_cents"] == 7380
    assert all(isinstance(f["amount_cents"], int) for f in first["result"]["fees"])


def test_no_cases_is_not_an_error(ws: Path) -> None:
    shutil.rmtree(ws / "pricing_tests")
    result = run(ws)
    assert result.exit_code == 0
    assert "no pricing tests" in result.output


def test_an_invalid_workspace_exits_1(ws: Path) -> None:
    (ws / "lagosync.yaml").unlink()
    result = run(ws)
    assert result.exit_code == 1
    assert "missing workspace settings file lagosync.yaml" in result.output


def test_a_hundred_cases_are_bounded_work(ws: Path) -> None:
    # the work is bounded by the cases, not by the units: 100 cases of a billion tokens each
    cases = "".join(
        f"  - name: case {i}\n    plan: professional\n    usage:\n      tokens: {10**9 + i}\n"
        f"      api_call: {i}\n    expect: {{subscription: \"49.00\"}}\n" for i in range(100))
    write(ws, "pricing_tests:\n" + cases)
    result = run(ws)
    assert result.exit_code == 0, result.output
    assert result.output == "ok: 104 pricing tests in 2 files passed\n"
