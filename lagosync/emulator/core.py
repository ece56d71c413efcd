"""The request-handling core of the emulator: routing, auth, envelopes, pagination.

Resource handlers live in :mod:`lagosync.emulator.resources`; this module turns
``(method, path, query, headers, body)`` into an :class:`EmulatorResponse`.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, unquote

from . import recorder as _recorder
from .common import EmulatorResponse, Encoded, Request, encode
from .errors import ApiError, not_found, unauthorized
from .resources import Resources
from .spec_exceptions import UNMATCHED_ROUTE
from .store import Store

API_PREFIX = "/api/v1"
DEFAULT_PER_PAGE = 100  # lago-behaviour#pagination
KEPT_PAGES_BYTES = 64 * 2**20  # at most this much of encoded list pages is kept (Emulator.paginate)


Route = tuple[str, str, "re.Pattern[str]", Callable]


# lago-behaviour#route-segments: how config/routes.rb matches a path segment. Codes of plans (and their
# charges and fixed charges), metrics, add-ons, coupons and taxes are declared `code: /.*/`: any
# character, slashes and dots included. An event's transaction id is `[^/]+`. Every other segment
# (customer and subscription external ids, ids, metadata keys) is Rails' default `[^/.?]+`, and each
# route may end with an optional `.<format>` suffix, so `/customers/acme.com` means customer `acme`.
ANY_CHARACTER_SEGMENTS = frozenset({"code", "charge_code", "fixed_charge_code"})
NO_SLASH_SEGMENTS = frozenset({"transaction_id"})
_DEFAULT_SEGMENT = r"([^/.?]+)"
_FORMAT_SUFFIX = r"(?:\.[^/.?]+)?"


def _segment(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in ANY_CHARACTER_SEGMENTS:
        return "(.*)"
    if name in NO_SLASH_SEGMENTS:
        return "([^/]+)"
    return _DEFAULT_SEGMENT


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{([a-z_]+)\}", _segment, template)
    return re.compile(f"^{pattern}{_FORMAT_SUFFIX}$")


class Emulator:
    """A stateful Lago-compatible API (lago-api v1.51.0 behaviour, per docs/lago-behaviour.md).

    Async jobs (plan destroy, lago-behaviour#emulator-async-jobs) wait ``job_delay``: a number of
    requests (default 0: the job runs at the start of the next request, so the DELETE response shows
    ``pending_deletion: true`` and later reads see the job done; 2: the next two requests still see the
    plan pending deletion), or a ``timedelta`` on the emulator's clock. ``defer_jobs=True`` keeps them
    queued until :meth:`run_jobs` is called.
    """

    def __init__(self, db_path=":memory:", api_key="lago-local-key", *, clock=None, defer_jobs=False,
                 job_delay: int | timedelta = 0, premium: bool = False):
        self.api_key = api_key
        # a server with a verified LAGO_LICENSE (lago-behaviour#premium-license); off like a Lago without one
        self.premium = premium
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(timezone.utc))
        self.store = Store(db_path)
        self.defer_jobs = defer_jobs
        self.job_delay = job_delay
        self._requests = 0  # authenticated requests so far (job_delay counts them)
        self._jobs: list[tuple[int | datetime, Callable[[], None]]] = []  # (due, job)
        self._lock = threading.RLock()
        self._seq = 0
        # encoded list pages, kept until the next commit (see paginate): (kept, page, per_page) -> bytes
        self._pages: dict[tuple, bytes] = {}
        self._pages_generation = -1
        self._pages_bytes = 0
        self.res = Resources(self)
        self.routes: list[Route] = [(m, t, _compile(t), h) for m, t, h in self.res.routes()]

    # ------------------------------------------------------------------ helpers for resources
    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        return now

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def stamp(self) -> str:
        """A sortable creation stamp: ISO time with microseconds plus a sequence number."""
        self._seq += 1
        return f"{self.now().astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')}#{self._seq:012d}"

    def enqueue(self, job: Callable[[], None]) -> None:
        """Queue an async job; it runs once ``job_delay`` has passed (see the class docs)."""
        due: int | datetime
        if isinstance(self.job_delay, timedelta):
            due = self.now() + self.job_delay
        else:
            due = self._requests + max(0, int(self.job_delay)) + 1  # the request that runs it
        self._jobs.append((due, job))

    def pending_jobs(self) -> int:
        return len(self._jobs)

    def set_organization_name(self, name: str) -> None:
        """Name the organization, as Lago's UI does (the API cannot: lago-behaviour#organizations-endpoint)."""
        with self._lock:
            self.res.org_rename(name)
            self.store.commit()

    def run_jobs(self) -> None:
        """Run every queued async job (e.g. plan destroy) now, each in its own unit of work."""
        with self._lock:
            self._run_jobs(everything=True)

    def _due(self, due: int | datetime) -> bool:
        if isinstance(due, datetime):
            return due <= self.now()
        return due <= self._requests

    def _run_jobs(self, everything: bool = False) -> None:
        while self._jobs:
            ready = [entry for entry in self._jobs if everything or self._due(entry[0])]
            if not ready:
                return
            self._jobs.remove(ready[0])
            job = ready[0][1]
            try:
                job()
                self.store.commit()
            except BaseException:
                self.store.rollback()
                raise

    def _advance_time(self) -> None:
        """Time-driven subscription changes (lago-behaviour#emulator-clock), committed on their own before the request."""
        try:
            if self.res.tick():
                self.store.commit()
        except BaseException:
            self.store.rollback()
            raise

    # ------------------------------------------------------------------ entry point
    def handle(self, method: str, path: str, query=None, headers=None, body: bytes = b"") -> EmulatorResponse:
        method = method.upper()
        query = list(query or [])
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if "?" in path:
            path, _, qs = path.partition("?")
            query = parse_qsl(qs, keep_blank_values=True) + query
        with self._lock:
            template, status, payload = self._dispatch(method, path, query, headers, body or b"")
        encoded = isinstance(payload, Encoded)
        data = payload.data if encoded else encode(payload) if payload is not None else b""
        if _recorder.recorder.enabled:
            _recorder.recorder.record(method, template, status, payload.value() if encoded else payload)
        return EmulatorResponse(status, {"content-type": "application/json; charset=utf-8"}, data)

    def _dispatch(self, method, path, query, headers, body):
        if path.startswith(API_PREFIX):
            sub = path[len(API_PREFIX):] or "/"
        elif path.rstrip("/") == "/health":
            sub = None
        else:
            return UNMATCHED_ROUTE, 404, not_found("resource").body
        if sub is None or (sub.rstrip("/") == "/health"):
            # lago-behaviour#health-endpoint: GET /health needs no auth
            return "/health", 200, self.res.health()
        sub = sub.rstrip("/") or "/"
        route = None
        for m, template, regex, handler in self.routes:
            if m != method:
                continue
            match = regex.match(sub)
            if match:
                route = (template, handler, [unquote(g) for g in match.groups()])
                break
        template = route[0] if route else UNMATCHED_ROUTE
        # lago-behaviour#bearer-auth: Authorization: Bearer <key>; the token is the 2nd word of the header
        words = headers.get("authorization", "").split()
        if len(words) < 2 or words[1] != self.api_key:
            return template, 401, unauthorized().body
        self._requests += 1
        if not self.defer_jobs and self._jobs:
            self._run_jobs()
        self._advance_time()
        if route is None:
            # unmatched route → 404 resource_not_found (lago-behaviour#not-found-codes)
            return template, 404, not_found("resource").body
        names = re.findall(r"\{([a-z_]+)\}", template)
        req = Request(method, sub, template, dict(zip(names, route[2], strict=True)), query, body)
        try:
            payload = route[1](req)
            self.store.commit()
            return template, 200, payload
        except ApiError as exc:
            self.store.rollback()
            return template, exc.status, exc.body
        except BaseException:
            self.store.rollback()
            raise

    # ----------------------------------------------------------------- pagination (lago-behaviour#pagination)
    def paginate(self, req: Request, rows: list, root: str, serialize: Callable[[dict], dict], *,
                 kept: tuple | None = None) -> dict | Encoded:
        """One page of ``rows`` under ``root``, each row as ``serialize`` answers it.

        ``kept``: a key that names ``rows`` and all that ``serialize`` makes of them besides the stored
        objects (the day, for an answer that depends on it). With it, the page's encoded items are
        kept until the next commit, as ``ResourceBase._listed`` keeps the rows: a client that reads
        the same list again (every ``plan``) is answered without serialising and encoding 100 objects
        per page again, the emulator's own CPU that competed with the client's in a benchmark."""
        page = _positive_int(req.q("page"), 1)
        per_page = _positive_int(req.q("per_page"), DEFAULT_PER_PAGE)
        total = len(rows)
        total_pages = math.ceil(total / per_page) if total else 0
        chunk = rows[(page - 1) * per_page: page * per_page]
        meta = {
            # lago-behaviour#pagination: with 0 rows current_page = 0 and total_pages = 0
            "current_page": page if total else 0,
            "next_page": page + 1 if page < total_pages else None,
            "prev_page": page - 1 if page > 1 and total else None,
            "total_pages": total_pages,
            "total_count": total,
        }
        if kept is None or self.store.dirty:
            return {root: [serialize(r) for r in chunk], "meta": meta}
        if self._pages_generation != self.store.generation:  # a commit wrote: nothing kept holds
            self._pages, self._pages_generation, self._pages_bytes = {}, self.store.generation, 0
        key = (kept, page, per_page)
        items = self._pages.get(key)
        if items is None:
            items = encode([serialize(r) for r in chunk])
            if self._pages_bytes + len(items) <= KEPT_PAGES_BYTES:
                self._pages[key] = items
                self._pages_bytes += len(items)
        return Encoded(b"{" + encode(root) + b":" + items + b',"meta":' + encode(meta) + b"}")

    def close(self) -> None:
        self.store.close()


def _positive_int(value, default: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return default
    return n if n > 0 else default
