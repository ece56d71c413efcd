"""In-process httpx transport (sync and async) onto the emulator core, with faults."""

from __future__ import annotations

import asyncio

import httpx

from .core import Emulator
from .faults import COMMIT_DROP, DROP, OK, EmulatorCrash, Faults


class EmulatorTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    def __init__(self, emulator: Emulator, faults: Faults | None = None):
        self.emulator = emulator
        self.faults = faults
        self.request_count = 0

    def _pre(self, request: httpx.Request) -> tuple[str, dict[str, str]]:
        """The request's fate and the headers its answer carries, both as of its arrival."""
        self.request_count += 1
        if self.faults is None:
            return OK, {}
        decision = self.faults.decide(request.method, request.url.path)
        if decision == DROP:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return decision, self.faults.response_headers()

    def _call(self, request: httpx.Request, decision: str, extra: dict[str, str]) -> httpx.Response:
        faults = self.faults
        if decision not in (OK, COMMIT_DROP):
            assert faults is not None  # _pre decides OK without faults
            status, headers, body = faults.error_response(decision)
            return httpx.Response(status, headers=headers, content=body, request=request)
        raw_path = request.url.raw_path.decode("ascii")
        path = raw_path.split("?", 1)[0]
        query = request.url.params.multi_items()
        resp = self.emulator.handle(request.method, path, query, dict(request.headers), request.content)
        if faults is not None:
            crash = faults.after_response(request.method, resp.status)
            if decision == COMMIT_DROP:
                raise httpx.ReadError("Connection lost while reading the response.", request=request)
            if crash:
                raise EmulatorCrash(f"simulated crash after write #{faults.writes}")
        headers = {**resp.headers, **extra} if extra else resp.headers
        return httpx.Response(resp.status, headers=headers, content=resp.body, request=request)

    # Latency: ``Faults.hold`` (a write waits before it is handled, a read after it is answered).

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        decision, extra = self._pre(request)
        if self.faults is None:
            return self._call(request, decision, extra)
        hold = self.faults.hold(request.method)
        if hold.before():
            self.faults.sleep(hold.before())
        response = self._call(request, decision, extra)
        left = hold.after()
        if left:
            self.faults.sleep(left)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        decision, extra = self._pre(request)
        if self.faults is None:
            return self._call(request, decision, extra)
        hold = self.faults.hold(request.method)
        if hold.before():
            await asyncio.sleep(hold.before())
        response = self._call(request, decision, extra)
        left = hold.after()
        if left:
            await asyncio.sleep(left)
        return response
