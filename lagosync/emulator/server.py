"""A real HTTP server (stdlib ThreadingHTTPServer) on the same emulator core."""

from __future__ import annotations

import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from ..errors import UserError
from .core import Emulator
from .dblock import hold_for_serving
from .faults import COMMIT_DROP, DROP, OK, Faults


def _handler_class(emulator: Emulator, faults: Faults | None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lagosync-emulator"
        # Headers and body go out as separate writes; without TCP_NODELAY a keep-alive client waits
        # ~40 ms for the delayed ACK on every small response (bench/emulator.py measured 21 writes/s).
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 - quiet by default
            if getattr(self.server, "verbose", False):
                super().log_message(format, *args)

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            decision = OK
            extra: dict[str, str] = {}
            if faults is not None:
                decision = faults.decide(self.command, parts.path)
                extra = faults.response_headers()  # as of the request's arrival
                hold = faults.hold(self.command)  # a write waits before, a read after it is answered
                if hold.before():
                    faults.sleep(hold.before())
                if decision == DROP or (decision != COMMIT_DROP and decision != OK):
                    left = hold.after()
                    if left:
                        faults.sleep(left)
                    if decision == DROP:
                        return self._drop()
                    status, headers, payload = faults.error_response(decision)
                    return self._send(status, headers, payload)
            query = parse_qsl(parts.query, keep_blank_values=True)
            try:
                resp = emulator.handle(self.command, parts.path, query, dict(self.headers.items()), body)
            except Exception:  # an emulator bug: answer like Rails would (non-JSON 500, lago-behaviour#emulator-rails-500)
                self.log_error("emulator error on %s %s", self.command, parts.path)
                return self._send(500, {"content-type": "text/html"}, b"<html><body>Internal Server Error</body></html>")
            if faults is not None:
                faults.after_response(self.command, resp.status)
                left = hold.after()
                if left:
                    faults.sleep(left)
            if decision == COMMIT_DROP:
                return self._drop()
            self._send(resp.status, {**resp.headers, **extra}, resp.body)

        def _send(self, status: int, headers: dict, payload: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

    return Handler


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that stays quiet when a client hangs up early (e.g. after a 401)."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipe, ConnectionReset: the client left
            return
        super().handle_error(request, client_address)


def make_server(host: str = "127.0.0.1", port: int = 3000, db: str = ":memory:", api_key: str = "lago-local-key",
                faults: Faults | None = None, emulator: Emulator | None = None, *,
                premium: bool = False) -> ThreadingHTTPServer:
    """Build (not start) the server; ``server.server_address`` gives the bound port (port 0 = free)."""
    emulator = emulator or Emulator(db, api_key, premium=premium)
    server = _Server((host, port), _handler_class(emulator, faults))
    server.emulator = emulator  # type: ignore[attr-defined]
    return server


def start_in_thread(**kwargs) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start a server in a daemon thread (tests); stop with ``server.shutdown(); server.server_close()``."""
    server = make_server(**kwargs)
    thread = threading.Thread(target=server.serve_forever, name="lago-emulator", daemon=True)
    thread.start()
    return server, thread


def serve(host: str = "127.0.0.1", port: int = 3000, db: str = ":memory:", api_key: str = "lago-local-key",
          faults: Faults | None = None, *, announce=None, premium: bool = False) -> None:
    """Serve until interrupted (``lagosync emulator serve``); ``announce(text)`` gets the URL line.

    A database file is this server's alone while it runs (``dblock``): refused when another server or
    a command on the ``local`` environment uses it, and ``-e local`` is refused while it is served."""
    server = make_server(host, port, db, api_key, faults, premium=premium)
    host_bound, port_bound = server.server_address[:2]
    assert isinstance(host_bound, str)  # an IP address (AF_INET or AF_INET6), never bytes
    url = f"http://{host_bound}:{port_bound}/api/v1"
    try:
        lock = hold_for_serving(db, url)
    except UserError:
        server.server_close()
        raise
    if announce is not None:
        announce(f"Lago emulator (lago-api 1.51.0 behaviour) listening on {url} (db: {db}); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        lock.release()


def serve_from_options(host: str, port: int, db: str, api_key: str, *, seed: int = 0, latency: float = 0.0,
                       p429: float = 0.0, p500: float = 0.0, p503: float = 0.0, p_drop: float = 0.0,
                       p_commit_drop: float = 0.0, rps_limit: float | None = None, announce=None,
                       premium: bool = False) -> None:
    """The ``lagosync emulator serve`` command: faults only when an option asks for them."""
    for name, p in (("--p429", p429), ("--p500", p500), ("--p503", p503), ("--p-drop", p_drop),
                    ("--p-commit-drop", p_commit_drop)):
        if not 0.0 <= p <= 1.0:
            raise UserError(f"{name} must be a probability between 0 and 1, got {p}")
    if not api_key:
        raise UserError("--api-key must not be empty")
    wanted = any((latency, p429, p500, p503, p_drop, p_commit_drop)) or rps_limit is not None
    faults = Faults(seed=seed, latency=latency, p429=p429, p500=p500, p503=p503, p_drop=p_drop,
                    p_commit_drop=p_commit_drop, rps_limit=rps_limit) if wanted else None
    try:
        serve(host, port, db, api_key, faults, announce=announce, premium=premium)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port)") from None
    except (sqlite3.Error, ValueError) as exc:
        raise UserError(f"--db {db}: cannot open the emulator database ({exc}); pass a writable path "
                        "to a lagosync emulator database, or a new file") from None
