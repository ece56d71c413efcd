"""`lagosync emulator serve` as a real process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from lagosync.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_serves_and_persists(tmp_path):
    port = _free_port()
    db = tmp_path / "lago.db"
    script = Path(sys.executable).parent / "lagosync"
    cmd = [str(script), "emulator", "serve", "--port", str(port), "--db", str(db),
           "--api-key", "cli-key"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    assert json.loads(r.read())["version"] == "1.51.0"
                break
            except OSError:
                time.sleep(0.05)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/taxes", method="POST",
            data=json.dumps({"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).encode(),
            headers={"Authorization": "Bearer cli-key", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(10)
    assert db.exists()


def test_serve_rejects_bad_probability_without_traceback():
    result = CliRunner().invoke(main, ["emulator", "serve", "--p500", "1.5"])
    assert result.exit_code == 1
    assert "error: --p500 must be a probability" in result.output
    assert "Traceback" not in result.output
