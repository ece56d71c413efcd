"""Principle 6: the API key never appears anywhere: stdout, stderr, DEBUG logs, the audit log,
the saved plan, exception messages and reprs. The key is distinctive so any leak is found."""

from __future__ import annotations

import asyncio
import logging

import pytest
from cli_helpers import KEY_VAR, copy_example
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.client import LagoClient
from lagosync.emulator.faults import Faults
from lagosync.emulator.server import start_in_thread

SECRET = "sk_live_SECRETSECRET_9f8e7d"


@pytest.fixture
def secret_server():
    # every POST /customers fails with 500: apply fails part-way (the error path is logged too)
    faults = Faults(p500=1.0, match=lambda method, path: method == "POST" and path.startswith("/api/v1/customers"))
    server, _ = start_in_thread(host="127.0.0.1", port=0, api_key=SECRET, faults=faults)
    server.handle_error = lambda *args: None
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def remote_ws(tmp_path, secret_server, monkeypatch):
    root = copy_example(tmp_path / "ws")
    port = secret_server.server_address[1]
    (root / "lagosync.yaml").write_text(
        "default_environment: remote\norg_id_prefix: org_\nuser_id_prefix: usr_\n"
        f"environments:\n  remote: {{api_url: 'http://127.0.0.1:{port}', api_key_env: {KEY_VAR}}}\n"
    )
    monkeypatch.setenv(KEY_VAR, SECRET)
    monkeypatch.setenv("LAGOSYNC_MAX_RETRIES", "1")
    monkeypatch.setenv("LAGOSYNC_TIMEOUT", "5")
    yield root
    logger = logging.getLogger("lagosync")  # drop the stderr handler -vv installed on CliRunner's stream
    for handler in [h for h in logger.handlers if getattr(h, "_lagosync", False)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_key_never_leaks_through_the_cli(remote_ws, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx/httpcore included
    plan_file = tmp_path / "plan.json"
    outputs = []

    result = run("-vv", "plan", "-w", remote_ws, "--out", plan_file)
    assert result.exit_code == 0, result.output
    outputs.append(result.output)
    assert "DEBUG lagosync.client: GET http://127.0.0.1:" in result.stderr  # logging really was on

    result = run("-vv", "apply", plan_file, "-w", remote_ws, "--auto-approve", "--log-format", "json")
    assert result.exit_code == 1, result.output  # customers fail with 500: a partial apply
    outputs.append(result.output)

    for args in (["-vv", "apply", "-w", remote_ws, "--auto-approve"], ["-vv", "drift", "-w", remote_ws],
                 ["-vv", "drift", "-w", remote_ws, "--format", "json"], ["-vv", "doctor", "-w", remote_ws],
                 ["-vv", "plan", "-w", remote_ws, "--format", "json"], ["-vv", "show", plan_file, "-w", remote_ws],
                 ["-vv", "import", "-w", remote_ws, "--force"]):
        result = run(*args)
        assert "Traceback" not in result.output
        outputs.append(result.output)

    audit = remote_ws / ".lagosync" / "audit.jsonl"
    assert audit.is_file() and audit.read_text().strip()
    everything = "\n".join(outputs) + caplog.text + audit.read_text() + plan_file.read_text()
    assert "Authorization" in caplog.text or "authorization" in everything  # headers were logged...
    assert SECRET not in everything  # ...redacted
    for path in remote_ws.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert SECRET not in path.read_text(errors="replace"), path


def test_key_never_in_exceptions_or_reprs(secret_server, monkeypatch):
    port = secret_server.server_address[1]
    monkeypatch.setenv("SOME_OTHER_TOKEN", "unrelated")

    async def scenario():
        seen = []
        good = LagoClient(f"http://127.0.0.1:{port}", SECRET, environment="remote", api_key_env=KEY_VAR,
                          max_retries=0)
        bad = LagoClient(f"http://127.0.0.1:{port}", SECRET + "x", environment="remote", api_key_env=KEY_VAR,
                         max_retries=0)
        closed = LagoClient("http://127.0.0.1:9", SECRET, environment="remote", max_retries=0, timeout=2)
        seen += [repr(good), str(good), repr(good._key), str(vars(good))]
        async with good, bad, closed:
            for _client, call in ((bad, bad.list_plans()), (good, good.get_plan("nope")),
                                 (good, good.create_customer({"external_id": "x", "name": "y"})),
                                 (closed, closed.health())):
                try:
                    await call
                except Exception as exc:  # noqa: BLE001 - inspecting every error
                    seen += [str(exc), repr(exc), str(vars(exc))]
                else:
                    raise AssertionError("expected an error")
        return seen

    seen = asyncio.run(scenario())
    assert len(seen) == 4 + 4 * 3
    assert any("401" in text for text in seen) and any("cannot reach Lago" in text for text in seen)
    for text in seen:
        assert SECRET not in text


def test_redaction_safety_net(monkeypatch):
    from lagosync.errors import redact_secrets

    monkeypatch.setenv("LAGO_PROD_API_KEY", "abcdefgh12345")
    monkeypatch.setenv("HOME_DIR_NAME", "abcdefgh12345-not-secret-name")
    assert redact_secrets("key abcdefgh12345 here") == "key *** here"
    monkeypatch.setenv("SHORT_KEY", "abc")  # too short to redact safely (would mangle text)
    assert redact_secrets("abc") == "abc"
