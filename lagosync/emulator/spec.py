"""Validate emulator responses against Lago's OpenAPI spec (3.1, i.e. JSON Schema 2020-12).

Used by the conformance checks: ``SpecValidator(path).validate(method, template, status, body)``
returns a list of human-readable problems (empty when the body conforms).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from .spec_exceptions import GENERIC_ERROR_SCHEMAS, UNMATCHED_ROUTE, apply_all

SPEC_URI = "urn:lago:openapi"

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader]
try:  # libyaml is much faster on a 23k-line file
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def _norm(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template.rstrip("/") or "/")


class SpecValidator:
    def __init__(self, spec_path: Path | str):
        with open(spec_path, encoding="utf-8") as fh:
            spec = yaml.load(fh, Loader=_Loader)
        self.spec = apply_all(spec)
        self.registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(self.spec))
        self.paths = {_norm(p): ops for p, ops in self.spec["paths"].items()}
        self._validators: dict[str, Draft202012Validator] = {}

    def _deref(self, obj: dict) -> tuple[dict, str | None]:
        pointer = None
        while isinstance(obj, dict) and "$ref" in obj:
            pointer = obj["$ref"]
            node = self.spec
            for part in pointer.lstrip("#/").split("/"):
                node = node[part]
            obj = node
        return obj, pointer

    def schema_pointer(self, method: str, template: str, status: int) -> str | None | bool:
        """JSON pointer of the response schema; None if the operation/status is not documented."""
        generic = GENERIC_ERROR_SCHEMAS.get(status)
        if template == UNMATCHED_ROUTE:
            return generic
        ops = self.paths.get(_norm(template))
        if ops is None:
            return None
        op = ops.get(method.lower())
        if op is None:
            return None
        responses = op.get("responses", {})
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if response is None:
            return generic
        response, _ = self._deref(response)
        media = (response.get("content") or {}).get("application/json")
        if media is None or "schema" not in media:
            return False  # documented without a JSON body
        return self._pointer_for(media["schema"], f"{method} {template} {status}")

    def _pointer_for(self, schema: dict, key: str) -> str:
        if "$ref" in schema and len(schema) == 1:
            return schema["$ref"]
        # inline schema: register it under its own key
        pointer = f"#/x-inline/{len(self.spec.setdefault('x-inline', {}))}"
        self.spec["x-inline"][pointer.rsplit("/", 1)[1]] = schema
        return pointer

    def _validator(self, pointer: str) -> Draft202012Validator:
        v = self._validators.get(pointer)
        if v is None:
            v = Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=self.registry)
            self._validators[pointer] = v
        return v

    def validate(self, method: str, template: str, status: int, body) -> list[str]:
        where = f"{method} {template} → {status}"
        pointer = self.schema_pointer(method, template, status)
        if pointer is None:
            return [f"{where}: not documented in the spec and not listed in spec_exceptions"]
        if pointer is False:
            return [] if body in (None, b"", "") else [f"{where}: spec documents no JSON body"]
        assert isinstance(pointer, str)  # None and False are handled above
        errors = sorted(self._validator(pointer).iter_errors(body), key=lambda e: list(e.absolute_path))
        return [
            f"{where}: {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:300]}"
            for e in errors[:10]
        ]


@lru_cache(maxsize=2)
def load_validator(spec_path: str) -> SpecValidator:
    return SpecValidator(spec_path)
