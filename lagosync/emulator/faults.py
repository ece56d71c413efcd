"""Seeded, reproducible fault injection for the emulator transport and HTTP server.

A :class:`Faults` decides, per request, whether to add latency, answer 429/500/503 instead of
handling it, drop the connection before handling it, or handle it and then lose the response
(commit-then-drop). ``script`` forces the first decisions in order (deterministic tests);
``crash_after_writes=k`` raises :class:`EmulatorCrash` right after the k-th successful write.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Decisions
OK, E429, E500, E503, DROP, COMMIT_DROP, RATE_LIMITED = (
    "ok", "429", "500", "503", "drop", "commit_drop", "rate_limited",
)


class EmulatorCrash(BaseException):  # noqa: N818 - it models a process death, not an error
    """Raised by the transport after the k-th successful write (``Faults(crash_after_writes=k)``).

    Derives from BaseException so that ``except Exception`` in the code under test does not swallow
    it: it stands for the process dying right after Lago committed the write.
    """


# methods that change nothing: answered as of their arrival, their latency includes the emulator's
# own work (lago-behaviour#emulator-latency)
READS = frozenset({"GET", "HEAD"})


@dataclass
class Hold:
    """One request's latency (lago-behaviour#emulator-latency), the one rule of the transport and the
    server: a write waits all of it before it is handled (``before``); a read is handled at once and
    waits what is left of it once answered (``after``)."""

    delay: float
    read: bool
    arrived: float
    clock: Callable[[], float]

    def before(self) -> float:
        return 0.0 if self.read else self.delay

    def after(self) -> float:
        """What is left of a read's latency now (the clock is read once per call)."""
        if not self.read or not self.delay:
            return 0.0
        return max(0.0, self.delay - (self.clock() - self.arrived))


@dataclass
class Faults:
    seed: int = 0
    latency: float | tuple[float, float] = 0.0  # seconds added to each request (or uniform range)
    p429: float = 0.0
    retry_after: int = 1  # seconds, sent as Retry-After and X-RateLimit-Reset
    p500: float = 0.0
    p503: float = 0.0
    p_drop: float = 0.0  # connection dropped before the request is handled
    p_commit_drop: float = 0.0  # handled (committed), then the response is lost
    rps_limit: float | None = None  # Lago Cloud-like limit: over it → 429 (lago-behaviour#cloud-rate-limits)
    crash_after_writes: int | None = None
    script: list[str | None] = field(default_factory=list)  # forced decisions, consumed first
    match: Callable[[str, str], bool] | None = None  # only inject into requests where match(method, path)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.log: list[tuple[str, str, str]] = []  # (method, path, decision) for every non-ok decision
        self.writes = 0
        self._window_start: float | None = None
        self._window_count = 0
        self._decided_at = 0.0

    def delay(self) -> float:
        if isinstance(self.latency, tuple):
            return self.rng.uniform(*self.latency)
        return float(self.latency or 0.0)

    def hold(self, method: str) -> Hold:
        """The latency of a request arriving now (after ``decide``: the same random sequence)."""
        delay = self.delay()
        return Hold(delay, method in READS, self.clock() if delay else 0.0, self.clock)

    def decide(self, method: str, path: str) -> str:
        """The fate of one request (before it is handled)."""
        if self.rps_limit is not None and self._over_rate_limit():
            self.log.append((method, path, RATE_LIMITED))
            return RATE_LIMITED
        if self.match is not None and not self.match(method, path):
            return OK
        if self.script:
            decision = self.script.pop(0) or OK
        else:
            decision = OK
            roll = self.rng.random()
            for name, p in ((E429, self.p429), (E500, self.p500), (E503, self.p503), (DROP, self.p_drop),
                            (COMMIT_DROP, self.p_commit_drop)):
                if roll < p:
                    decision = name
                    break
                roll -= p
        if decision != OK:
            self.log.append((method, path, decision))
        return decision

    def _over_rate_limit(self) -> bool:
        """Count this request in the current one-second window (a fixed window, opened by the first
        request after the previous one ended) and say whether it is over the limit."""
        assert self.rps_limit is not None  # only called with a limit set
        now = self.clock()
        if self._window_start is None or now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        self._decided_at = now
        return self._window_count > self.rps_limit

    def rate_headers(self) -> dict[str, str]:
        """Lago Cloud's headers as the emulator models them (lago-behaviour#cloud-rate-limits), as of the
        last request counted: the limit, the requests still allowed in the window and the seconds
        until it resets (a decimal, rounded up to the millisecond, so the reset is never announced early)."""
        if self.rps_limit is None or self._window_start is None:
            return {"x-ratelimit-limit": "0", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(self.retry_after)}
        limit = int(self.rps_limit)
        remaining = max(0, limit - self._window_count)
        left = max(0.0, self._window_start + 1.0 - self._decided_at)
        reset = math.ceil(round(left * 1000, 6)) / 1000
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": f"{reset:.3f}"}

    def response_headers(self) -> dict[str, str]:
        """Headers every answer carries: with ``rps_limit`` set, the X-RateLimit-* ones (Lago Cloud
        sends them on every response, lago-behaviour#cloud-rate-limits); otherwise none (a self-hosted Lago)."""
        return self.rate_headers() if self.rps_limit is not None else {}

    def error_response(self, decision: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of an injected error answer."""
        if decision in (E429, RATE_LIMITED):
            headers = {"content-type": "application/json", **self.rate_headers()}
            # Retry-After is whole seconds (RFC 9110 delay-seconds): the window's reset rounded up
            headers["retry-after"] = (str(math.ceil(float(headers["x-ratelimit-reset"])))
                                      if decision == RATE_LIMITED else str(self.retry_after))
            if decision == E429:
                headers["x-ratelimit-reset"] = str(self.retry_after)
            body = json.dumps({"status": 429, "error": "Too Many Requests"}).encode()
            return 429, headers, body
        if decision == E503:
            return 503, {"content-type": "text/html"}, b"<html><body>503 Service Unavailable</body></html>"
        # a Rails 500 is not the Lago error shape (lago-behaviour#rails-500)
        return 500, {"content-type": "text/html"}, b"<html><body>We're sorry, but something went wrong.</body></html>"

    def after_response(self, method: str, status: int) -> bool:
        """Count successful writes; True when the configured crash point is reached."""
        if method != "GET" and 200 <= status < 300:
            self.writes += 1
            if self.crash_after_writes is not None and self.writes == self.crash_after_writes:
                return True
        return False
