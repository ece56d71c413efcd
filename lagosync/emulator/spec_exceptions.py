"""Where lago-api v1.51.0 and its OpenAPI spec disagree, the emulator follows the server.

Every such exception lives here (and only here), as a patch applied to the in-memory spec before
validating recorded emulator responses. Each cites its docs/lago-behaviour.md entry (lago-behaviour#emulator-spec-exceptions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SpecException:
    name: str
    cites: str  # the docs/lago-behaviour.md entry (lago-behaviour#<id>)
    why: str
    patch: Callable[[dict], None]


def _schemas(spec: dict) -> dict:
    return spec["components"]["schemas"]


def _find_property(spec: dict, schema: dict, name: str) -> dict | None:
    """The definition of property ``name`` in ``schema``, following $ref and allOf."""
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    if name in schema.get("properties", {}):
        return schema["properties"]
    for sub in schema.get("allOf", []) + schema.get("anyOf", []) + schema.get("oneOf", []):
        found = _find_property(spec, sub, name)
        if found is not None:
            return found
    return None


def _make_nullable(spec: dict, schema_name: str, dotted: str) -> None:
    schema = _schemas(spec)[schema_name]
    *parents, leaf = dotted.split(".")
    for part in parents:
        props = _find_property(spec, schema, part)
        assert props is not None, f"{schema_name}.{dotted}: no {part} in the spec"
        schema = props[part]
    props = _find_property(spec, schema, leaf)
    if props is None:
        raise KeyError(f"{schema_name}.{dotted} not in the spec")
    prop = props[leaf]
    if "$ref" in prop or "allOf" in prop:
        props[leaf] = {"anyOf": [prop, {"type": "null"}]}
        return
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "null" not in types:
        prop["type"] = types + ["null"]
    if "enum" in prop and None not in prop["enum"]:
        prop["enum"] = list(prop["enum"]) + [None]


# (schema, property path): the server serialises these attributes as they are stored, i.e. null
# when never set (lago-behaviour#response-fields: every serializer attribute is rendered, e.g.
# "description": null / "expression": null), while the spec types them as non-null.
NULLABLE_IN_RESPONSES: tuple[tuple[str, str, str], ...] = (
    ("BillableMetricObject", "expression", "lago-behaviour#response-fields (expression optional)"),
    ("PlanObject", "description", "lago-behaviour#response-fields"),
    ("PlanObject", "invoice_display_name", "lago-behaviour#response-fields"),
    ("PlanObject", "trial_period", "lago-behaviour#response-fields (trial_period optional float)"),
    ("SubscriptionObject", "cancellation_reason", "lago-behaviour#response-fields"),
    ("SubscriptionObject", "on_termination_credit_note", "lago-behaviour#subscription-termination-options (only stored for pay-in-advance plans)"),
    ("SubscriptionObject", "payment_method.payment_method_id", "lago-behaviour#response-fields"),
    ("CustomerObject", "billing_configuration.document_locale", "lago-behaviour#customer-response"),
    ("CustomerObject", "billing_configuration.invoice_grace_period", "lago-behaviour#premium-ignored-fields (premium-only, unset)"),
    ("CustomerObject", "billing_configuration.payment_provider", "lago-behaviour#customer-response (null = no provider)"),
    ("CustomerObject", "billing_configuration.payment_provider_code", "lago-behaviour#customer-response"),
    ("CustomerObject", "billing_configuration.provider_customer_id", "lago-behaviour#customer-response"),
)


def _nullable_attributes(spec: dict) -> None:
    for schema_name, dotted, _why in NULLABLE_IN_RESPONSES:
        _make_nullable(spec, schema_name, dotted)


def _tax_rate_float(spec: dict) -> None:
    _schemas(spec)["TaxObject"]["properties"]["rate"] = {"type": ["number", "string"]}


def _country_xk(spec: dict) -> None:
    for name in ("Country", "CountryOrNull"):
        enum = _schemas(spec)[name]["enum"]
        if "XK" not in enum:
            enum.append("XK")


def _get_organizations(spec: dict) -> None:
    path = spec["paths"]["/organizations"]
    if "get" not in path:
        path["get"] = {"operationId": "findOrganization (undocumented)", "responses": path["put"]["responses"]}


def _health(spec: dict) -> None:
    schema = {
        "type": "object",
        "required": ["version", "github_url", "message"],
        "properties": {"version": {"type": "string"}, "github_url": {"type": "string"}, "message": {"type": "string"}},
    }
    spec["paths"].setdefault("/health", {"get": {
        "operationId": "health (undocumented)",
        "responses": {"200": {"description": "health", "content": {"application/json": {"schema": schema}}}},
    }})


def _current_usage(spec: dict) -> None:
    charge = _schemas(spec)["CustomerChargeUsageObject"]["properties"]["charge"]["properties"]["charge_model"]
    charge["enum"] = sorted(set(charge["enum"]) | {"graduated_percentage", "dynamic", "custom"})
    item = _schemas(spec)["CustomerChargeFiltersUsageObject"]["items"]["properties"]["invoice_display_name"]
    item["type"] = ["string", "null"]


SPEC_EXCEPTIONS: tuple[SpecException, ...] = (
    SpecException(
        "current-usage-as-stored",
        "lago-behaviour#current-usage",
        "A current usage renders each charge's charge_model as stored (graduated_percentage, dynamic and "
        "custom too) and a filter's invoice_display_name as stored (null when unset, and always for the "
        "default bucket); the spec lists five models and a non-null name.",
        _current_usage,
    ),
    SpecException(
        "health-undocumented",
        "lago-behaviour#health-endpoint",
        "GET /health (outside /api/v1, no auth) returns {version, github_url, message}; not in the spec.",
        _health,
    ),
    SpecException(
        "unset-attributes-are-null",
        "lago-behaviour#response-fields",
        "Attributes never set are rendered as null by the serializers; see NULLABLE_IN_RESPONSES.",
        _nullable_attributes,
    ),
    SpecException(
        "tax-rate-is-a-float",
        "lago-behaviour#tax-response, lago-behaviour#spec-discrepancies",
        "Tax `rate` is stored as a float and rendered as a JSON number; the spec types it as a string.",
        _tax_rate_float,
    ),
    SpecException(
        "country-xk",
        "lago-behaviour#customer-country",
        "Lago registers XK (Kosovo) as a country besides the ISO 3166-1 codes; the spec's Country enums lack it.",
        _country_xk,
    ),
    SpecException(
        "get-organizations-undocumented",
        "lago-behaviour#organizations-endpoint, lago-behaviour#spec-discrepancies",
        "GET /organizations exists in lago-api's routes but is not in the spec; it renders the same "
        "organization object as PUT /organizations.",
        _get_organizations,
    ),
)

# Error statuses an operation does not list: lago-api renders its error bodies from every controller
# (401 from auth, 400 ParameterMissing, 404 RecordNotFound, 422 validation, ..., lago-behaviour#error-format), while the
# spec lists only some statuses per operation. Such bodies are validated against the generic schema.
GENERIC_ERROR_SCHEMAS: dict[int, str] = {
    400: "#/components/schemas/ApiErrorBadRequest",
    401: "#/components/schemas/ApiErrorUnauthorized",
    403: "#/components/schemas/ApiErrorForbidden",
    404: "#/components/schemas/ApiErrorNotFound",
    405: "#/components/schemas/ApiErrorNotAllowed",
    422: "#/components/schemas/ApiErrorUnprocessableEntity",
}
# Requests that match no route get 404 resource_not_found (or 401 before auth, lago-behaviour#not-found-codes); the
# recorder files them under this template.
UNMATCHED_ROUTE = "<unmatched route>"

# Not patches but facts the validator relies on (lago-behaviour#writes-return-200, lago-behaviour#cloud-rate-limits): the server never returns 201 (successful
# writes are 200, which is what the spec lists), and 429 / rate-limit headers are Lago Cloud gateway
# behaviour absent from the spec; the emulator produces 429 only from injected faults (lagosync.emulator.faults),
# which never reach the recorder.


def apply_all(spec: dict) -> dict:
    for exc in SPEC_EXCEPTIONS:
        exc.patch(spec)
    return spec
