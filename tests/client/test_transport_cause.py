"""client.errors.transport_cause: the words for each way a connection to Lago fails (the CLI tests
in tests/cli/test_connection_causes.py produce the real ones: refused, unresolvable name, TLS)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from lagosync.client.errors import transport_cause


def _wrapped(cls, inner: BaseException) -> httpx.TransportError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise cls(str(inner)) from exc
    except httpx.TransportError as outer:
        return outer


@pytest.mark.parametrize("exc,cause,todo", [
    (_wrapped(httpx.ConnectError, socket.gaierror(-2, "Name or service not known")),
     "the host name 'lago.example.com' could not be resolved (DNS)", "check the host in api_url"),
    (_wrapped(httpx.ConnectError, ConnectionRefusedError(111, "Connection refused")),
     "connection refused by lago.example.com:443 (nothing listens there)", "is Lago running"),
    (_wrapped(httpx.ConnectError, ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                                                                  "verify failed: self-signed certificate")),
     "the TLS handshake with lago.example.com:443 failed", "SSL_CERT_FILE"),
    (httpx.ConnectTimeout("timed out"), "no answer from lago.example.com:443 while connecting within 30 s",
     "a firewall drops the connection"),
    (httpx.ReadTimeout("timed out"), "Lago did not answer within 30 s", "LAGOSYNC_TIMEOUT"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."),
     "lago.example.com:443 closed the connection without an answer", "proxy"),
    (httpx.ConnectError("something else"), "ConnectError", "check the URL and the network"),
])
def test_each_cause_in_words_with_what_to_do(exc, cause, todo):
    got_cause, got_todo = transport_cause(exc, "lago.example.com:443", timeout=30.0)
    assert got_cause.startswith(cause), got_cause
    assert todo in got_todo
