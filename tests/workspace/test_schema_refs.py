"""Every `$ref` in every JSON Schema resolves (a dangling ref only fails when a document reaches it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMAS = sorted((Path(__file__).resolve().parents[2] / "schemas").glob("*.schema.json"))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_there_are_schemas():
    assert {p.name for p in SCHEMAS} >= {"lagosync.schema.json", "plans.schema.json", "orgs.schema.json"}


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_local_ref_resolves(path):
    schema = json.loads(path.read_text())
    dangling = []
    for ref in _refs(schema):
        assert ref.startswith("#/"), f"{path.name}: only local refs are used, got {ref}"
        node = schema
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                dangling.append(ref)
                break
            node = node[part]
    assert dangling == [], f"{path.name}: dangling $ref {sorted(set(dangling))}"
