"""Conformance fixtures: the spec file (CI must have it) and the Lago targets of the contract suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lagosync.emulator import start_in_thread

_tests = str(Path(__file__).resolve().parents[1])  # tests/: lago_targets.py, shared by emulator and conformance
if _tests not in sys.path:
    sys.path.insert(0, _tests)

from lago_targets import REAL_LAGO, real_lago, targets  # noqa: E402

SPEC_PATH = (Path(__file__).resolve().parents[2] / ".." / "shared" / "lago-openapi" / "openapi.yaml").resolve()


@pytest.fixture(scope="session")
def spec_path() -> Path:
    """../shared is required in CI (CI=true); elsewhere a missing copy skips with the reason."""
    if SPEC_PATH.is_file():
        return SPEC_PATH
    reason = f"../shared is missing ({SPEC_PATH} not found)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; it is required when CI=true")
    pytest.skip(reason)


@pytest.fixture(params=targets())
def lago_target(request):
    """(api_url, api_key) of the server under test.

    ``emulator``: ``lagosync emulator serve``'s server on a free port of 127.0.0.1, in a thread.
    ``real-lago``: LAGO_API_URL / LAGO_API_KEY (e.g. Lago from its own docker compose); the case exists
    only when both are set (tests/lago_targets.py), so a run without them reports no skip.
    """
    if request.param == REAL_LAGO:
        real = real_lago()
        assert real is not None
        yield real[0] + "/", real[1]
        return
    server, thread = start_in_thread(host="127.0.0.1", port=0, api_key="contract-key")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", "contract-key"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
