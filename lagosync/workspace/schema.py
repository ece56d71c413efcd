"""JSON Schema validation of workspace files, with errors turned into friendly Diagnostics.

The schemas live in ``schemas/`` at the repository root (they are also what editors use through the
``yaml-language-server`` modeline of each file). That one folder ships inside the package as
``lagosync.schemas`` (pyproject.toml maps the package onto it), so an installed wheel reads them with
importlib.resources; a checkout whose install predates that mapping falls back to the folder itself.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from ..errors import Diagnostic
from .fastschema import Check, compile_check
from .yamlpos import Document

SCHEMA_FILES = {
    "settings": "lagosync.schema.json",
    "plans": "plans.schema.json",
    "orgs": "orgs.schema.json",
    "pricing_tests": "pricing_tests.schema.json",
}

DECIMAL_PATTERN = r"^(0|[1-9][0-9]*)(\.[0-9]+)?$"


def schema_text(name: str) -> str:
    """The text of one schema file (``name`` as in SCHEMA_FILES' values)."""
    try:
        resource = importlib.resources.files("lagosync.schemas").joinpath(name)
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass  # an install made before lagosync.schemas was mapped: read the checkout's folder
    return (schemas_dir() / name).read_text(encoding="utf-8")


def schemas_dir() -> Path:
    """The ``schemas/`` folder of the checkout next to the package (editable install / source tree)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "schemas"
        if (candidate / SCHEMA_FILES["plans"]).is_file():
            return candidate
    # install defect, not a user mistake
    raise FileNotFoundError("lagosync JSON schemas not found: neither the lagosync.schemas package data "
                            "nor a schemas/ folder next to the package; reinstall lagosync")


def _is_integer(checker, instance) -> bool:
    # JSON Schema counts 19.0 as an integer; YAML `19.00` is a float, and money must be whole cents
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@functools.cache
def validator(name: str):
    schema = json.loads(schema_text(SCHEMA_FILES[name]))
    Draft202012Validator.check_schema(schema)
    return _Validator(schema)


@functools.cache
def fast_check(name: str) -> Check | None:
    """The yes/no check compiled from the same schema (fastschema), None when it cannot be compiled."""
    return compile_check(validator(name).schema)


def _passes(check: Check | None, data: Any) -> bool:
    if check is None:
        return False
    try:
        return check(data)
    except Exception:  # noqa: BLE001 - any surprise (e.g. a RecursionError): jsonschema decides
        return False


_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "a mapping (key: value)", "array": "a list", "null": "null",
}


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any, raw: str | None) -> str:
    if raw is not None and not isinstance(value, (dict, list)):
        return raw if not isinstance(value, str) else repr(value)
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, options) -> str:
    options = [str(o) for o in options if o is not None]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "allowed: " + ", ".join(options) if len(options) <= 12 else ""


def _is_decimal_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("pattern") == DECIMAL_PATTERN


def _number_hint(raw: str) -> str:
    return "Lago rejects numbers"


def _translate(doc: Document, err: ValidationError, top_schema: dict) -> list[Diagnostic]:
    path = tuple(err.absolute_path)
    inst = err.instance
    schema = err.schema if isinstance(err.schema, dict) else {}
    raw = doc.raw.get(path)
    v = err.validator
    field = str(path[-1]) if path and not isinstance(path[-1], int) else ""

    if v == "type":
        expected: list[str] | str = err.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        if _is_decimal_schema(schema) and isinstance(inst, (int, float)) and not isinstance(inst, bool):
            text = raw if raw is not None else str(inst)
            return [doc.diag(path, f'{text} is a number; write it as a decimal string "{text}"',
                             _number_hint(text))]
        if "integer" in expected and isinstance(inst, float):
            text = raw if raw is not None else repr(inst)
            if field.endswith("amount_cents"):
                try:
                    cents = Decimal(text) * 100
                    hint = (f"amount_cents counts cents: write {int(cents)} for {text}"
                            if cents == cents.to_integral_value() else "amount_cents counts whole cents")
                except InvalidOperation:
                    hint = "amount_cents counts whole cents"
                return [doc.diag(path, f"{text} is not an integer; money is integer cents", hint)]
            return [doc.diag(path, f"{text} is not an integer", "write a whole number")]
        if "integer" in expected and isinstance(inst, str) and inst.strip().lstrip("-").isdigit():
            return [doc.diag(path, f"{inst!r} is a string; write the number without quotes: {inst.strip()}")]
        if "boolean" in expected and isinstance(inst, str) and inst.lower() in ("true", "false", "yes", "no"):
            return [doc.diag(path, f"{inst!r} is a string, expected true or false", "remove the quotes")]
        if "string" in expected and not isinstance(inst, (dict, list)) and inst is not None:
            text = raw if raw is not None else str(inst)
            return [doc.diag(path, f"{text} is {_kind_of(inst)}, expected a string",
                             f'quote it: "{text}"')]
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        return [doc.diag(path, f"expected {want}, got {_kind_of(inst)} ({_show(inst, raw)})")]

    if v == "pattern":
        if _is_decimal_schema(schema):
            return [doc.diag(path, f"{inst!r} is not a plain non-negative decimal",
                             'write it like "0.002" or "19" (no sign, exponent, spaces or commas)')]
        desc = schema.get("description", "")
        return [doc.diag(path, f"{inst!r} has the wrong format", desc or f"it must match {err.validator_value}")]

    if v == "required":
        missing = [name for name in err.validator_value if isinstance(inst, dict) and name not in inst]
        out = []
        for name in missing:
            out.append(doc.diag(path, f"missing required field '{name}'", _required_hint(name, inst)))
        return out

    if v == "additionalProperties":
        props = schema.get("properties", {})
        extras = [k for k in inst if k not in props] if isinstance(inst, dict) else []
        out = []
        for key in extras:
            if key == "api_key":
                continue  # reported by the settings check with a dedicated message
            hint = _suggest(key, props.keys()) if props else "remove it"
            out.append(doc.diag(path + (key,), f"unknown field '{key}'", hint, key=True))
        return out

    if v == "enum":
        return [doc.diag(path, f"{_show(inst, raw)} is not a valid {field or 'value'}",
                         _suggest(inst, err.validator_value))]
    if v == "const":
        return [doc.diag(path, f"{_show(inst, raw)} must be {err.validator_value!r}")]
    if v == "not":
        if field == "api_key":
            return []  # the settings check reports it
        return [doc.diag(path, f"'{field}' is not allowed here", "remove it")]
    if v == "anyOf" and field in ("trial_period", "units"):
        # units: a plan fixed charge's quantity (lago-behaviour#fixed-charges), same shape as trial_period
        what, example = ("days", 'a number of days: 14 or "0.5"') if field == "trial_period" else (
            "a quantity", 'a number of units: 1 or "2.5"')
        if isinstance(inst, float):
            text = raw or repr(inst)
            return [doc.diag(path, f'{text} is a number; write it as a decimal string "{text}"',
                             f"{field} is {what}: an integer or a decimal string")]
        return [doc.diag(path, f"{_show(inst, raw)} is not a valid {field}", f"write {example}")]
    if v in ("minimum", "exclusiveMinimum"):
        return [doc.diag(path, f"{_show(inst, raw)} is too small (minimum {err.validator_value})")]
    if v == "maximum":
        return [doc.diag(path, f"{_show(inst, raw)} is too large (maximum {err.validator_value})")]
    if v == "minLength":
        return [doc.diag(path, "must not be empty" if err.validator_value == 1
                         else f"is shorter than {err.validator_value} characters")]
    if v == "maxLength":
        return [doc.diag(path, f"is longer than {err.validator_value} characters (Lago's limit)",
                         "shorten it")]
    if v == "minItems":
        return [doc.diag(path, f"needs at least {err.validator_value} item(s)")]
    if v == "maxItems":
        return [doc.diag(path, f"has more than {err.validator_value} items")]
    if v == "minProperties":
        return [doc.diag(path, f"needs at least {err.validator_value} entry")]
    if v == "maxProperties":
        return [doc.diag(path, f"has more than {err.validator_value} entries (Lago's limit)")]
    if v == "uniqueItems":
        return [doc.diag(path, "lists the same item twice", "remove the duplicate")]
    if v == "propertyNames":
        return [doc.diag(path, f"invalid key name: {err.message}")]
    return [doc.diag(path, err.message)]


_REQUIRED_HINTS = {
    "code": "every object needs a unique code",
    "name": "add a human-readable name",
    "external_id": "the org id, e.g. org_123",
    "plan_code": "name the plan this subscription is on",
    "billable_metric_code": "name the metric this charge prices",
    "charge_model": "one of standard, graduated, volume, package, percentage, graduated_percentage, dynamic",
    "properties": "each charge model needs its properties, e.g. amount: \"0.002\" for standard",
    "amount_cents": "integer cents, e.g. 1900 for 19.00",
    "amount_currency": "an ISO currency code, e.g. USD",
    "interval": "one of weekly, monthly, quarterly, semiannual, yearly",
    "api_url": "the Lago API URL, e.g. https://api.getlago.com",
    "api_key_env": "the NAME of the environment variable holding the API key, e.g. LAGO_API_KEY",
}


def _required_hint(name: str, inst: Any) -> str:
    return _REQUIRED_HINTS.get(name, f"add {name}")


def _error_sort_key(err: ValidationError):
    return (list(map(str, err.absolute_path)), err.validator)


def check_schema(doc: Document, name: str) -> tuple[list[Diagnostic], set[tuple]]:
    """All schema errors of one document as Diagnostics (deduplicated), and the paths that failed.

    The paths let the semantic checks skip objects that are already reported as malformed.
    """
    val = validator(name)
    if _passes(fast_check(name), doc.data):
        return [], set()  # jsonschema would find nothing: it walks only the documents with an error
    out: list[Diagnostic] = []
    paths: set[tuple] = set()
    seen: set[tuple] = set()
    for err in sorted(val.iter_errors(doc.data), key=_error_sort_key):
        paths.add(tuple(err.absolute_path))
        for d in _translate(doc, err, val.schema):
            ident = (d.line, d.column, d.path, d.message)
            if ident not in seen:
                seen.add(ident)
                out.append(d)
    return out, paths
