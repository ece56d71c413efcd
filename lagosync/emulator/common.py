"""What the emulator core and the resource handlers share: the Lago version, the request and
response objects, the timestamp format. It imports nothing else of the emulator but its errors,
so every other module can import it at top level."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import bad_request

LAGO_VERSION = "1.51.0"


def encode(value) -> bytes:
    """JSON as the emulator answers it (compact)."""
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Encoded:
    """An answer a handler gives already encoded (``Emulator.paginate`` of a page it kept)."""

    data: bytes

    def value(self):
        return json.loads(self.data)


@dataclass
class EmulatorResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body) if self.body else None


@dataclass
class Request:
    method: str
    path: str  # path under /api/v1, e.g. /plans/pro
    template: str  # route template, e.g. /plans/{code}
    params: dict[str, str]  # path params
    query: list[tuple[str, str]]
    raw_body: bytes
    _body: object = field(default=None, repr=False)
    _parsed: bool = False

    def q(self, name: str, default=None):
        for k, v in self.query:
            if k == name:
                return v
        return default

    def qlist(self, name: str) -> list[str]:
        return [v for k, v in self.query if k in (name, f"{name}[]")]

    @property
    def body(self):
        if not self._parsed:
            self._parsed = True
            if self.raw_body and self.raw_body.strip():
                try:
                    self._body = json.loads(self.raw_body)
                except ValueError as exc:
                    raise bad_request(f"Error occurred while parsing request parameters: {exc}") from None
            else:
                self._body = {}
        return self._body

    def root(self, name: str) -> dict:
        """lago-behaviour#request-root-key: write bodies must be wrapped in the singular root key; missing → 400."""
        body = self.body
        value = body.get(name) if isinstance(body, dict) else None
        if not isinstance(value, dict) or (not value and name != "metadata"):
            raise bad_request(f"param is missing or the value is empty or invalid: {name}")
        return value


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
