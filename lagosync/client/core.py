"""``LagoClient``: async httpx client for Lago's REST API (``/api/v1``).

What it does for every call (issue 3):
- base URL normalisation, Bearer auth, ``User-Agent: lagosync/<version>``, JSON envelopes (lago-behaviour#request-root-key);
- bounded concurrency (an ``asyncio.Semaphore``) and an optional client-side rate limit (lago-behaviour#cloud-rate-limits);
- retries with exponential backoff and jitter on 429 (``Retry-After`` / ``X-RateLimit-Reset``),
  502/503/504, connection errors and timeouts, and for reads (GET) also on 500; every wait is
  capped (``MAX_RETRY_AFTER`` each, ``MAX_TOTAL_WAIT`` per request) and a long one is logged;
- requests paced from the ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` headers of any host
  (lago-behaviour#cloud-rate-limits, ``_HeaderPacer``): what the window still allows is spread over
  the time to its reset, and when none remain no request starts before the window resets;
- a total deadline per attempt (``deadline``, ``LAGOSYNC_DEADLINE``): a server that answers one byte
  at a time cannot stall a run; bodies over ``MAX_RESPONSE_BYTES`` are refused while being read;
- what a read gets is checked, never guessed (``LagoBadResponse``): a GET must be answered 200 with
  a JSON object, a list with its items under the expected root and ``meta``; a redirect is an error
  naming its ``Location``; pagination is bounded (``MAX_PAGES``, ``meta`` consistency, repeated or
  backwards ``next_page``, pages longer than ``per_page``);
- writes that create something are never blindly re-sent: Lago has no idempotency keys (lago-behaviour#no-idempotency-keys),
  so after an *ambiguous* failure (the request may have reached Lago: connection dropped after
  sending, read timeout, 502/503/504) the client first looks the object up by its natural key and
  returns it if the create had landed; a ``value_already_exist`` 422 on such a retry is success too.

The API key is kept in a ``_Secret`` whose repr is ``'***'``; it is only revealed into the
``Authorization`` header and never into a message, log line or repr: it is registered with
``lagosync.errors.register_secret``, and a server's answer is redacted before an error is built from it.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import json as jsonlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from .. import __version__
from ..errors import LagosyncError, UserError, redact, register_secret
from .errors import (
    LagoApiError,
    LagoBadResponse,
    LagoConnectionError,
    LagoNotFound,
    LagoRateLimited,
    LagoServerError,
    LagoValidationError,
    error_from_response,
    transport_cause,
)

log = logging.getLogger("lagosync.client")

PER_PAGE = 100  # lago-behaviour#pagination: Lago's default page size, no server cap
RETRY_STATUSES = frozenset({429, 502, 503, 504})
READ_RETRY_STATUSES = RETRY_STATUSES | {500}  # a read changes nothing: safe to repeat after any 5xx
AMBIGUOUS_STATUSES = frozenset({502, 503, 504})  # a proxy may have forwarded the request
READ_METHODS = frozenset({"GET", "HEAD"})
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 60.0  # the longest single wait accepted from Retry-After / X-RateLimit-Reset
MAX_TOTAL_WAIT = 300.0  # all the waits of one request together
WAIT_NOTICE = 5.0  # a wait this long or longer is logged as a warning (stderr), not only at -v
DEFAULT_DEADLINE = 120.0  # seconds for one attempt: connect, send and the whole answer
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # a larger answer is refused while it is read
MAX_PAGES = 10_000  # pages of one list (1,000,000 objects at PER_PAGE); more is refused
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# Transport errors raised before any byte of the request left: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Configuration problems: retrying cannot help.
_FATAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError, httpx.InvalidURL)


_TIMEOUT = getattr(asyncio, "timeout", None)  # asyncio.timeout (3.11+); else asyncio.wait_for


class DeadlineExceeded(httpx.ReadTimeout):
    """One attempt took longer than the client's ``deadline`` in total (not retried)."""


class _TooLarge(Exception):
    """The answer grew past MAX_RESPONSE_BYTES while being read."""


class _Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def normalize_base_url(url: str) -> str:
    """``https://host``, ``https://host/``, ``https://host/api/v1[/]`` -> ``https://host/api/v1``."""
    raw = (url or "").strip()
    parts = urlsplit(raw)
    if "@" in parts.netloc:
        # httpx would turn user:password into Basic auth (replacing the Bearer key), and the URL is
        # printed in plans, PR comments and messages
        shown = urlunsplit((parts.scheme, "***@" + parts.netloc.rpartition("@")[2], parts.path, "", ""))
        raise UserError(
            f"the Lago API URL {shown} holds a user name or password: remove the 'user:password@' part; "
            f"Lago authenticates with the API key from the variable named by api_key_env"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            f"invalid Lago API URL {raw!r}: use http(s)://host, for example https://api.getlago.com"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v1"):
        path = path + "/api/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _check_key(api_key: str, environment: str, api_key_env: str | None) -> str:
    key = (api_key or "").strip()
    source = f" (from ${api_key_env})" if api_key_env else ""
    if not key:
        raise UserError(f"the API key for environment '{environment}'{source} is empty")
    if any(not (32 < ord(ch) < 127) for ch in key):
        raise UserError(
            f"the API key for environment '{environment}'{source} contains spaces or non-printable "
            f"characters; copy it again from Lago (Developers > API keys)"
        )
    return key


def seg(value: str) -> str:
    """One URL path segment: codes may contain any character (lago-behaviour#codes-any-characters)."""
    return quote(str(value), safe="")


def id_seg(value: str) -> str:
    """A customer's or subscription's id as one path segment, its dots sent as ``%2E``: Lago's router
    cuts a literal dot there (the rest would be read as a response format), and decodes ``%2E``
    after matching (lago-behaviour#route-segments)."""
    return seg(value).replace(".", "%2E")


# the collections whose id segment is cut at a literal dot (lago-behaviour#route-segments)
_ID_COLLECTIONS = ("customers", "subscriptions")


class UnroutableId(LagosyncError):
    """A request path holding a literal dot where Lago's router would cut it (never sent)."""


def unroutable(path: str) -> str | None:
    """The id segment of ``path`` (relative to the API root) that Lago would cut at a literal dot."""
    if path.startswith(("http://", "https://")):
        return None
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) > 1 and parts[0] in _ID_COLLECTIONS and "." in parts[1]:
        return parts[1]
    return None


def _object_path(collection: str, ident: str) -> str:
    return f"/{collection}/{id_seg(ident) if collection in _ID_COLLECTIONS else seg(ident)}"


def _same_object(collection: str, ident: str, answer: Any) -> None:
    """A write addressed by a customer's or subscription's id must be answered for that id: anything
    else means the request reached another object (lago-behaviour#route-segments)."""
    if collection not in _ID_COLLECTIONS or not isinstance(answer, dict) or "external_id" not in answer:
        return
    if answer.get("external_id") != ident:
        raise LagosyncError(
            f"Lago answered a write to {collection[:-1]} {ident!r} with {collection[:-1]} "
            f"{answer.get('external_id')!r}: the request reached another object (a proxy may have decoded %2E "
            "in the path); check both in Lago's UI")


def has_dot(ident: str | None) -> bool:
    """True for an id that is read through a filtered list rather than its own path (lago-behaviour#route-segments)."""
    return ident is not None and "." in str(ident)


class _RateLimiter:
    """Spacing limiter (a token bucket of capacity 1): at most ``rate`` request starts per second."""

    def __init__(self, rate: float, sleep, clock):
        self.interval = 1.0 / rate
        self._sleep = sleep
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            start = max(self._next, now)
            self._next = start + self.interval
            wait = start - now
        if wait > 0:
            await self._sleep(wait)


class _HeaderPacer:
    """Request starts paced from the ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` headers of any
    host's answers (lago-behaviour#cloud-rate-limits), shared by the client's concurrent requests.

    The newest answer says how many requests its window still allows and when it resets. Every request
    started after that one is taken off that budget, and what is left is spread evenly over the time
    to the reset (a token bucket whose rate is the budget over that time); with nothing left no
    request starts before the reset. A request started before the newest answer's and still
    unanswered may not have been counted yet: the last requests of a budget start only when it cannot
    take them over the limit, or once it has been answered (a wait for an answer, not for time). Once
    the reset has passed nothing is known until the next answer, which counts every request of the new
    window. Starts are decided one at a time, under a lock, so a wait is slept by one request while the
    others queue behind it.

    The pacer's time never runs behind the end of a wait it or the client slept: an injected sleep
    that lets no clock time pass still ends a hold (``passed``)."""

    def __init__(self, sleep: Callable[[float], Awaitable[Any]], clock: Callable[[], float], waits: list[float]):
        self._sleep = sleep
        self._clock = clock
        self._waits = waits  # the client's record of every wait it chose
        self._lock = asyncio.Lock()
        self._answer = asyncio.Event()  # set (and replaced) at every answer
        self._floor = 0.0  # the end of the latest wait slept
        self._started = 0  # requests started so far; each gets the next number
        self._unanswered: set[int] = set()
        self._answered = 0  # number of the newest answer with the headers, 0: nothing known
        self._remaining = 0  # what that answer's window still allowed
        self.resets_at = 0.0
        self._last = 0.0  # when the latest request started (its slot, when it waited for one)
        self.sleeps = 0  # waits slept by the pacer (a bound on them is tested)

    def now(self) -> float:
        return max(self._clock(), self._floor)

    def passed(self, until: float) -> None:
        """A wait until ``until`` (pacer time) was slept."""
        self._floor = max(self._floor, until)

    def _budget(self, now: float) -> tuple[int, int] | None:
        """(starts still allowed, of which surely allowed) before the reset; None: nothing known."""
        if not self._answered:
            return None
        if now >= self.resets_at:
            self._answered = 0  # a new window: its first answers say what it allows
            return None
        allowed = self._remaining - (self._started - self._answered)
        uncounted = sum(1 for n in self._unanswered if n < self._answered)
        return allowed, allowed - uncounted

    def hold_left(self) -> float:
        """Seconds until the window resets when it allows no more requests, else 0."""
        now = self.now()
        budget = self._budget(now)
        if budget is None or budget[0] >= 1:
            return 0.0
        return self.resets_at - now

    async def start(self, on_hold: Callable[[float], None]) -> int:
        """Wait for the next request's turn; its number, for ``answered``."""
        async with self._lock:
            waited = False
            while True:
                now = self.now()
                budget = self._budget(now)
                if budget is None:
                    slot = now
                elif budget[0] < 1:
                    slot = self.resets_at
                    on_hold(slot - now)
                elif budget[1] < 1:
                    await self._answer.wait()  # an earlier request's answer says whether it was counted
                    continue
                else:
                    slot = self._last + (self.resets_at - self._last) / (budget[0] + 1)
                if slot <= now:
                    break
                self.sleeps += 1
                self._waits.append(slot - now)
                await self._sleep(slot - now)
                self.passed(slot)
                waited = True
            # a start that waited for its slot is at the slot (the sleep's lateness is not spacing)
            self._last = slot if waited else now
            self._started += 1
            self._unanswered.add(self._started)
            return self._started

    def answered(self, number: int, headers: httpx.Headers | None) -> None:
        """The request ``number`` got an answer with these headers (None: no answer)."""
        self._unanswered.discard(number)
        self._answer.set()
        self._answer = asyncio.Event()
        if headers is None or number < self._answered:
            return  # an older answer than the one the budget comes from says less
        try:
            remaining = int(headers.get("x-ratelimit-remaining", ""))
        except ValueError:
            return
        reset = LagoClient._reset_seconds(headers.get("x-ratelimit-reset"))
        if reset is None:
            if remaining > 0:
                return  # a budget without its window's end cannot be spread
            reset = 1.0
        self._answered = number
        self._remaining = remaining
        self.resets_at = self.now() + min(MAX_RETRY_AFTER, reset)


Recover = Callable[[], Awaitable[Any]]


class LagoClient:
    """Async Lago API client. Use as ``async with LagoClient(...) as client:``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        environment: str = "?",
        api_key_env: str | None = None,
        organization: str | None = None,
        premium: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = 8,
        rate_limit: float | None = None,
        timeout: float = 30.0,
        deadline: float | None = DEFAULT_DEADLINE,
        max_retries: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if concurrency < 1:
            raise UserError(f"client concurrency must be at least 1, got {concurrency}")
        if rate_limit is not None and rate_limit <= 0:
            raise UserError(f"client rate limit must be a positive number of requests/s, got {rate_limit}")
        self.base_url = normalize_base_url(base_url)
        parts = urlsplit(self.base_url)
        self.origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self.environment = environment
        self.api_key_env = api_key_env
        # what lagosync.yaml says about this Lago (connect() passes them; the client only carries them):
        # the organization the key must belong to (checked by connect.check_organization before the
        # first read), and whether the server has a premium license (lago-behaviour#premium-not-reported)
        self.pinned_organization = organization
        self.premium = premium
        # Lago's time (the day migrations are due, lagosync.planner.migrations): the machine's clock, or
        # the embedded emulator's for `local` (connect() sets it; LAGOSYNC_EMULATOR_NOW moves it)
        self.lago_now: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc)
        self._key = _Secret(_check_key(api_key, environment, api_key_env))
        register_secret(self._key.reveal())  # redacted from every message and log line, whatever its variable
        self.concurrency = concurrency
        self.rate_limit = rate_limit
        self.timeout = timeout
        if deadline is not None and deadline <= 0:
            raise UserError(f"the client deadline must be more than 0 seconds, got {deadline}")
        self.deadline = deadline
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._transport = transport
        self._semaphore = asyncio.Semaphore(concurrency)
        self._limiter = _RateLimiter(rate_limit, sleep, clock) if rate_limit else None
        self._clock = clock
        self.waits: list[float] = []  # every wait the client chose (retries, rate-limit holds and pacing)
        self._pacer = _HeaderPacer(sleep, clock, self.waits)  # X-RateLimit-* of the answers (any host)
        self._http: httpx.AsyncClient | None = None
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def __repr__(self) -> str:
        return (
            f"LagoClient(base_url={self.base_url!r}, environment={self.environment!r}, "
            f"api_key_env={self.api_key_env!r}, api_key='***')"
        )

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> LagoClient:
        self._open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def _open(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=self._transport,
                timeout=self.timeout,
                headers={
                    "Authorization": f"Bearer {self._key.reveal()}",
                    "User-Agent": f"lagosync/{__version__}",
                    "Accept": "application/json",
                },
                limits=httpx.Limits(max_connections=max(self.concurrency, 1)),
                follow_redirects=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------------ transport
    def _url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        bad = unroutable(path)
        if bad is not None:
            raise UnroutableId(
                f"lagosync bug: /{path.lstrip('/').split('?', 1)[0]} was about to be sent with the id {bad!r}, "
                "which Lago's router would cut at the dot (reaching another object); nothing was sent")
        return self.base_url + "/" + path.lstrip("/")

    async def _send(self, method: str, url: str, params, json) -> httpx.Response:
        http = self._open()
        async with self._semaphore:
            if self._limiter is not None:
                await self._limiter.acquire()
            number = await self._pacer.start(lambda wait: self._notice(wait, (
                f"Lago's rate limit is used up (X-RateLimit-Remaining: 0): waiting {wait:.1f} s "
                f"before {method} {self._display(url)}")))
            answer: httpx.Headers | None = None
            self.request_count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            started = time.perf_counter()
            try:
                content = None if json is None else jsonlib.dumps(json).encode()
                headers = {"Content-Type": "application/json"} if content is not None else None
                request = http.build_request(method, url, params=params, content=content, headers=headers)
                # the body is read while holding the slot so concurrency stays bounded; the whole
                # attempt has one deadline (httpx's timeout is per read: a drip would never end)
                try:
                    if _TIMEOUT is not None:  # Python 3.11+: no extra task, scheduling as without a deadline
                        async with _TIMEOUT(self.deadline):
                            response = await self._exchange(http, request)
                    else:
                        response = await asyncio.wait_for(self._exchange(http, request), self.deadline)
                except asyncio.TimeoutError:
                    raise DeadlineExceeded(
                        f"no complete answer within {self.deadline:g} s", request=request) from None
                answer = response.headers
            finally:
                self.in_flight -= 1
                self._pacer.answered(number, answer)
            if log.isEnabledFor(logging.DEBUG):
                sent = dict(response.request.headers)
                sent["authorization"] = "Bearer ***"
                log.debug(
                    "%s %s -> %s in %.0f ms headers=%s",
                    method, response.request.url, response.status_code,
                    (time.perf_counter() - started) * 1000, sent,
                )
            return response

    @staticmethod
    async def _exchange(http: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its answer, refusing one larger than MAX_RESPONSE_BYTES as it
        streams in (a page of 100,000 objects is never held whole)."""
        response = await http.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise _TooLarge()
                chunks.append(chunk)
        finally:
            await response.aclose()
        drop = {"content-encoding", "content-length", "transfer-encoding"}  # the body is decoded here
        return httpx.Response(
            response.status_code, request=request, content=b"".join(chunks),
            headers=[(k, v) for k, v in response.headers.multi_items() if k.lower() not in drop],
        )

    async def _hold(self, wait: float) -> None:
        """Sleep ``wait`` seconds; a rate-limit hold that ends within them is over afterwards (also with
        an injected sleep that lets no time pass)."""
        ends = self._pacer.now() + wait
        self.waits.append(wait)
        await self._sleep(wait)
        self._pacer.passed(ends)

    def _notice(self, wait: float, text: str) -> None:
        (log.warning if wait >= WAIT_NOTICE else log.info)("%s", text)

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: base * 2**attempt, scaled by a factor in [0.5, 1)."""
        delay = min(MAX_BACKOFF, self.backoff * (2**attempt))
        return delay * (0.5 + self._rng.random() / 2)

    @staticmethod
    def _reset_seconds(value: str | None) -> float | None:
        """``X-RateLimit-Reset``: seconds until the window resets on Lago Cloud
        (lago-behaviour#cloud-rate-limits); an epoch value is accepted too."""
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            return None
        if seconds != seconds:  # NaN
            return None
        if seconds > 1_000_000_000:  # an epoch timestamp rather than a delta
            seconds -= time.time()
        return max(0.0, seconds)

    @classmethod
    def _retry_after(cls, response: httpx.Response) -> float | None:
        """Seconds Lago asks to wait, uncapped: ``Retry-After`` (seconds or HTTP date), else
        ``X-RateLimit-Reset``."""
        value = response.headers.get("retry-after")
        if value:
            try:
                seconds = float(value)
                if seconds == seconds:  # not NaN
                    return max(0.0, seconds)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(value)
                    return max(0.0, when.timestamp() - time.time())
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
        return cls._reset_seconds(response.headers.get("x-ratelimit-reset"))

    def _redact(self, text: str) -> str:
        """``text`` without the API key this client holds (a server may echo the Authorization header)."""
        return redact(text, [self._key.reveal()])

    def _error(self, response: httpx.Response, method: str, path: str, json, attempts: int) -> LagoApiError:
        return error_from_response(
            response.status_code, self._redact(response.text), method=method, path=self._display(path),
            request_json=json, environment=self.environment, api_key_env=self.api_key_env,
            attempts=attempts,
        )

    def _bad(self, method: str, url: str, what: str, status: int | None = None) -> LagoBadResponse:
        where = f"{method} {self._display(url)}"
        return LagoBadResponse(
            self._redact(f"unexpected answer from Lago at {self.base_url} to {where}: {what}"),
            status=status, method=method, path=self._display(url),
        )

    def _redirect(self, response: httpx.Response, method: str, url: str) -> LagoBadResponse:
        location = response.headers.get("location") or "(no Location header)"
        parts = urlsplit(location)
        if "@" in parts.netloc:  # never print a user:password a server put in the Location
            location = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
        return self._bad(method, url, (
            f"HTTP {response.status_code} redirect to {location[:300]}; lagosync does not follow redirects: "
            f"if that is the Lago API, set api_url of environment '{self.environment}' in lagosync.yaml to it"
        ), response.status_code)

    def _display(self, path: str) -> str:
        if path.startswith(self.base_url):
            path = path[len(self.base_url):]
        elif path.startswith(self.origin):
            path = path[len(self.origin):]
        return "/" + path.lstrip("/")

    def _host(self) -> str:
        """``host:port`` of this Lago, the port as the scheme implies when the URL names none."""
        parts = urlsplit(self.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def _cause(self, exc: Exception) -> tuple[str, str]:
        return transport_cause(exc, self._host(), timeout=self.timeout)

    def _connection_error(self, exc: Exception, method: str, path: str, attempts: int,
                          ambiguous: bool) -> LagoConnectionError:
        cause, todo = self._cause(exc)
        what = cause
        if isinstance(exc, DeadlineExceeded):
            what = (f"no complete answer within {self.deadline:g} s; if this Lago is only slow, raise "
                    f"LAGOSYNC_DEADLINE")
        after = f" after {attempts} attempts" if attempts > 1 else ""
        if method in READ_METHODS and not isinstance(exc, _NOT_SENT):
            text = (
                f"lost the connection to Lago ({what}) on {method} {self._display(path)}{after}: the read "
                f"did not complete and nothing was changed; check the network or Lago's status and run "
                f"the command again"
            )
        elif ambiguous:
            text = (
                f"lost the connection to Lago ({what}) after sending {method} {self._display(path)}{after}: "
                f"the request may or may not have been applied; run the command again (it checks first)"
            )
        else:
            text = (
                f"cannot reach Lago at {self.base_url} for environment '{self.environment}' on {method} "
                f"{self._display(path)}{after}: {cause}; {todo}"
            )
        return LagoConnectionError(self._redact(text), method=method, path=self._display(path))

    def _wait_refused(self, response: httpx.Response, method: str, url: str, asked: float,
                      attempts: int) -> LagoApiError:
        status = response.status_code
        cls = LagoRateLimited if status == 429 else LagoServerError
        after = f" after {attempts} attempts" if attempts > 1 else ""
        return cls(
            f"Lago answered HTTP {status} to {method} {self._display(url)}{after} and asks to wait "
            f"{asked:,.0f} s before retrying; lagosync waits at most {MAX_RETRY_AFTER:g} s at a time: "
            f"run the command again later",
            status=status, method=method, path=self._display(url),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        idempotent: bool | None = None,
        recover: Recover | None = None,
    ) -> dict | None:
        """Send one API call with retries; return the decoded JSON body (None if empty).

        ``idempotent`` defaults to True for GET/PUT/DELETE and False for POST. A non-idempotent
        request is re-sent after an ambiguous failure only when ``recover`` is given: it is called
        first and, if it returns something other than None (the write had landed), that is the
        result. ``recover`` is also called when a re-sent request fails with a 422
        ``value_already_exist`` (lago-behaviour#no-idempotency-keys). A DELETE answered 404 after an ambiguous
        failure counts as done (returns None).

        A GET returns a JSON object answered 200, or raises: any other 2xx, an empty or non-object
        body, a redirect (any method) are ``LagoBadResponse``. A GET is retried on 500 too. Waits
        are bounded: one longer than MAX_RETRY_AFTER is refused, and the waits of one request add
        up to at most MAX_TOTAL_WAIT.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        read = method in READ_METHODS
        retry_statuses = READ_RETRY_STATUSES if read else RETRY_STATUSES
        url = self._url(path)
        attempt = 0
        ambiguous = False
        waited = 0.0
        while True:
            attempts = attempt + 1
            try:
                response = await self._send(method, url, params, json)
                # the slot is free: let a request waiting for it be sent before this answer is decoded
                # and used, so its latency runs while this task computes (else every page waits for
                # the CPU of the pages answered before it: a 10,000-org read took 1.5x longer)
                await asyncio.sleep(0)
            except _FATAL as exc:
                raise LagoConnectionError(
                    f"cannot send {method} {self._display(path)} to Lago at {self.base_url} "
                    f"({type(exc).__name__}): check the URL of environment '{self.environment}'",
                    method=method, path=self._display(path),
                ) from None
            except _TooLarge:
                mib, rest = divmod(MAX_RESPONSE_BYTES, 2**20)
                limit = f"{mib} MiB" if mib and not rest else f"{MAX_RESPONSE_BYTES:,} bytes"
                raise self._bad(method, url, f"the answer is larger than {limit}, more than lagosync reads "
                                             f"from one response") from None
            except DeadlineExceeded as exc:  # not retried: a server this slow will not get faster
                raise self._connection_error(exc, method, url, attempts, True) from None
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                delay = self._backoff_delay(attempt)
                if (attempt >= self.max_retries or (sent and not idempotent and recover is None)
                        or waited + delay > MAX_TOTAL_WAIT):
                    raise self._connection_error(exc, method, url, attempts, sent or ambiguous) from None
                # always on stderr (a warning), however short the wait: a person sees why nothing happens yet
                log.warning("%s", f"{method} {self._display(path)}: {self._cause(exc)[0]}; retrying in "
                                  f"{delay:.1f} s (retry {attempt + 1} of {self.max_retries})")
                if sent:
                    ambiguous = True
                    if not idempotent:
                        assert recover is not None  # else raised above
                        found = await recover()
                        if found is not None:
                            return found
                waited += delay
                await self._hold(delay)
                attempt += 1
                continue

            status = response.status_code
            if 300 <= status < 400:
                raise self._redirect(response, method, url)
            if status in retry_statuses and attempt < self.max_retries:
                maybe_applied = status in AMBIGUOUS_STATUSES and not read
                if not (maybe_applied and not idempotent and recover is None):
                    asked = self._retry_after(response) if status in (429, 503) else None
                    if asked is not None and asked > MAX_RETRY_AFTER:
                        raise self._wait_refused(response, method, url, asked, attempts)
                    wait = asked if asked is not None else self._backoff_delay(attempt)
                    wait = max(wait, self._pacer.hold_left())  # a rate-limit hold is waited once
                    if waited + wait <= MAX_TOTAL_WAIT:
                        self._notice(wait, f"Lago answered HTTP {status} to {method} {self._display(path)}: "
                                           f"retrying in {wait:.1f} s (retry {attempt + 1} of {self.max_retries})")
                        if maybe_applied:
                            ambiguous = True
                            if not idempotent:
                                assert recover is not None  # else not retried (condition above)
                                found = await recover()
                                if found is not None:
                                    return found
                        waited += wait
                        await self._hold(wait)
                        attempt += 1
                        continue

            if status >= 400:
                error = self._error(response, method, url, json, attempts)
                if ambiguous:
                    if method == "DELETE" and isinstance(error, LagoNotFound):
                        return None  # the first DELETE had landed
                    if (
                        recover is not None
                        and isinstance(error, LagoValidationError)
                        and "value_already_exist" in _all_codes(error)
                    ):
                        found = await recover()
                        if found is not None:
                            return found
                raise error
            if read and status != 200:
                body_note = "no body" if not response.content.strip() else "a body"
                raise self._bad(method, url, f"HTTP {status} with {body_note}; a read must be answered "
                                             f"200 with a JSON object", status)
            body = self._decode(response, method, url)
            if read and not isinstance(body, dict):
                raise self._bad(method, url, f"HTTP 200 with {_describe(body)} where a JSON object is expected",
                                status)
            return body

    def _decode(self, response: httpx.Response, method: str, url: str) -> dict | None:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise LagoServerError(
                f"Lago returned HTTP {response.status_code} with a non-JSON body on "
                f"{method} {self._display(url)}: is the URL a Lago API?",
                status=response.status_code, method=method, path=self._display(url),
            ) from None

    # ---------------------------------------------------------------- pagination
    def _list_page(self, body: Any, path: str, root: str, page: int, per_page: int) -> tuple[list[dict], dict]:
        """The items and ``meta`` of one list page, checked (lago-behaviour#pagination): a JSON object
        with a list of objects under ``root``, no more of them than ``per_page``, and a ``meta`` object."""
        url = self._url(path)
        where = f"page {page}" if page > 1 else "the answer"
        if not isinstance(body, dict) or root not in body:
            raise self._bad("GET", url, f"{where} has no '{root}' list")
        items = body[root]
        if not isinstance(items, list):
            raise self._bad("GET", url, f"'{root}' in {where} is {_describe(items)}, not a list")
        if len(items) > per_page:
            raise self._bad("GET", url, f"{where} holds {len(items):,} items, more than the {per_page} asked for")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise self._bad("GET", url, f"{root}[{index}] in {where} is {_describe(item)}, not an object")
        meta = body.get("meta")
        if not isinstance(meta, dict):
            raise self._bad("GET", url, f"{where} has no 'meta' object (Lago sends one with every list)")
        for field in ("total_pages", "total_count", "current_page"):
            value = meta.get(field)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise self._bad("GET", url, f"meta.{field} in {where} is {value!r}, not a count")
        return items, meta

    async def _get_page(self, path: str, root: str, base: list, page: int,
                        keep: Callable[[dict], dict] | None = None) -> tuple[list[dict], dict]:
        body = await self.request("GET", path, params=base + [("page", str(page)), ("per_page", str(PER_PAGE))])
        items, meta = self._list_page(body, path, root, page, PER_PAGE)
        return (items if keep is None else [keep(item) for item in items]), meta

    async def first_page(self, path: str, root: str, params: Any = None) -> tuple[list[dict], dict, int]:
        """Page 1 of a list at the full page size: (items, meta, ``meta.total_count``). A count probe
        whose items ``list_all(..., first=...)`` then reuses instead of asking for them again."""
        items, meta = await self._get_page(path, root, _param_list(params), 1)
        return items, meta, self._total_count(meta, path)

    def _total_count(self, meta: dict, path: str) -> int:
        total = meta.get("total_count")
        if not isinstance(total, int):
            raise self._bad("GET", self._url(path), "meta has no total_count")
        return total

    def read_pages(self, path: str, root: str, params: Any, numbers: Iterable[int], *,
                   keep: Callable[[dict], dict] | None = None) -> dict[int, asyncio.Task]:
        """Pages ``numbers`` of a list at the full page size, each read from now on in a task of its
        own: number -> the task of (items, meta), each page checked as ``list_all`` checks it;
        ``list_all(..., read=...)`` then awaits them. Whoever does not must cancel them."""
        base = _param_list(params)
        return {n: asyncio.ensure_future(self._get_page(path, root, base, n, keep)) for n in numbers}

    async def list_all(self, path: str, root: str, params: Any = None, *,
                       keep: Callable[[dict], dict] | None = None,
                       first: tuple[list[dict], dict, int] | None = None,
                       read: Mapping[int, Awaitable[tuple[list[dict], dict]]] | None = None,
                       adopt: Callable[[dict], dict] | None = None) -> list[dict]:
        """All items of a paginated list (lago-behaviour#pagination): page 1 first, then the remaining pages
        (``meta.total_pages``) concurrently; items in page order, de-duplicated by ``lago_id``.
        ``keep``: what to keep of each item, applied as each page arrives (a large list is never
        held whole in its full form). ``first``: page 1 as ``first_page`` read it with the same params.
        ``read``: pages ``read_pages`` reads (or read) with the same params, awaited here, their items
        kept as their reader chose: ``adopt`` (not ``keep``) is applied to each as its page arrives.

        Bounded whatever the server says: ``total_pages`` must agree with ``total_count`` at
        ``per_page`` and be at most MAX_PAGES; every page but the last must be full; without
        ``total_pages``, ``next_page`` is followed while it moves forward, up to MAX_PAGES pages.
        Anything else is a ``LagoBadResponse`` naming the endpoint: a partial list is never returned."""
        base = _param_list(params)
        url = self._url(path)
        if first is None:
            page_one, meta = await self._get_page(path, root, base, 1, keep)
        else:
            page_one, meta = first[0] if keep is None else [keep(item) for item in first[0]], first[1]
        pages = [page_one]
        total = meta.get("total_pages")
        count = meta.get("total_count")
        if isinstance(total, int) and isinstance(count, int) and total != -(-count // PER_PAGE):
            raise self._bad("GET", url, f"meta says total_pages {total:,} but total_count {count:,} makes "
                                        f"{-(-count // PER_PAGE):,} pages of {PER_PAGE}")
        if isinstance(total, int) and total > 1:
            if total > MAX_PAGES:
                raise self._bad("GET", url, f"meta says {total:,} pages; lagosync reads at most {MAX_PAGES:,} "
                                            f"pages of {PER_PAGE} from one list")
            known = read or {}
            # pages read ahead are adopted one at a time, each in its own turn of the event loop: the
            # answers of the pages still coming in are read (and their next requests sent) between two,
            # not after all of them (at 10,000 orgs, 99 pages adopted at once held every request back)
            turn = asyncio.Lock()

            async def items_of(number: int) -> list[dict]:
                if number in known:
                    items = (await known[number])[0]
                    if adopt is None:
                        return items
                    async with turn:
                        adopted = [adopt(item) for item in items]
                        await asyncio.sleep(0)
                    return adopted
                return (await self._get_page(path, root, base, number, keep))[0]
            pages.extend(await asyncio.gather(*(items_of(n) for n in range(2, total + 1))))
        elif total is None and meta.get("next_page") is not None:
            page, following = 1, meta.get("next_page")
            seen = {1}
            while following is not None:
                if not isinstance(following, int) or isinstance(following, bool) or following <= page \
                        or following in seen:
                    raise self._bad("GET", url, f"meta.next_page {following!r} after page {page} does not move "
                                                f"forward (a pagination loop)")
                if len(seen) >= MAX_PAGES:
                    raise self._bad("GET", url, f"more than {MAX_PAGES:,} pages; lagosync reads at most "
                                                f"{MAX_PAGES:,} pages of {PER_PAGE} from one list")
                if len(pages[-1]) < PER_PAGE:
                    raise self._bad("GET", url, f"page {page} holds {len(pages[-1])} items, fewer than "
                                                f"{PER_PAGE}, yet meta.next_page says more follow")
                page = following
                seen.add(page)
                items, page_meta = await self._get_page(path, root, base, page, keep)
                pages.append(items)
                following = page_meta.get("next_page")
        for number, items in enumerate(pages[:-1], 1):
            if len(items) < PER_PAGE:
                raise self._bad("GET", url, f"page {number} of {len(pages)} holds {len(items)} items, fewer "
                                            f"than {PER_PAGE}: the list changed while it was read, or its "
                                            f"pages are inconsistent; run the command again")
        seen_ids: set[str] = set()
        out: list[dict] = []
        for page_items in pages:
            for item in page_items:
                lago_id = item.get("lago_id")
                if lago_id is not None:
                    if lago_id in seen_ids:
                        continue
                    seen_ids.add(lago_id)
                out.append(item)
        return out

    async def count(self, path: str, root: str, params: Any = None) -> int:
        """``meta.total_count`` of a list, read with one request of one item (lago-behaviour#pagination)."""
        base = _param_list(params)
        body = await self.request("GET", path, params=base + [("page", "1"), ("per_page", "1")])
        _, meta = self._list_page(body, path, root, 1, 1)
        return self._total_count(meta, path)

    # ------------------------------------------------------------ generic helpers
    async def _get_or_none(self, path: str, root: str, params: Any = None) -> dict | None:
        try:
            body = await self.request("GET", path, params=params)
        except LagoNotFound:
            return None
        return self._one(body, path, root)

    async def get_or_none(self, path: str, root: str, params: Any = None) -> dict | None:
        """The object under ``root`` of ``GET path``, None on a 404; any other answer that is not
        that object is a ``LagoBadResponse`` (never read as "Lago has none")."""
        return await self._get_or_none(path, root, params)

    def _one(self, body: Any, path: str, root: str) -> dict:
        """The object under ``root`` of a read's answer (lago-behaviour#response-envelopes), checked."""
        found = body.get(root) if isinstance(body, dict) else None
        if not isinstance(found, dict):
            what = f"'{root}' is {_describe(found)}, not an object" if isinstance(body, dict) and root in body \
                else f"the answer has no '{root}' object"
            raise self._bad("GET", self._url(path), what)
        return found

    async def _create(self, collection: str, root: str, body: dict, key: str = "code") -> dict:
        """POST a new object; after an ambiguous failure, look it up by its natural key first."""
        ident = body.get(key)

        async def recover():
            if not ident:
                return None
            return await self._get_or_none(f"/{collection}/{seg(ident)}", root)

        result = await self.request(
            "POST", f"/{collection}", json={root: body}, recover=recover if ident else None
        )
        return _unwrap(result, root)

    async def _get(self, collection: str, root: str, ident: str) -> dict:
        path = _object_path(collection, ident)
        return self._one(await self.request("GET", path), path, root)

    async def _update(self, collection: str, root: str, ident: str, body: dict) -> dict:
        return _unwrap(await self.request("PUT", _object_path(collection, ident), json={root: body}), root)

    async def _delete(self, collection: str, root: str, ident: str, params: Any = None) -> dict | None:
        result = _unwrap(await self.request("DELETE", _object_path(collection, ident), params=params), root)
        _same_object(collection, ident, result)
        return result

    # ----------------------------------------------------------- billable metrics
    async def list_billable_metrics(self) -> list[dict]:
        return await self.list_all("/billable_metrics", "billable_metrics")

    async def get_billable_metric(self, code: str) -> dict:
        return await self._get("billable_metrics", "billable_metric", code)

    async def create_billable_metric(self, body: dict) -> dict:
        return await self._create("billable_metrics", "billable_metric", body)

    async def update_billable_metric(self, code: str, body: dict) -> dict:
        return await self._update("billable_metrics", "billable_metric", code, body)

    async def delete_billable_metric(self, code: str) -> dict | None:
        return await self._delete("billable_metrics", "billable_metric", code)

    # ---------------------------------------------------------------------- plans
    async def list_plans(self) -> list[dict]:
        return await self.list_all("/plans", "plans")

    async def get_plan(self, code: str) -> dict:
        return await self._get("plans", "plan", code)

    async def get_plan_or_none(self, code: str) -> dict | None:
        """The plan with this code, None when Lago has none."""
        return await self._get_or_none(_object_path("plans", code), "plan")

    async def create_plan(self, body: dict) -> dict:
        return await self._create("plans", "plan", body)

    async def update_plan(self, code: str, body: dict) -> dict:
        """``PUT /plans/{code}`` is retried as idempotent, but not quite: charges sent without ``id`` are
        created, so a re-send after the first PUT landed gets 422 ``code: value_already_exist``
        (lago-behaviour#plan-charge-code-clash). Then the plan is read back, and the update counts as landed when its charges are exactly
        the sent ones: each sent ``id`` kept, and one new charge per id-less sent charge (same metric,
        ``code`` if given, ``charge_model`` and sent ``properties``); otherwise the 422 is raised."""

        async def recover():
            found = await self.get_plan_or_none(code)
            if isinstance(found, dict) and _charges_landed(body.get("charges"), found.get("charges")):
                return found
            return None

        result = await self.request("PUT", f"/plans/{seg(code)}", json={"plan": body},
                                    recover=recover if "charges" in body else None)
        return _unwrap(result, "plan")

    async def delete_plan(self, code: str) -> dict | None:
        return await self._delete("plans", "plan", code)

    async def replace_plan_metadata(self, code: str, metadata: dict[str, str | None]) -> dict:
        """``POST /plans/{code}/metadata`` replaces the whole metadata object (lago-behaviour#plan-metadata-replace):
        re-sending it gives the same result, so it is retried like an idempotent call."""
        body = await self.request(
            "POST", f"/plans/{seg(code)}/metadata", json={"metadata": metadata}, idempotent=True
        )
        return (body or {}).get("metadata") or {}

    # ---------------------------------------------------------------------- taxes
    async def list_taxes(self) -> list[dict]:
        return await self.list_all("/taxes", "taxes")

    async def get_tax(self, code: str) -> dict:
        return await self._get("taxes", "tax", code)

    async def create_tax(self, body: dict) -> dict:
        return await self._create("taxes", "tax", body)

    async def update_tax(self, code: str, body: dict) -> dict:
        return await self._update("taxes", "tax", code, body)

    async def delete_tax(self, code: str) -> dict | None:
        return await self._delete("taxes", "tax", code)

    # -------------------------------------------------------------------- add-ons
    async def list_add_ons(self) -> list[dict]:
        return await self.list_all("/add_ons", "add_ons")

    async def get_add_on(self, code: str) -> dict:
        return await self._get("add_ons", "add_on", code)

    async def create_add_on(self, body: dict) -> dict:
        return await self._create("add_ons", "add_on", body)

    async def update_add_on(self, code: str, body: dict) -> dict:
        return await self._update("add_ons", "add_on", code, body)

    async def delete_add_on(self, code: str) -> dict | None:
        return await self._delete("add_ons", "add_on", code)

    # -------------------------------------------------------------------- coupons
    async def list_coupons(self) -> list[dict]:
        return await self.list_all("/coupons", "coupons")

    async def get_coupon(self, code: str) -> dict:
        return await self._get("coupons", "coupon", code)

    async def create_coupon(self, body: dict) -> dict:
        return await self._create("coupons", "coupon", body)

    async def update_coupon(self, code: str, body: dict) -> dict:
        return await self._update("coupons", "coupon", code, body)

    async def delete_coupon(self, code: str) -> dict | None:
        return await self._delete("coupons", "coupon", code)

    # ------------------------------------------------------------------ customers
    async def list_customers(self) -> list[dict]:
        return await self.list_all("/customers", "customers")

    async def _find_one(self, path: str, root: str, params: list[tuple[str, str]], key: str, value: str) -> dict:
        """The item of a filtered list whose ``key`` is ``value`` (404 ``LagoNotFound`` when none): how an
        id with a dot is read, so a read never depends on ``%2E`` surviving (lago-behaviour#route-segments)."""
        for obj in await self.list_all(path, root, params):
            if obj.get(key) == value:
                return obj
        resource = root.rstrip("s")
        raise LagoNotFound(f"{resource} {value!r} not found ({resource}_not_found) on GET {path}", status=404,
                           code=f"{resource}_not_found", method="GET", path=path)

    async def get_customer(self, external_id: str) -> dict:
        if has_dot(external_id):  # lago-behaviour#customer-subscription-id-filters
            return await self._find_one("/customers", "customers", [("external_id", external_id)],
                                        "external_id", external_id)
        return await self._get("customers", "customer", external_id)

    async def _customer_or_none(self, external_id: str) -> dict | None:
        try:
            return await self.get_customer(external_id)
        except LagoNotFound:
            return None

    async def create_customer(self, body: dict) -> dict:
        """``POST /customers`` is an upsert by ``external_id`` (lago-behaviour#customer-upsert): re-sent after an
        ambiguous failure. Not quite idempotent: metadata items sent without ``id`` are created,
        so a re-send after the first landed gets 422 ``key: value_already_exist`` (lago-behaviour#customer-metadata-reconcile).
        Then the customer is read back, and the upsert counts as landed when every metadata item
        of the body is there with its value (otherwise the 422 is raised)."""
        external_id = body.get("external_id")

        async def recover():
            found = await self._customer_or_none(external_id)
            if isinstance(found, dict) and _metadata_landed(body.get("metadata"), found.get("metadata")):
                return found
            return None

        result = await self.request("POST", "/customers", json={"customer": body}, idempotent=True,
                                    recover=recover if external_id else None)
        return _unwrap(result, "customer")

    async def update_customer(self, external_id: str, body: dict) -> dict:
        """Lago has no ``PUT /customers``: an update is the same upsert (lago-behaviour#customer-upsert)."""
        return await self.create_customer({**body, "external_id": external_id})

    async def delete_customer(self, external_id: str) -> dict | None:
        return await self._delete("customers", "customer", external_id)

    # -------------------------------------------------------------- subscriptions
    async def list_subscriptions(
        self,
        statuses: list[str] | tuple[str, ...] | None = None,
        external_customer_id: str | None = None,
        plan_code: str | None = None,
    ) -> list[dict]:
        """``GET /subscriptions`` returns only ``active`` ones unless ``status[]`` is given (lago-behaviour#subscription-list-status)."""
        params: list[tuple[str, str]] = [("status[]", s) for s in statuses or ()]
        if external_customer_id is not None:
            params.append(("external_customer_id", external_customer_id))
        if plan_code is not None:
            params.append(("plan_code", plan_code))
        return await self.list_all("/subscriptions", "subscriptions", params)

    async def get_subscription(self, external_id: str, status: str | None = None) -> dict:
        if has_dot(external_id):  # lago-behaviour#customer-subscription-id-filters
            return await self._find_one("/subscriptions", "subscriptions",
                                        [("external_id", external_id), ("status[]", status or "active")],
                                        "external_id", external_id)
        params = {"status": status} if status else None
        path = f"/subscriptions/{seg(external_id)}"
        return self._one(await self.request("GET", path, params=params), path, "subscription")

    async def create_subscription(self, body: dict) -> dict:
        """``POST /subscriptions``: create, upgrade or downgrade (lago-behaviour#plan-change-upgrade-downgrade).

        After an ambiguous failure the subscription is read back by ``external_id`` and the
        create counts as landed when the active row is on the requested plan (create/upgrade)
        or has it as ``next_plan_code`` (a scheduled downgrade), or a pending row is on it.
        """
        external_id = body.get("external_id")
        plan_code = body.get("plan_code")

        async def recover():
            if not external_id:
                return None
            active = await self._subscription_or_none(external_id)
            if active and plan_code in (active.get("plan_code"), active.get("next_plan_code")):
                if body.get("external_customer_id") in (None, active.get("external_customer_id")):
                    return active
            pending = await self._subscription_or_none(external_id, "pending")
            if pending and pending.get("plan_code") == plan_code:
                return pending
            return None

        result = await self.request(
            "POST", "/subscriptions", json={"subscription": body}, recover=recover if external_id else None
        )
        return _unwrap(result, "subscription")

    async def _subscription_or_none(self, external_id: str, status: str | None = None) -> dict | None:
        try:
            return await self.get_subscription(external_id, status)
        except LagoNotFound:
            return None

    async def update_subscription(self, external_id: str, body: dict, status: str | None = None) -> dict:
        params = {"status": status} if status else None
        result = await self.request(
            "PUT", _object_path("subscriptions", external_id), params=params, json={"subscription": body}
        )
        _same_object("subscriptions", external_id, _unwrap(result, "subscription"))
        return _unwrap(result, "subscription")

    async def terminate_subscription(
        self, external_id: str, status: str | None = None, on_termination_invoice: str | None = None
    ) -> dict | None:
        """``DELETE /subscriptions/{external_id}``: terminates the active row, or cancels the
        pending one with ``status="pending"`` (lago-behaviour#subscription-terminate)."""
        params = {}
        if status:
            params["status"] = status
        if on_termination_invoice:
            params["on_termination_invoice"] = on_termination_invoice
        return await self._delete("subscriptions", "subscription", external_id, params or None)

    delete_subscription = terminate_subscription

    async def send_events(self, events: list[dict]) -> None:
        """``POST /events/batch``: at most 100 events, each with its ``transaction_id`` (Lago deduplicates
        on it per subscription, so a re-send is harmless; lago-behaviour#event-ingestion)."""
        if len(events) > 100:
            raise ValueError("a batch holds at most 100 events")
        await self.request("POST", "/events/batch", json={"events": events})

    async def current_usage(self, external_customer_id: str, external_subscription_id: str) -> dict:
        """``GET /customers/{id}/current_usage``: the active subscription's usage of its current billing
        period, charges only, priced by Lago (lago-behaviour#current-usage; no licence needed).

        There is no list to read it through, so a customer id with a dot goes in its path as ``%2E``
        (lago-behaviour#route-segments); the subscription id is a query parameter. The answer is checked:
        integer amounts, a currency, ``charges_usage`` a list of objects each naming its charge and
        metric (``LagoBadResponse`` naming the endpoint otherwise)."""
        path = f"/customers/{id_seg(external_customer_id)}/current_usage"
        body = await self.request("GET", path, params=[("external_subscription_id", external_subscription_id)])
        usage = self._one(body, path, "customer_usage")
        for name in ("amount_cents", "taxes_amount_cents", "total_amount_cents"):
            if not isinstance(usage.get(name), int) or isinstance(usage.get(name), bool):
                raise self._bad("GET", self._url(path), f"customer_usage.{name} is {_describe(usage.get(name))}, "
                                "not an integer")
        if not isinstance(usage.get("currency"), str):
            raise self._bad("GET", self._url(path), "customer_usage.currency is not a string")
        charges = usage.get("charges_usage")
        if not isinstance(charges, list):
            raise self._bad("GET", self._url(path), f"customer_usage.charges_usage is {_describe(charges)}, not a list")
        for index, item in enumerate(charges):
            ok = isinstance(item, dict) and isinstance(item.get("charge"), dict) \
                and isinstance(item.get("billable_metric"), dict) and isinstance(item.get("units"), str)
            if not ok:
                raise self._bad("GET", self._url(path), f"customer_usage.charges_usage[{index}] is not a charge's "
                                "usage (charge, billable_metric, units)")
        return usage

    # ------------------------------------------------------------ applied coupons
    async def list_applied_coupons(
        self,
        external_customer_id: str | None = None,
        status: str | None = None,
        coupon_codes: list[str] | tuple[str, ...] | None = None,
    ) -> list[dict]:
        params: list[tuple[str, str]] = []
        if external_customer_id is not None:
            params.append(("external_customer_id", external_customer_id))
        if status is not None:
            params.append(("status", status))
        params.extend(("coupon_code[]", c) for c in coupon_codes or ())
        return await self.list_all("/applied_coupons", "applied_coupons", params)

    async def create_applied_coupon(self, body: dict) -> dict:
        """``POST /applied_coupons``; after an ambiguous failure, an active applied coupon with the
        same customer and coupon code counts as the create having landed (lago-behaviour#applied-coupon-list)."""
        customer = body.get("external_customer_id")
        coupon = body.get("coupon_code")

        async def recover():
            found = await self.list_applied_coupons(customer, status="active", coupon_codes=[coupon])
            found = [a for a in found if a.get("coupon_code") == coupon
                     and a.get("external_customer_id") == customer]
            return found[0] if found else None

        result = await self.request(
            "POST", "/applied_coupons", json={"applied_coupon": body},
            recover=recover if customer and coupon else None,
        )
        return _unwrap(result, "applied_coupon")

    async def delete_applied_coupon(self, external_customer_id: str, applied_coupon_id: str) -> dict | None:
        result = await self.request(
            "DELETE", f"/customers/{id_seg(external_customer_id)}/applied_coupons/{seg(applied_coupon_id)}"
        )
        return _unwrap(result, "applied_coupon")

    # ----------------------------------------------------------- server and org
    async def health(self) -> dict:
        """``GET /health`` (no auth, outside ``/api/v1``): ``{version, github_url, message}`` (lago-behaviour#health-endpoint)."""
        return await self.request("GET", self.origin + "/health") or {}

    async def organization(self) -> dict:
        """``GET /organizations``: exists in Lago's routes though not in the spec (lago-behaviour#organizations-endpoint)."""
        return _unwrap(await self.request("GET", "/organizations"), "organization")


def _describe(value: Any) -> str:
    """How a JSON value reads in a message: ``an empty body``, ``a JSON list``, ``a JSON object``..."""
    if value is None:
        return "an empty body or null"
    names = {dict: "a JSON object", list: "a JSON list", str: "a JSON string", bool: "true/false"}
    return names.get(type(value), "a JSON number")


def _unwrap(body: Any, root: str) -> Any:
    if isinstance(body, dict) and root in body:
        return body[root]
    return body


def _param_list(params: Any) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, dict):
        out: list[tuple[str, str]] = []
        for key, value in params.items():
            if isinstance(value, (list, tuple)):
                out.extend((key, str(v)) for v in value)
            elif value is not None:
                out.append((key, str(value)))
        return out
    return [(str(k), str(v)) for k, v in params]


def _metadata_landed(sent: Any, live: Any) -> bool:
    """Every sent customer metadata item (key, value, display_in_invoice if given) is in ``live``."""
    if not sent:
        return True
    by_key = {item.get("key"): item for item in live or [] if isinstance(item, dict)}
    for item in sent:
        if not isinstance(item, dict):
            return False
        got = by_key.get(item.get("key"))
        if got is None or str(got.get("value")) != str(item.get("value")):
            return False
        if "display_in_invoice" in item and bool(got.get("display_in_invoice")) != bool(item["display_in_invoice"]):
            return False
    return True


def _same_value(sent: Any, live: Any) -> bool:
    """Sent and read-back JSON values are equal; numeric strings compare as decimals ("0.0010" == "0.001")."""
    if isinstance(sent, dict) and isinstance(live, dict):
        return all(k in live and _same_value(v, live[k]) for k, v in sent.items())
    if isinstance(sent, list) and isinstance(live, list):
        return len(sent) == len(live) and all(_same_value(a, b) for a, b in zip(sent, live, strict=True))
    if isinstance(sent, str) and isinstance(live, str) and sent != live:
        try:
            return Decimal(sent) == Decimal(live)
        except InvalidOperation:
            return False
    return sent == live


def _charges_landed(sent: Any, live: Any) -> bool:
    """The plan's live charges are exactly what a ``PUT`` with ``charges: sent`` leaves (lago-behaviour#plan-charges-reconciled):
    the sent ids, plus one created charge per sent charge without id, nothing else."""
    if not isinstance(sent, list) or not isinstance(live, list):
        return False
    live_by_id = {c.get("lago_id"): c for c in live if isinstance(c, dict)}
    sent_ids = {c.get("id") for c in sent if isinstance(c, dict) and c.get("id")}
    if not sent_ids <= set(live_by_id):
        return False
    created = [c for i, c in live_by_id.items() if i not in sent_ids]
    new = [c for c in sent if isinstance(c, dict) and not c.get("id")]
    if len(created) != len(new):
        return False
    for item in new:
        match = next((c for c in created
                      if c.get("lago_billable_metric_id") == item.get("billable_metric_id")
                      and ("code" not in item or c.get("code") == item["code"])
                      and ("charge_model" not in item or c.get("charge_model") == item["charge_model"])
                      and _same_value(item.get("properties") or {}, c.get("properties") or {})), None)
        if match is None:
            return False
        created.remove(match)
    return True


def _all_codes(error: LagoApiError) -> set[str]:
    return {code for codes in error.field_codes.values() for code in codes}
