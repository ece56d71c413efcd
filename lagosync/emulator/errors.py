"""Lago error bodies (lago-behaviour#error-format)."""

from __future__ import annotations


class ApiError(Exception):
    """An error response the emulator renders exactly as lago-api does."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    # lago-behaviour#error-format: 400 {"status":400,"error":"BadRequest: <rails message>"} (no code)
    return ApiError(400, {"status": 400, "error": f"BadRequest: {message}"})


def unauthorized() -> ApiError:
    # lago-behaviour#error-format: 401 {"status":401,"error":"Unauthorized"} (no code)
    return ApiError(401, {"status": 401, "error": "Unauthorized"})


def forbidden(code: str) -> ApiError:
    return ApiError(403, {"status": 403, "error": "Forbidden", "code": code})


def not_found(resource: str) -> ApiError:
    # lago-behaviour#not-found-codes: 404 code "<resource>_not_found"
    return ApiError(404, {"status": 404, "error": "Not Found", "code": f"{resource}_not_found"})


def method_not_allowed(code: str) -> ApiError:
    return ApiError(405, {"status": 405, "error": "Method Not Allowed", "code": code})


def unprocessable(details: dict) -> ApiError:
    # lago-behaviour#validation-errors: 422 validation_errors with error_details {field: [codes]}
    return ApiError(
        422,
        {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors", "error_details": details},
    )
