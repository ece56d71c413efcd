"""Process-level helpers (lagosync/runtime.py)."""

from __future__ import annotations

import copy
import json
import tracemalloc

from lagosync.runtime import Shapes, SharedKeys

FIELDS = ("lago_id", "external_id", "external_customer_id", "name", "status", "billing_time", "started_at",
          "created_at", "plan_code", "current_billing_period_started_at", "current_billing_period_ending_at")


def _filled(shape: SharedKeys, i: int) -> dict:
    d = shape.new()
    for field in FIELDS:
        d[field] = f"{field}-{i}"
    return d


def _allocated(make) -> int:
    """Bytes held by 1,000 dicts that ``make(i)`` builds (their values are shared ints)."""
    tracemalloc.start()
    try:
        made = [make(i) for i in range(1000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(made) == 1000
    return held


def test_dicts_of_one_shape_share_their_keys_and_stay_plain_dicts():
    def shared(i: int, shape=SharedKeys("_Measured")) -> dict:
        d = shape.new()
        for field in FIELDS:
            d[field] = 7
        return d
    # about 190 bytes each instead of 460 (CPython's key-sharing dictionaries)
    assert _allocated(shared) < _allocated(lambda i: dict.fromkeys(FIELDS, 7)) / 2

    shape = SharedKeys("_Row")
    rows = [_filled(shape, i) for i in range(3)]
    plain = {field: f"{field}-0" for field in FIELDS}
    # in every other respect a dict: type, equality, order, JSON, copies, changes
    assert type(rows[0]) is dict and rows[0] == plain and list(rows[0]) == list(FIELDS)
    assert json.loads(json.dumps(rows[1])) == rows[1] and copy.deepcopy(rows[2]) == rows[2]
    rows[0]["extra"] = 1
    del rows[0]["status"]
    assert "status" not in rows[0] and rows[0]["extra"] == 1 and rows[1]["status"] == "status-1"
    assert _filled(shape, 9)["name"] == "name-9"


def test_a_shape_filled_in_another_order_or_partly_keeps_its_values():
    shape = SharedKeys("_Partial")
    full = _filled(shape, 0)
    backwards = shape.new()
    for field in reversed(FIELDS[:4]):
        backwards[field] = field
    assert list(backwards) == list(reversed(FIELDS[:4])) and backwards["name"] == "name"
    assert full["name"] == "name-0" and len(full) == len(FIELDS)


def test_shapes_name_their_classes_by_number_and_stop_sharing_past_their_limit():
    shapes = Shapes("_T", limit=2)
    odd = shapes.new("a\x00b.\ud800")  # any text names a shape
    odd["k"] = 1
    assert odd == {"k": 1} and type(odd) is dict
    assert _allocated(lambda i: _fill(shapes.new("second"))) < _allocated(lambda i: _fill({})) / 2
    # a third shape is past the limit: plain dicts (field names that are data make many shapes)
    assert _allocated(lambda i: _fill(shapes.new(f"third{i % 3}"))) > _allocated(lambda i: _fill({})) * 0.9


def _fill(d: dict) -> dict:
    for field in FIELDS:
        d[field] = 7
    return d
