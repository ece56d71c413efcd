"""Session-wide conformance check: every emulator response any test produces is validated
against Lago's OpenAPI spec (../shared/lago-openapi/openapi.yaml) at the end of the run.

Mechanism: ``lagosync.emulator.recorder`` is enabled for the session; the emulator core records
``(method, path template, status) -> distinct body shapes``; at session end each is validated
(lagosync.emulator.spec, with the server-vs-spec exceptions of lagosync.emulator.spec_exceptions).
A mismatch fails the run (exit status 1) and is listed in the terminal summary.
If ../shared is missing: the run fails when CI=true, otherwise the check is skipped with a reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from lagosync.emulator import recorder

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = (REPO_ROOT / ".." / "shared" / "lago-openapi" / "openapi.yaml").resolve()

_report: dict = {"problems": [], "note": None, "checked": 0}

# Property tests (hypothesis) explore new inputs on every developer run; in CI (CI=true) they use a
# fixed seed so a landing is never decided by the draw of the day. Fixed-seed runs still fail on
# any bug their examples reach; run `pytest tests/workspace` locally to explore further.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")


def spec_available() -> bool:
    return SPEC_PATH.is_file()


def require_shared() -> Path:
    """For tests reading ../shared: fail in CI, skip (with the reason) elsewhere."""
    if spec_available():
        return SPEC_PATH
    reason = f"../shared is missing ({SPEC_PATH} not found)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; it is required when CI=true")
    pytest.skip(reason)


def pytest_configure(config):
    recorder.clear()
    recorder.enable()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    if not recorder.responses:
        return
    if not spec_available():
        reason = f"spec validation of emulator responses: ../shared is missing ({SPEC_PATH})"
        if os.environ.get("CI", "").lower() == "true":
            _report["problems"].append(reason + " and CI=true")
            session.exitstatus = 1
        else:
            _report["note"] = "SKIPPED " + reason
        return
    from lagosync.emulator.spec import load_validator

    validator = load_validator(str(SPEC_PATH))
    problems = []
    for (method, template, status), bodies in sorted(recorder.responses.items()):
        for body in bodies:
            _report["checked"] += 1
            problems.extend(validator.validate(method, template, status, body))
    if problems:
        _report["problems"] = sorted(set(problems))
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _report["note"]:
        terminalreporter.write_line(_report["note"], yellow=True)
    if _report["problems"]:
        terminalreporter.section("emulator responses not conforming to the Lago OpenAPI spec", red=True)
        for line in _report["problems"][:200]:
            terminalreporter.write_line(line)
        terminalreporter.write_line(
            "fix the emulator, or, if lago-api really behaves so, list the case in "
            "lagosync/emulator/spec_exceptions.py, citing its docs/lago-behaviour.md entry"
        )
    elif _report["checked"]:
        terminalreporter.write_line(
            f"emulator spec conformance: {_report['checked']} distinct response shapes valid "
            f"({recorder.count} responses recorded)"
        )
