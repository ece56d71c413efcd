"""Principle 6: a user mistake is never a traceback. Every command, with bad input, exits
non-zero with one ``error: ...`` line that says what to do (doctor: a FAIL line in its report)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lagosync.cli import main

SECRET = "sk_live_SECRETSECRET"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_error(result, *needles, code=None):
    """Exit non-zero, no exception escaped, no traceback, one `error: ` line holding ``needles``."""
    out = result.output
    assert result.exit_code != 0, out
    if code is not None:
        assert result.exit_code == code, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out
    assert SECRET not in out
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return errors[0]


def assert_doctor_fails(result, *needles):
    out = result.output
    assert result.exit_code == 1, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out and SECRET not in out
    assert out.splitlines()[-1] == "not healthy"
    fail = [line for line in out.splitlines() if "FAIL" in line]
    assert len(fail) == 1
    for needle in needles:
        assert needle in fail[0], fail[0]


ENV_COMMANDS = [
    ("plan",),
    ("drift",),
    ("import", "--force"),
    ("apply", "--auto-approve"),
    ("show", "PLANFILE"),
]

ENV_CASES = {
    "nope": ("unknown environment 'nope'", "add it under environments"),
    "nokey": ("needs a Lago API key", "set the environment variable LAGOSYNC_CLI_TEST_UNSET"),
    "closed": ("cannot reach Lago at http://127.0.0.1:", "check the URL and the network"),
    "badauth": ("Lago rejected the API key for environment 'badauth'", "set LAGOSYNC_CLI_TEST_KEY to a valid key"),
    "html500": ("Lago returned HTTP 500 with a non-JSON body", "check the Lago server logs"),
}


@pytest.fixture
def saved_plan(ws, tmp_path):
    out = tmp_path / "plan.json"
    result = invoke("plan", "-w", ws, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("env", sorted(ENV_CASES))
@pytest.mark.parametrize("command", ENV_COMMANDS, ids=lambda c: c[0])
def test_environment_problems(ws, saved_plan, command, env):
    args = [saved_plan if a == "PLANFILE" else a for a in command]
    result = invoke(*args, "-w", ws, "-e", env)
    if command[0] == "show":
        # show renders a saved plan even when Lago cannot be asked (README: exit 0 with a warning);
        # the warning says why, with the same message the other commands fail with
        assert result.exit_code == 0 and "Traceback" not in result.output and SECRET not in result.output
        assert "Warning: not checked against Lago" in result.output
        assert ENV_CASES[env][0] in result.output
        return
    assert_clean_error(result, *ENV_CASES[env])


@pytest.mark.parametrize("env", sorted(ENV_CASES))
def test_doctor_environment_problems(ws, env):
    result = invoke("doctor", "-w", ws, "-e", env)
    if env == "nope":
        assert_clean_error(result, *ENV_CASES[env])
    else:
        assert_doctor_fails(result, *ENV_CASES[env])


def test_export_api_key_unknown_environment(ws):
    assert_clean_error(invoke("ci", "export-api-key", "-w", ws, "-e", "nope"), "unknown environment 'nope'")


BAD_PLANS = {
    "corrupt": ("{not json", "JSON"),
    "truncated": ('{"format_version": 1, "operations": [', "JSON"),
    "empty": ("", "plan"),
    "list": ("[1, 2]", "JSON object"),
    "binary": ("\udcff\x00\x01", "plan"),
}


def _write_plan(path, text):
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("kind", sorted(BAD_PLANS))
@pytest.mark.parametrize("command", [("show",), ("apply", "--auto-approve"), ("ci", "labels"),
                                     ("ci", "pr-comment"), ("ci", "drift-issue")], ids=" ".join)
def test_bad_plan_files(ws, tmp_path, kind, command):
    path = tmp_path / f"{kind}.json"
    text, needle = BAD_PLANS[kind]
    _write_plan(path, text)
    extra = ["-w", ws] if command[0] in ("show", "apply") else []
    assert_clean_error(invoke(*command, path, *extra), str(path), needle)


def test_plan_from_a_future_format_version(ws, saved_plan):
    data = json.loads(saved_plan.read_text())
    data["format_version"] = 99
    saved_plan.write_text(json.dumps(data))
    for command in (("show",), ("apply", "--auto-approve")):
        assert_clean_error(invoke(*command, saved_plan, "-w", ws), "format_version 99", "lagosync plan --out")
    assert_clean_error(invoke("ci", "labels", saved_plan), "format_version 99")


@pytest.mark.parametrize("command", ["show", "apply", "ci labels"])
def test_missing_plan_file(ws, tmp_path, command):
    path = tmp_path / "nope.json"
    extra = ["-w", ws] if command in ("show", "apply") else []
    assert_clean_error(invoke(*command.split(), path, *extra), str(path), "plan")


@pytest.mark.parametrize("command", [("plan",), ("drift",), ("doctor",), ("apply", "--auto-approve"),
                                     ("import", "--force")], ids=lambda c: c[0])
def test_corrupt_local_database(ws, command):
    (ws / ".lagosync").mkdir()
    (ws / ".lagosync" / "local.db").write_bytes(b"this is not SQLite\n" * 64)
    result = invoke(*command, "-w", ws)
    if command[0] == "doctor":
        assert_doctor_fails(result, "local.db", "delete it")
    else:
        assert_clean_error(result, "local.db", "cannot be read", "delete it")


def test_local_database_folder_is_a_file(ws):
    (ws / ".lagosync").write_text("oops")
    assert_clean_error(invoke("plan", "-w", ws), ".lagosync", "cannot create")


COMMANDS_ON_WORKSPACE = [("validate",), ("plan",), ("drift",), ("doctor",), ("apply", "--auto-approve"),
                         ("import", "--force"), ("ci", "environments"), ("ci", "export-api-key")]


@pytest.mark.parametrize("command", COMMANDS_ON_WORKSPACE, ids=" ".join)
@pytest.mark.parametrize("what", ["missing", "file"])
def test_workspace_not_a_folder(tmp_path, command, what, monkeypatch):
    monkeypatch.delenv("LAGOSYNC_API_KEY", raising=False)
    root = tmp_path / "ws"
    if what == "file":
        root.write_text("not a folder")
    result = invoke(*command, "-w", root)
    needle = "workspace folder not found" if what == "missing" else "is a file, not a workspace folder"
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert needle in result.stderr and "-w DIR" in result.stderr


@pytest.mark.parametrize("command", [("validate",), ("plan",), ("apply", "--auto-approve"), ("drift",)],
                         ids=lambda c: c[0])
@pytest.mark.parametrize("how", ["directory", "dangling-symlink", "bad-utf8", "no-permission"])
def test_unreadable_workspace_file(ws, command, how):
    target = ws / "orgs.yaml"
    target.unlink()
    if how == "directory":
        target.mkdir()
    elif how == "dangling-symlink":
        target.symlink_to(ws / "missing-target.yaml")
    elif how == "bad-utf8":
        target.write_bytes(b"orgs:\n  - external_id: \xff\xfe\n")
    else:
        target.write_text("orgs: []\n")
        target.chmod(0)
        if os.access(target, os.R_OK):  # root reads anything: same check, through a directory
            target.chmod(0o644)
            target.unlink()
            target.mkdir()
    result = invoke(*command, "-w", ws)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "orgs.yaml" in result.stderr


def test_garbage_lock_file(ws):
    folder = ws / ".lagosync"
    folder.mkdir()
    (folder / "apply-local.lock").write_bytes(b"\x00\xffgarbage{")
    result = invoke("apply", "-w", ws, "--auto-approve")
    # a lock nobody can read is taken over only if its holder cannot be identified: either way,
    # no traceback, and when refused the message names the lock file to remove
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code != 0:
        assert_clean_error(result, "apply-local.lock")


def test_emulator_serve_bad_db_and_port(tmp_path, servers):
    assert_clean_error(invoke("emulator", "serve", "--port", 0, "--db", tmp_path / "no" / "dir" / "x.db"),
                       "cannot open the emulator database")
    assert_clean_error(invoke("emulator", "serve", "--port", servers["badauth"]), "Address already in use")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not sqlite at all\n" * 64)
    assert_clean_error(invoke("emulator", "serve", "--port", 0, "--db", bad), "cannot open the emulator database")


def test_unexpected_exception_is_one_line(monkeypatch, ws):
    """A bug (not a LagosyncError) is still one line, without the secret; LAGOSYNC_DEBUG=1 re-raises."""
    from lagosync import workflow

    def boom(*args, **kwargs):
        raise RuntimeError(f"kaboom with {SECRET} inside\nsecond line")

    monkeypatch.setattr(workflow, "run_plan", boom)
    result = invoke("plan", "-w", ws)
    line = assert_clean_error(result, "unexpected internal error", "RuntimeError: kaboom", "LAGOSYNC_DEBUG=1")
    assert "second line" not in line
    monkeypatch.setenv("LAGOSYNC_DEBUG", "1")
    result = invoke("plan", "-w", ws)
    assert isinstance(result.exception, RuntimeError)


def _subprocess(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    exe = shutil.which("lagosync", path=os.path.dirname(sys.executable)) or shutil.which("lagosync")
    assert exe, "the lagosync console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("case", ["closed", "badauth", "corrupt-plan", "missing-ws", "bad-env"])
def test_real_process(ws, tmp_path, case):
    if case == "corrupt-plan":
        path = tmp_path / "p.json"
        path.write_text('{"format_version": 1, "oper')
        args = ["show", path, "-w", ws]
    elif case == "missing-ws":
        args = ["plan", "-w", tmp_path / "missing"]
    elif case == "bad-env":
        args = ["drift", "-w", ws, "-e", "nope"]
    else:
        args = ["-vv", "apply", "-w", ws, "-e", case, "--auto-approve"]
    proc = _subprocess(*args)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
