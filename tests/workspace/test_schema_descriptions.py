"""Every property of every JSON Schema is described (editors show it as hover help), and the
annotations that go with a description are right: a `default` or an `example` is a value the
property itself accepts, and a "see docs/lago-behaviour.md#<id>" names an entry that exists.

Properties are the entries of every `properties` object, in the top-level schema and in every
$def, nested ones and the re-declarations in `then`/`else` branches included. Only the entries of
`if` conditions are left out: they test a value (`ensure: {const: absent}`), they declare nothing
an editor shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))
LAGO_BEHAVIOUR = ROOT / "docs" / "lago-behaviour.md"
NOTE_CITATION = re.compile(r"\bissue \d|§|\bsection \d", re.I)
DOC_LINK = re.compile(r"docs/lago-behaviour\.md#([a-z0-9]+(?:-[a-z0-9]+)*)")


def _properties(node, path=""):
    """(path, schema) of every property under ``node``, outside ``if`` conditions."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if":
                continue
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    where = f"{path}/properties/{name}"
                    yield where, sub
                    yield from _properties(sub, where)
            else:
                yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties(item, f"{path}/{i}")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_walk_finds_the_properties_of_every_schema():
    names = {p.name for p in SCHEMAS}
    assert names >= {"lagosync.schema.json", "plans.schema.json", "orgs.schema.json", "pricing_tests.schema.json"}
    found = {p.name: dict(_properties(_load(p))) for p in SCHEMAS}
    # top level, inside $defs, nested in a property, and in a conditional branch
    assert "/properties/default_environment" in found["lagosync.schema.json"]
    assert "/$defs/plan/properties/amount_cents" in found["plans.schema.json"]
    assert "/$defs/org/properties/shipping_address/properties/country" in found["orgs.schema.json"]
    assert "/$defs/charge/allOf/0/then/properties/properties" in found["plans.schema.json"]
    assert "/$defs/coupon/anyOf/1/properties/periods_applied" in found["pricing_tests.schema.json"]
    # the conditions of if/then are not properties
    assert not any("/if/" in where for props in found.values() for where in props)
    assert sum(len(props) for props in found.values()) > 250


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_property_has_a_description(path):
    missing = [where for where, sub in _properties(_load(path))
               if not (isinstance(sub, dict) and isinstance(sub.get("description"), str) and sub["description"].strip())]
    assert missing == [], f"{path.name}: properties without a description: {missing}"
    cites = [where for where, sub in _properties(_load(path))
             if isinstance(sub, dict) and NOTE_CITATION.search(sub.get("description", ""))]
    assert cites == [], f"{path.name}: descriptions citing issues or section numbers: {cites}"


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_defaults_and_examples_are_valid_values_of_their_property(path):
    schema = _load(path)
    root = Draft202012Validator(schema)  # resolves the property's $refs within its file
    bad = []
    checked = 0
    for where, sub in _properties(schema):
        if not isinstance(sub, dict):
            continue
        validator = root.evolve(schema=sub)
        values = ([("default", sub["default"])] if "default" in sub else [])
        values += [("example", value) for value in sub.get("examples", [])]
        for what, value in values:
            checked += 1
            errors = [e.message for e in validator.iter_errors(value)]
            if errors:
                bad.append(f"{where}: {what} {value!r}: {errors[0]}")
        assert isinstance(sub.get("examples", []), list), f"{where}: examples is a list"
    assert bad == []
    assert checked > 0, f"{path.name}: no default or example checked"


def test_a_default_that_contradicts_its_property_is_caught():
    schema = {"$defs": {"decimal": {"type": "string", "pattern": r"^[0-9]+$"}},
              "properties": {"rate": {"$ref": "#/$defs/decimal", "description": "d", "default": 20}}}
    (where, sub), = _properties(schema)
    assert list(Draft202012Validator(schema).evolve(schema=sub).iter_errors(sub["default"]))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_descriptions_link_existing_lago_behaviour_entries(path):
    entries = set(re.findall(r"^### `([a-z0-9-]+)`$", LAGO_BEHAVIOUR.read_text(encoding="utf-8"), re.M))
    links = [(where, ident) for where, sub in _properties(_load(path)) if isinstance(sub, dict)
             for ident in DOC_LINK.findall(sub.get("description", ""))]
    assert [(where, ident) for where, ident in links if ident not in entries] == []
