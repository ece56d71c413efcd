"""A Lago that cannot be reached: the error says why (the name not resolved, the connection refused,
TLS) and, while lagosync retries, a `retrying` line on stderr says so instead of silence. No outside
traffic: a closed local port, a plain-HTTP local server spoken to over https, and `nonexistent.invalid`
(the `.invalid` top-level domain never resolves, RFC 2606)."""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cli_helpers import KEY_VAR, REPO, copy_example
from click.testing import CliRunner

from lagosync.cli import main

KEY = "lago_connection_test_key"
RETRIES = 2  # LAGOSYNC_MAX_RETRIES: bounds the attempts (and the backoff waits, 0.5 s and 1 s at most)


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="module")
def plain_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.handle_error = lambda *args: None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _plan(tmp_path, api_url):
    root = copy_example(tmp_path / "ws")
    (root / "lagosync.yaml").write_text(
        "default_environment: remote\norg_id_prefix: org_\nuser_id_prefix: usr_\n"
        f"environments:\n  remote: {{api_url: '{api_url}', api_key_env: {KEY_VAR}}}\n")
    return CliRunner().invoke(main, ["plan", "-w", str(root)],
                              env={KEY_VAR: KEY, "LAGOSYNC_MAX_RETRIES": str(RETRIES)})


def _check(result, *needles):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and KEY not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert f"after {RETRIES + 1} attempts" in errors[0]
    retrying = [line for line in result.stderr.splitlines() if "retrying in" in line]
    # one line per retry, before the error, with the cause and the retry count
    assert len(retrying) == RETRIES, result.stderr
    assert re.fullmatch(r"lagosync: GET /\S+: .+; retrying in \d+\.\d s \(retry 1 of 2\)", retrying[0]), retrying[0]
    assert result.stderr.index(retrying[-1]) < result.stderr.index(errors[0])
    return errors[0], retrying


def test_a_closed_port_says_connection_refused_and_shows_the_retries(tmp_path):
    port = closed_port()
    error, retrying = _check(_plan(tmp_path, f"http://127.0.0.1:{port}"),
                             f"cannot reach Lago at http://127.0.0.1:{port}/api/v1 for environment 'remote'",
                             f"connection refused by 127.0.0.1:{port} (nothing listens there)",
                             "is Lago running at that address and port?")
    assert all(f"connection refused by 127.0.0.1:{port}" in line for line in retrying)


def test_an_unresolvable_name_says_so_and_shows_the_retries(tmp_path):
    error, retrying = _check(_plan(tmp_path, "https://nonexistent.invalid"),
                             "cannot reach Lago at https://nonexistent.invalid/api/v1",
                             "the host name 'nonexistent.invalid' could not be resolved (DNS)",
                             "check the host in api_url")
    assert all("could not be resolved" in line for line in retrying)


def test_https_to_a_plain_http_port_says_tls(tmp_path, plain_http):
    error, _ = _check(_plan(tmp_path, f"https://127.0.0.1:{plain_http}"),
                      f"the TLS handshake with 127.0.0.1:{plain_http} failed",
                      "check the URL's scheme and port")


def test_the_readme_shows_the_retry_line_as_printed(tmp_path):
    # README.md and the reference in docs/ (the client's retries are in docs/emulator.md)
    readme = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    shown = re.search(r"`(lagosync: GET /organizations: connection refused by 127\.0\.0\.1:3000 [^`]+)`", readme)
    assert shown, "README and docs/ no longer show the retry line of a refused connection"
    _, retrying = _check(_plan(tmp_path, f"http://127.0.0.1:{closed_port()}"), "connection refused")
    pattern = re.sub(r"127\\\.0\\\.0\\\.1:3000", r"127\\.0\\.0\\.1:\\d+", re.escape(shown.group(1)))
    pattern = pattern.replace(r"0\.4", r"\d+\.\d").replace(r"of\ 5", "of 2").replace("of 5", "of 2")
    assert re.fullmatch(pattern, retrying[0]), (pattern, retrying[0])
