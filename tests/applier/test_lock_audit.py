"""The apply lock and the audit log."""

import json
import os
import subprocess
import sys

import pytest

from lagosync.applier import ApplyLock, AuditLog, LockHeld


def test_lock_excludes_a_second_apply_and_is_released(tmp_path):
    with ApplyLock(tmp_path, "prod") as lock:
        assert lock.path.exists()
        with pytest.raises(LockHeld, match="another apply is running.*'prod'"):
            ApplyLock(tmp_path, "prod").acquire()
        ApplyLock(tmp_path, "staging").acquire().release()  # other environment: independent
    assert not lock.path.exists()
    ApplyLock(tmp_path, "prod").acquire().release()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    lock = ApplyLock(tmp_path, "local")
    lock.path.parent.mkdir(parents=True)
    import socket
    lock.path.write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname(), "started": 0}))
    with ApplyLock(tmp_path, "local") as taken:
        assert json.loads(taken.path.read_text())["pid"] == os.getpid()


def test_lock_of_a_live_process_is_respected(tmp_path):
    import socket
    lock = ApplyLock(tmp_path, "local")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": 0}))
    with pytest.raises(LockHeld):
        ApplyLock(tmp_path, "local").acquire()


def test_audit_log_appends_json_lines_without_secrets(tmp_path):
    lines = []
    path = tmp_path / ".lagosync" / "audit.jsonl"
    log = AuditLog(path, "prod", echo=lines.append)
    log.write(operation="create", obj="plan:pro", method="POST", path="/plans", status=200, outcome="ok")
    log.write(operation="update", obj="plan:pro", method="PUT", path="/plans/pro", status=422,
              outcome="error", error="boom")
    AuditLog(path, "prod").write(operation="delete", obj="tax:vat", method="DELETE", path="/taxes/vat",
                                 status=200, outcome="ok")
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(records) == 3 and len(lines) == 2
    assert set(records[0]) == {"time", "environment", "operation", "object", "method", "path", "status", "outcome"}
    assert records[1]["error"] == "boom" and records[1]["status"] == 422
    assert records[0]["time"].endswith("Z")
