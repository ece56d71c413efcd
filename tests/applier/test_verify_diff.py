"""Verifying Lago's answer after a write uses the planner's diff (lagosync.planner.diff): a boolean
and a number are different values, as in a plan, while decimals are compared in canonical form."""

from __future__ import annotations

from lagosync.applier.verify import differences, verify_response


def test_a_number_where_a_boolean_was_sent_is_reported():
    assert differences("recurring", True, 1) == ["recurring (sent True, Lago has 1)"]
    assert differences("properties", {"flag": True}, {"flag": 1}) == ["properties.flag (sent True, Lago has 1)"]


def test_a_boolean_where_a_number_was_sent_is_reported():
    assert differences("rounding_precision", 1, True) == ["rounding_precision (sent 1, Lago has True)"]
    assert differences("ranges", [{"to": 0}], [{"to": False}]) == ["ranges[0].to (sent 0, Lago has False)"]


def test_equal_values_and_absent_nulls_are_not_reported():
    assert differences("amount_cents", 100, 100) == []
    assert differences("rate", 1, 1.0) == []  # numbers compare by value
    assert differences("metadata", {"a": None}, {}) == []  # Lago omits empty fields
    assert differences("metadata", {"a": "x"}, {}) == ["metadata.a (sent 'x', Lago has None)"]


def test_decimals_are_compared_in_canonical_form():
    tax = {"code": "vat", "name": "VAT", "rate": "0.001", "description": None, "applied_to_organization": False}
    response = {"code": "vat", "name": "VAT", "rate": "0.0010", "applied_to_organization": False}
    assert verify_response("tax", response, tax) == []
    assert verify_response("tax", {**response, "rate": "0.002"}, tax) == ["rate (sent '0.001', Lago has '0.002')"]


def test_a_response_with_one_for_true_is_reported_through_verify_response():
    # a tax's name passes through the model unchanged, so the comparison itself decides
    tax = {"code": "vat", "name": True, "rate": "0.001", "description": None, "applied_to_organization": False}
    response = {"code": "vat", "name": 1, "rate": "0.001"}
    assert verify_response("tax", response, tax) == ["name (sent True, Lago has 1)"]
    assert verify_response("tax", {**response, "name": True}, {**tax, "name": 1}) == ["name (sent 1, Lago has True)"]
