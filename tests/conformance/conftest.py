"""Conformance fixtures: the spec file (CI must have it) and the Lago targets of the contract suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lagosync.emulator import start_in_thread

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


@pytest.fixture(params=["emulator", "real-lago"])
def lago_target(request):
    """(api_url, api_key) of the server under test.

    ``emulator``: ``lagosync emulator serve``'s server on a free port of 127.0.0.1, in a thread.
    ``real-lago``: LAGO_API_URL / LAGO_API_KEY (e.g. Lago from its own docker compose); skipped if unset.
    """
    if request.param == "real-lago":
        url, key = os.environ.get("LAGO_API_URL"), os.environ.get("LAGO_API_KEY")
        if not url or not key:
            pytest.skip("LAGO_API_URL and LAGO_API_KEY are not set: no real Lago to run the contract suite against")
        yield url if url.endswith("/") else url + "/", key
        return
    server, thread = start_in_thread(host="127.0.0.1", port=0, api_key="contract-key")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", "contract-key"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
