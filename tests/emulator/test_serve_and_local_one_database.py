"""`lagosync emulator serve --db .lagosync/local.db` and `-e local` never use one database at once:
each emulator keeps what it read in memory, so each would miss the other's writes. The second one is
refused, saying who holds the database and what to do (lagosync/emulator/dblock.py)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.client import connect
from lagosync.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
LAGOSYNC = Path(sys.executable).parent / "lagosync"


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("lagosync.yaml", "orgs.yaml"):
        (root / name).write_text((ROOT / name).read_text())
    (root / "plans").mkdir()
    for f in (ROOT / "plans").glob("*.yaml"):
        (root / "plans" / f.name).write_text(f.read_text())
    (root / ".lagosync").mkdir()
    return root


class Served:
    """A `lagosync emulator serve` process (started and stopped by the test, by its own id)."""

    def __init__(self, db: Path):
        self.proc = subprocess.Popen([str(LAGOSYNC), "emulator", "serve", "--port", "0", "--db", str(db)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_line = ""
        reader = threading.Thread(target=self._read_first_line, daemon=True)
        reader.start()
        reader.join(20)  # the announce line, or the process's end with its error

    def _read_first_line(self) -> None:
        assert self.proc.stderr is not None
        self.first_line = self.proc.stderr.readline()

    @property
    def url(self) -> str:
        assert "listening on " in self.first_line, self.first_line
        return self.first_line.split("listening on ", 1)[1].split(" ", 1)[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(20)


def plan_local(ws: Path):
    return CliRunner().invoke(main, ["plan", "-w", str(ws), "-e", "local", "--no-color"])


def test_local_is_refused_while_serve_holds_its_database_and_works_after(ws):
    db = ws / ".lagosync" / "local.db"
    served = Served(db)
    try:
        url = served.url
        result = plan_local(ws)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert f"{db}: the database of environment 'local' is served by `lagosync emulator serve` (pid " in error
        assert url in error and "each miss the other's writes" in error
        assert "Stop that server (Ctrl-C)" in error and f"api_url: {url.removesuffix('/api/v1')}" in error
        # the server is untouched and still answers
        req = urllib.request.Request(f"{url}/taxes", headers={"Authorization": "Bearer lago-local-key"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["taxes"] == []

        second = Served(db)  # a second server on the same file: refused too
        try:
            second.proc.wait(20)
            assert second.proc.returncode == 1
            assert "already served by another `lagosync emulator serve` (pid" in second.first_line
        finally:
            second.stop()
    finally:
        served.stop()
    result = plan_local(ws)
    assert result.exit_code == 0 and "24 to create" in result.output, result.output


def test_serve_is_refused_while_a_local_command_uses_the_database(ws):
    db = ws / ".lagosync" / "local.db"
    client = connect(load_workspace(ws), "local")  # as a plan or apply of `local` in progress
    refused = Served(db)
    try:
        refused.proc.wait(20)
        assert refused.proc.returncode == 1
        assert refused.first_line.startswith(f"error: --db {db}: a lagosync command on the `local` environment "
                                             "is using this database right now"), refused.first_line
        assert "wait for it to finish" in refused.first_line
    finally:
        refused.stop()
    del client
    gc.collect()
    served = Served(db)  # the command is over: the server may have the database
    try:
        assert served.url.startswith("http://127.0.0.1:")
    finally:
        served.stop()
