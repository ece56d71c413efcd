"""Fixtures for the CLI-wide tests: the example workspace copied to a temp dir, with extra
environments pointing at (a) a closed port, (b) an HTTP emulator that wants another key,
(c) a server answering every request with a non-JSON 500.

Servers run in daemon threads; their ``handle_error`` is silenced so a client closing a
connection early does not print socketserver noise into the captured output."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lagosync.emulator.server import start_in_thread

_here = str(Path(__file__).parent)
if _here not in sys.path:
    sys.path.insert(0, _here)

from cli_helpers import KEY_VAR, UNSET_VAR, copy_example  # noqa: E402


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class _Html500(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html><body>We're sorry, but something went wrong.</body></html>"
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815


def _quiet(server):
    server.handle_error = lambda *args: None
    return server


@pytest.fixture(scope="session")
def servers():
    emu, _ = start_in_thread(host="127.0.0.1", port=0, api_key="another-key-entirely")
    _quiet(emu)
    html = _quiet(ThreadingHTTPServer(("127.0.0.1", 0), _Html500))
    html.daemon_threads = True
    threading.Thread(target=html.serve_forever, daemon=True).start()
    yield {"closed": closed_port(), "badauth": emu.server_address[1], "html500": html.server_address[1]}
    for server in (emu, html):
        server.shutdown()
        server.server_close()


@pytest.fixture
def ws(tmp_path, servers, monkeypatch):
    """The example workspace with environments local, nokey, closed, badauth, html500."""
    root = copy_example(tmp_path / "ws")
    (root / "lagosync.yaml").write_text(
        "default_environment: local\n"
        "org_id_prefix: org_\nuser_id_prefix: usr_\n"
        "environments:\n"
        "  local: {}\n"
        f"  nokey: {{api_url: 'http://127.0.0.1:{servers['closed']}', api_key_env: {UNSET_VAR}}}\n"
        f"  closed: {{api_url: 'http://127.0.0.1:{servers['closed']}', api_key_env: {KEY_VAR}}}\n"
        f"  badauth: {{api_url: 'http://127.0.0.1:{servers['badauth']}', api_key_env: {KEY_VAR}}}\n"
        f"  html500: {{api_url: 'http://127.0.0.1:{servers['html500']}', api_key_env: {KEY_VAR}}}\n"
    )
    monkeypatch.setenv(KEY_VAR, "sk_live_SECRETSECRET")
    monkeypatch.delenv(UNSET_VAR, raising=False)
    monkeypatch.setenv("LAGOSYNC_TIMEOUT", "3")
    monkeypatch.setenv("LAGOSYNC_MAX_RETRIES", "0")
    monkeypatch.delenv("LAGOSYNC_DEBUG", raising=False)
    return root
