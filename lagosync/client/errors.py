"""Typed errors for Lago API failures, with messages a person understands.

Lago renders every error it handles as JSON (lago-behaviour#error-format):
``{"status": 404, "error": "Not Found", "code": "plan_not_found"}``,
``{"status": 422, "error": "Unprocessable Entity", "code": "validation_errors", "error_details": {...}}``.
Unhandled exceptions give a Rails 500 page that is not JSON (lago-behaviour#rails-500): it is reported
as such. No message built here ever contains the API key: only the method, the path relative to
``/api/v1``, Lago's body fields and, for a 401, the *name* of the environment variable.
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any
from urllib.parse import unquote

from ..errors import LagosyncError


class LagoApiError(LagosyncError):
    """Lago answered with an error (or could not be reached, see LagoConnectionError)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        error_details: Any = None,
        method: str | None = None,
        path: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error_details = error_details
        self.method = method
        self.path = path

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"method={self.method!r}, path={self.path!r}, message={self.message!r})"
        )

    @property
    def field_codes(self) -> dict[str, list[str]]:
        """``error_details`` flattened to ``{"charges.0.properties": ["invalid_amount"]}``."""
        return dict(_flatten_details(self.error_details))

    def has_detail(self, field: str, code: str) -> bool:
        return code in self.field_codes.get(field, [])


class LagoNotFound(LagoApiError):
    """404: ``<resource>_not_found`` (lago-behaviour#not-found-codes)."""


class LagoValidationError(LagoApiError):
    """422: ``validation_errors`` with ``error_details`` (or another 422 code, lago-behaviour#validation-errors)."""


class LagoUnauthorized(LagoApiError):
    """401: the API key was rejected."""


class LagoRateLimited(LagoApiError):
    """429 still returned after all retries."""


class LagoServerError(LagoApiError):
    """5xx (after retries where retrying is safe), or a non-JSON error body."""


class LagoConnectionError(LagoApiError):
    """The request could not be completed: connection refused or dropped, or a timeout."""


class LagoBadResponse(LagoApiError):
    """Lago answered, but not with what the request must get: a redirect, a read that is not a 200
    JSON object, a list without its items or ``meta``, implausible pagination, a page holding more
    items than asked or a body over the size limit. Never retried, never read as "Lago has none"."""


def _flatten_details(details: Any, prefix: str = ""):
    if isinstance(details, dict):
        for key, value in details.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                yield from _flatten_details(value, name)
            elif isinstance(value, list):
                yield name, [str(v) for v in value]
            else:
                yield name, [str(value)]
    elif isinstance(details, list):
        yield prefix or "details", [str(v) for v in details]
    elif details is not None:
        yield prefix or "details", [str(details)]


def _plural(resource: str) -> str:
    return "taxes" if resource == "tax" else resource + "s"


def _find_identifier(resource: str, path: str, body: Any) -> str | None:
    """The human identifier of the missing ``resource``: from the request body, then the path."""
    root = None
    if isinstance(body, dict) and len(body) == 1:
        (root,) = body.values()
    if isinstance(root, dict):
        for key in (f"{resource}_code", f"external_{resource}_id"):
            value = root.get(key)
            if isinstance(value, str) and value:
                return value
        if resource == "customer" and isinstance(root.get("external_customer_id"), str):
            return root["external_customer_id"]
    segments = [s for s in path.split("?")[0].split("/") if s]
    plural = _plural(resource)
    for i, seg in enumerate(segments[:-1]):
        if seg == plural:
            return unquote(segments[i + 1])
    return None


def error_from_response(
    status: int,
    body_text: str,
    *,
    method: str,
    path: str,
    request_json: Any = None,
    environment: str = "?",
    api_key_env: str | None = None,
    attempts: int = 1,
) -> LagoApiError:
    """Turn a Lago error response into a typed exception with a readable message."""
    where = f"{method} {path}"
    after = f" after {attempts} attempts" if attempts > 1 else ""
    try:
        body = json.loads(body_text) if body_text.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = "an empty body" if not body_text.strip() else "a non-JSON body"
        cls = LagoServerError if status >= 500 else LagoApiError
        if status == 401:
            cls = LagoUnauthorized
            return cls(_unauthorized_message(where, environment, api_key_env), status=status,
                       method=method, path=path)
        if status == 404:
            cls = LagoNotFound
        return cls(
            f"Lago returned HTTP {status} with {kind} on {where}{after} "
            f"(not a Lago error response; check the Lago server logs or the URL)",
            status=status, method=method, path=path,
        )

    code = body.get("code") if isinstance(body.get("code"), str) else None
    error = str(body.get("error") or "")
    details = body.get("error_details")
    kw: dict[str, Any] = dict(status=status, code=code, error_details=details, method=method, path=path)

    if status == 401:
        return LagoUnauthorized(_unauthorized_message(where, environment, api_key_env), **kw)
    if status == 404:
        if code and code.endswith("_not_found"):
            resource = code[: -len("_not_found")]
            ident = _find_identifier(resource, path, request_json)
            what = resource.replace("_", " ")
            subject = f"{what} '{ident}'" if ident else what
            return LagoNotFound(f"{subject} not found ({code}) on {where}", **kw)
        return LagoNotFound(f"not found ({code or error or 'HTTP 404'}) on {where}", **kw)
    if status == 422:
        subject = _subject(request_json)
        if code == "validation_errors" or details:
            fields = "; ".join(
                f"{name}: {', '.join(codes)}" for name, codes in _flatten_details(details)
            )
            head = f"Lago rejected {subject}" if subject else "Lago rejected the request"
            tail = f": {fields}" if fields else ""
            return LagoValidationError(f"{head} ({code or 'unprocessable'}) on {where}{tail}", **kw)
        return LagoValidationError(f"{_human(code, error)} ({code or 422}) on {where}", **kw)
    if status == 403:
        return LagoApiError(
            f"forbidden ({code or 'forbidden'}) on {where}: the API key for environment "
            f"'{environment}' is not allowed to do this (check its permissions in Lago)",
            **kw,
        )
    if status == 429:
        return LagoRateLimited(
            f"rate limited by Lago ({code or 'HTTP 429'}) on {where}{after}; "
            f"lower the client rate limit (LAGOSYNC_RATE_LIMIT) or retry later",
            **kw,
        )
    if status >= 500:
        return LagoServerError(
            f"Lago server error (HTTP {status}{': ' + error if error else ''}) on {where}{after}", **kw
        )
    if status == 400:
        return LagoApiError(f"bad request (HTTP 400) on {where}: {error or 'no detail'}", **kw)
    return LagoApiError(f"{_human(code, error)} ({code or f'HTTP {status}'}) on {where}", **kw)


def _human(code: str | None, error: str) -> str:
    if code:
        return code.replace("_", " ")
    return error or "request refused"


def _subject(request_json: Any) -> str | None:
    """``plan 'pro'`` from a request body ``{"plan": {"code": "pro", ...}}``."""
    if isinstance(request_json, dict) and len(request_json) == 1:
        ((root, obj),) = request_json.items()
        if isinstance(obj, dict):
            ident = obj.get("code") or obj.get("external_id")
            what = root.replace("_", " ")
            return f"{what} '{ident}'" if isinstance(ident, str) and ident else what
    return None


def _unauthorized_message(where: str, environment: str, api_key_env: str | None) -> str:
    source = f" (read from ${api_key_env})" if api_key_env else ""
    fix = f"set {api_key_env} to a valid key" if api_key_env else "check the API key"
    return (
        f"Lago rejected the API key for environment '{environment}'{source} on {where} "
        f"(401 Unauthorized): {fix} for this Lago organization"
    )


# Name-resolution failures (socket.gaierror and the texts of the C library's getaddrinfo).
_DNS_TEXTS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
              "no address associated", "getaddrinfo failed", "name resolution")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (httpx wraps httpcore, which wraps the OSError)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 8:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def transport_cause(exc: BaseException, host: str, *, timeout: float | None = None) -> tuple[str, str]:
    """(cause, what to do) of a failed connection to Lago, in words: the host name not resolved,
    the connection refused, a TLS failure, a timeout, a dropped connection; else the error's type."""
    chain = _chain(exc)
    texts = " ".join(str(e) for e in chain).lower()
    names = {type(e).__name__ for e in chain}
    seconds = f" within {timeout:g} s" if timeout else ""
    if any(isinstance(e, socket.gaierror) for e in chain) or any(t in texts for t in _DNS_TEXTS):
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
        return (f"the host name '{name}' could not be resolved (DNS)",
                "check the host in api_url (a typo?) and this machine's DNS and network")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in texts:
        return (f"connection refused by {host} (nothing listens there)",
                "is Lago running at that address and port? check the URL and the network")
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in texts or "certificate" in texts:
        detail = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), str(exc))
        if "certificate" in texts:
            hint = ("the server's certificate is not trusted: fix it, or point SSL_CERT_FILE at the CA that "
                    "signed it")
        else:
            hint = "check the URL's scheme and port (https to a plain-http port fails this way)"
        return f"the TLS handshake with {host} failed ({detail.strip()[:160]})", hint
    if "ConnectTimeout" in names:
        return (f"no answer from {host} while connecting{seconds}",
                "the host may be down, or a firewall drops the connection; check the URL and the network")
    if names & {"ReadTimeout", "WriteTimeout", "PoolTimeout"}:
        return (f"Lago did not answer{seconds}",
                "Lago may be overloaded; raise LAGOSYNC_TIMEOUT if it is only slow")
    if any(isinstance(e, (ConnectionResetError, BrokenPipeError)) for e in chain) or "RemoteProtocolError" in names:
        return (f"{host} closed the connection without an answer",
                "a proxy or load balancer may cut it; check the URL and the network")
    return type(exc).__name__, "check the URL and the network"
