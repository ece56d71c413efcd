"""The compiled yes/no schema check (lagosync.workspace.fastschema) agrees with jsonschema.

check_schema skips jsonschema when the compiled check says a document is valid, so the check must
never say "valid" where jsonschema (with schema.py's type checker) finds an error, and it should say
"valid" for the valid documents (else validate is slow, not wrong). Every document here is one of the
repository's files with one mutation at one node; each is judged by both.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml

from lagosync.workspace.fastschema import compile_check
from lagosync.workspace.schema import SCHEMA_FILES, fast_check, validator

REPO = Path(__file__).resolve().parents[2]
FILES = {
    "settings": [REPO / "lagosync.yaml"],
    "orgs": [REPO / "orgs.yaml"],
    "plans": sorted((REPO / "plans").glob("*.yaml")),
    "pricing_tests": sorted((REPO / "pricing_tests").glob("*.yaml")),
}
# what a node may be replaced with: every JSON type, and the values a schema tells apart (an integer
# written 19.0, a bool where a number goes, empty and unknown keys, a duplicate in a list, ...)
REPLACEMENTS = [None, True, False, 0, 1, -1, 19.0, 0.5, 10**20, "", "x", "0.5", "1e3", "19\n", "USD", "monthly",
                "standard", [], ["a", "a"], [1], {}, {"zz": 1}, {"code": "c"}]


def _nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def _set(doc, path, new):
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new


def _mutations(data, rng: random.Random, budget: int):
    out = []
    for path, value in _nodes(data):
        if path:
            for new in REPLACEMENTS:
                doc = copy.deepcopy(data)
                _set(doc, path, copy.deepcopy(new))
                out.append(doc)
        if isinstance(value, dict):
            for key in list(value)[:6]:
                doc = copy.deepcopy(data)
                target = doc
                for part in path:
                    target = target[part]
                del target[key]
                out.append(doc)
            doc = copy.deepcopy(data)
            target = doc
            for part in path:
                target = target[part]
            target["unknown_field"] = 1
            out.append(doc)
        if isinstance(value, list) and value:
            doc = copy.deepcopy(data)
            target = doc
            for part in path:
                target = target[part]
            target.append(copy.deepcopy(target[0]))  # a duplicate item
            out.append(doc)
    rng.shuffle(out)
    return out[:budget]


def test_every_schema_compiles():
    # the fast path is really taken: a keyword the compiler does not know would silently fall back
    for name in SCHEMA_FILES:
        assert fast_check(name) is not None, name


@pytest.mark.parametrize("name", sorted(FILES))
def test_compiled_check_agrees_with_jsonschema(name):
    check = fast_check(name)
    assert check is not None
    val = validator(name)
    rng = random.Random(16)
    judged = {True: 0, False: 0}
    for path in FILES[name]:
        data = yaml.safe_load(path.read_text())
        assert check(data) and not list(val.iter_errors(data)), path  # the repository's files are valid
        for doc in _mutations(data, rng, 1500):
            expected = not any(True for _ in val.iter_errors(doc))
            assert check(doc) is expected, (path.name, doc)
            judged[expected] += 1
    assert judged[False] > 50 and judged[True] > 10, judged  # both answers were exercised


def test_unknown_keywords_are_refused_not_guessed():
    assert compile_check({"type": "object", "unevaluatedProperties": False}) is None
    assert compile_check({"prefixItems": [{"type": "string"}]}) is None
    assert compile_check({"$ref": "https://example.com/schema.json"}) is None
    check = compile_check({"$defs": {"n": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/$defs/n"}})
    assert check is not None
    assert check([1, 2]) and not check([1, 2.0]) and not check([True])
