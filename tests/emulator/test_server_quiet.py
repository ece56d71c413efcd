"""`lagosync emulator serve` stays quiet when a client disconnects early (no socketserver traceback)."""

from __future__ import annotations

import io
import socket
import sys

from lagosync.emulator.server import make_server


def test_client_hangup_is_not_reported(monkeypatch):
    server = make_server(port=0, api_key="k")
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            server.handle_error(None, ("127.0.0.1", 1))
        assert stderr.getvalue() == ""
        try:
            raise ValueError("a real bug")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 1))
        assert "a real bug" in stderr.getvalue()
    finally:
        server.server_close()


def test_server_still_answers_after_an_early_hangup():
    server = make_server(port=0, api_key="k")
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address
        with socket.create_connection((host, port)) as s:  # send half a request, then hang up
            s.sendall(b"GET /api/v1/plans HTTP/1.1\r\nHost: x\r\n")
        with socket.create_connection((host, port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 200")
    finally:
        server.shutdown()
        server.server_close()
