"""A yes/no JSON Schema check compiled from the same schemas, to skip jsonschema on valid files.

``compile_check(schema)`` turns a Draft 2020-12 schema into one function ``instance -> bool`` that says
whether jsonschema (with schema.py's type checker: an integer is an ``int``, never ``19.0`` or a bool)
would report no error at all. It knows only the keywords listed in ``_KEYWORDS`` and refuses (returns
None) a schema using any other: jsonschema then validates as before. Only a True answer is used
(schema.check_schema skips jsonschema for a valid document); a False answer, or an error inside
the check, means jsonschema walks the document and produces the diagnostics exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from typing import Any

Check = Callable[[Any], bool]

# keywords that validate nothing (annotations); "format" is one too: schema.py passes no format checker
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default",
                          "format", "deprecated", "readOnly", "writeOnly", "markdownDescription"})
_KEYWORDS = frozenset({"type", "properties", "patternProperties", "additionalProperties", "required", "items",
                       "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
                       "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "uniqueItems",
                       "minProperties", "maxProperties", "propertyNames", "allOf", "anyOf", "oneOf", "not",
                       "if", "then", "else", "$ref"}) | _ANNOTATIONS


class Unsupported(Exception):
    """The schema uses something this compiler does not model: use jsonschema alone."""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": _is_number,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "array": lambda x: isinstance(x, list),
    "object": lambda x: isinstance(x, dict),
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it: true is not 1, lists and mappings compared item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return bool(a == b)


def _unique(items: list) -> bool:
    return all(not _equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))


def _any_of(tests: list[Check]) -> Check:
    def any_of(x: Any) -> bool:
        for test in tests:
            if test(x):
                return True
        return False
    return any_of


def _all_of(checks: list[Check]) -> Check:
    """Every check holds (a loop, not all() over a generator: a 10,000-org file runs this 500,000 times)."""
    def all_of(x: Any) -> bool:
        for check in checks:
            if not check(x):
                return False
        return True
    return all_of


def _size(kind: type[Sized], low: int | None, high: int | None) -> Check:
    """minLength/maxLength, minItems/maxItems, minProperties/maxProperties: only on their own type."""
    def check(x: Any) -> bool:
        if not isinstance(x, kind):
            return True
        n = len(x)
        return (low is None or n >= low) and (high is None or n <= high)
    return check


def _bound(keyword: str, limit: Any) -> Check:
    def check(x: Any) -> bool:
        if not _is_number(x):
            return True
        if keyword == "minimum":
            return bool(x >= limit)
        if keyword == "maximum":
            return bool(x <= limit)
        if keyword == "exclusiveMinimum":
            return bool(x > limit)
        return bool(x < limit)
    return check


class _Compiler:
    def __init__(self, root: dict):
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer in self.refs:
            return self.refs[pointer]
        if not pointer.startswith("#/"):
            raise Unsupported(pointer)
        target: Any = self.root
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise Unsupported(pointer)
            target = target[part]
        slot: list[Check] = []
        self.refs[pointer] = lambda x: slot[0](x)  # a recursive $ref reaches this before it is compiled
        slot.append(self.compile(target))
        return self.refs[pointer]

    def compile(self, schema: Any) -> Check:  # noqa: C901 - one branch per keyword
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        unknown = set(schema) - _KEYWORDS
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = [_TYPES[n] for n in names]
            checks.append(tests[0] if len(tests) == 1 else _any_of(tests))
        checks += self._object(schema) + self._array(schema) + self._scalar(schema) + self._logic(schema)
        if not checks:
            return lambda x: True
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)

    def _object(self, s: dict) -> list[Check]:
        out: list[Check] = []
        props = {k: self.compile(v) for k, v in (s.get("properties") or {}).items()}
        patterns = [(re.compile(p), self.compile(v)) for p, v in (s.get("patternProperties") or {}).items()]
        extra = self.compile(s["additionalProperties"]) if "additionalProperties" in s else None
        if props or patterns or extra is not None:
            def members(x: Any) -> bool:
                if not isinstance(x, dict):
                    return True
                for key, value in x.items():
                    check = props.get(key)
                    if check is not None and not check(value):
                        return False
                    matched = False
                    for pattern, pcheck in patterns:
                        if pattern.search(key):
                            matched = True
                            if not pcheck(value):
                                return False
                    if check is None and not matched and extra is not None and not extra(value):
                        return False
                return True
            out.append(members)
        required = list(s.get("required") or ())
        if required:
            def has_required(x: Any) -> bool:
                if isinstance(x, dict):
                    for key in required:
                        if key not in x:
                            return False
                return True
            out.append(has_required)
        if "propertyNames" in s:
            names = self.compile(s["propertyNames"])
            out.append(lambda x: not isinstance(x, dict) or all(names(k) for k in x))
        if "minProperties" in s:
            out.append(_size(dict, s["minProperties"], None))
        if "maxProperties" in s:
            out.append(_size(dict, None, s["maxProperties"]))
        return out

    def _array(self, s: dict) -> list[Check]:
        out: list[Check] = []
        if "items" in s:
            item = self.compile(s["items"])

            def items(x: Any) -> bool:
                if isinstance(x, list):
                    for value in x:
                        if not item(value):
                            return False
                return True
            out.append(items)
        if "minItems" in s:
            out.append(_size(list, s["minItems"], None))
        if "maxItems" in s:
            out.append(_size(list, None, s["maxItems"]))
        if s.get("uniqueItems") is True:
            out.append(lambda x: not isinstance(x, list) or _unique(x))
        return out

    def _scalar(self, s: dict) -> list[Check]:
        out: list[Check] = []
        if "enum" in s:
            values = list(s["enum"])
            if all(isinstance(v, str) for v in values):
                strings = frozenset(values)
                out.append(lambda x: isinstance(x, str) and x in strings)
            else:
                out.append(lambda x: any(_equal(x, v) for v in values))
        if "const" in s:
            const = s["const"]
            out.append(lambda x: _equal(x, const))
        if "pattern" in s:
            pattern = re.compile(s["pattern"])
            out.append(lambda x: not isinstance(x, str) or pattern.search(x) is not None)
        if "minLength" in s:
            out.append(_size(str, s["minLength"], None))
        if "maxLength" in s:
            out.append(_size(str, None, s["maxLength"]))
        for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if keyword in s:
                out.append(_bound(keyword, s[keyword]))
        return out

    def _logic(self, s: dict) -> list[Check]:
        out: list[Check] = []
        if "allOf" in s:
            parts = [self.compile(p) for p in s["allOf"]]
            out.append(lambda x: all(p(x) for p in parts))
        if "anyOf" in s:
            anys = [self.compile(p) for p in s["anyOf"]]
            out.append(lambda x: any(p(x) for p in anys))
        if "oneOf" in s:
            ones = [self.compile(p) for p in s["oneOf"]]
            out.append(lambda x: sum(1 for p in ones if p(x)) == 1)
        if "not" in s:
            negated = self.compile(s["not"])
            out.append(lambda x: not negated(x))
        if "if" in s:
            cond = self.compile(s["if"])
            then = self.compile(s.get("then", True))
            other = self.compile(s.get("else", True))
            out.append(lambda x: then(x) if cond(x) else other(x))
        return out


def compile_check(schema: dict) -> Check | None:
    """The yes/no check of ``schema``, or None when it uses a keyword this module does not model."""
    try:
        return _Compiler(schema).compile(schema)
    except (Unsupported, KeyError, TypeError, re.error):
        return None
