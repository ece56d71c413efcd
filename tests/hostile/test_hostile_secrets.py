"""Secrets: an api_url with user:password is refused before anything prints it or sends it; the
API key the client holds is redacted from every message and log line, whatever the name of the
variable it came from (a server echoing the Authorization header cannot put it in an error)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from hostile_helpers import SETTINGS, HostileLago, assert_no_crash, example_workspace, hostile_lago, invoke

from lagosync.client import LagoClient, connect
from lagosync.errors import UserError, redact_secrets, register_secret

PASSWORD = "hunter2-PASSWORD-xyz"
CRED = "cred-VALUE-0123456789abcdef"  # held in LAGO_CRED: a name without KEY, TOKEN, SECRET or PASSWORD


def test_userinfo_in_api_url_is_a_validation_error_without_the_password(tmp_path: Path) -> None:
    root = example_workspace(tmp_path / "ws")
    (root / "lagosync.yaml").write_text(
        SETTINGS + f"  staging:\n    api_url: http://admin:{PASSWORD}@lago.example.com/api/v1\n"
                   "    api_key_env: LAGO_STAGING_KEY\n")
    for args in (("validate",), ("plan", "-e", "staging"), ("doctor", "-e", "staging")):
        result = invoke(*args, "-w", root, env={"LAGO_STAGING_KEY": "sk_test_0123456789"})
        assert_no_crash(result)
        assert result.exit_code == 1, (args, result.output)
        assert PASSWORD not in result.output and "admin" not in result.output, args
        assert ("lagosync.yaml:7:14: environments.staging.api_url: api_url holds a user name or password "
                "(user:password@)") in result.output, (args, result.output)


def test_the_client_and_connect_refuse_userinfo_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError) as exc:
        LagoClient(f"http://user:{PASSWORD}@lago.example.com/api/v1", "sk_test_0123456789")
    assert PASSWORD not in str(exc.value) and "http://***@lago.example.com/api/v1" in str(exc.value)
    monkeypatch.setenv("LAGO_X_KEY", "sk_test_0123456789")
    env = SimpleNamespace(name="x", api_url=f"https://u:{PASSWORD}@h.example", api_key_env="LAGO_X_KEY",
                          organization=None, emulator=False)
    workspace = SimpleNamespace(root=tmp_path, settings=SimpleNamespace(environments={"x": env},
                                                                        default_environment="x"))
    with pytest.raises(UserError) as exc:
        connect(workspace, "x")
    assert PASSWORD not in str(exc.value)
    assert "environment 'x': api_url in lagosync.yaml holds a user name or password" in str(exc.value)


@pytest.fixture
def cred_lago(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HostileLago:
    lago = hostile_lago(tmp_path / "ws", monkeypatch)
    (lago.root / "lagosync.yaml").write_text(SETTINGS.replace("local: {}", "local: {api_key_env: LAGO_CRED}"))
    monkeypatch.setenv("LAGO_CRED", CRED)
    return lago


def echo_authorization(request: httpx.Request) -> httpx.Response | None:
    if request.method == "GET" and request.url.path == "/api/v1/plans":
        sent = request.headers["authorization"]
        return httpx.Response(422, json={"status": 422, "error": f"bad header {sent}", "code": "validation_errors",
                                         "error_details": {"authorization": [sent]}})
    return None


def test_a_server_echoing_the_key_never_gets_it_printed(cred_lago: HostileLago) -> None:
    assert cred_lago.run("plan").exit_code == 0  # the key from LAGO_CRED is accepted
    cred_lago.transport.script = echo_authorization
    for args in (("plan",), ("-vv", "plan"), ("apply", "--auto-approve"), ("drift",)):
        result = cred_lago.run(*args)
        assert_no_crash(result)
        assert result.exit_code == 1, (args, result.output)
        assert CRED not in result.output, args
        assert "authorization: Bearer ***" in result.stderr, (args, result.stderr)
    assert cred_lago.transport.writes == []


def test_the_key_is_redacted_from_log_records_and_exceptions(cred_lago: HostileLago,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lagosync")
    cred_lago.transport.script = echo_authorization
    result = cred_lago.run("-vv", "plan")
    assert result.exit_code == 1
    assert CRED not in caplog.text and CRED not in result.output
    assert CRED not in repr(result.exception)


def test_register_secret_redacts_whatever_the_variable_name() -> None:
    value = "a-held-key-9876543210"
    assert redact_secrets(f"x {value} y", environ={}) == f"x {value} y"
    register_secret(value)
    assert redact_secrets(f"x {value} y", environ={}) == "x *** y"
    register_secret("short")  # too short to redact safely: ordinary words stay
    assert redact_secrets("a short word", environ={}) == "a short word"
