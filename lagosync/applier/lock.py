"""One apply at a time per workspace and environment on one machine.

The lock is a file ``<workspace>/.lagosync/apply-<env>.lock`` created atomically (O_EXCL) holding
the pid, host and start time. A lock left by a process that no longer exists on this host is taken
over; a live one is a clear error.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ..errors import LagosyncError
from ..workspace.state import ensure_state_dir


class LockHeld(LagosyncError):
    """Another apply holds the lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class ApplyLock:
    def __init__(self, root: Path | str, environment: str):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in environment)
        self.path = Path(root) / ".lagosync" / f"apply-{safe}.lock"
        self.environment = environment
        self._held = False

    def acquire(self) -> ApplyLock:
        ensure_state_dir(self.path.parent)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                if holder is not None and self._is_stale(holder):
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    continue
                if holder is None:  # half-written by a racing process: give it a moment
                    time.sleep(0.05)
                    holder = self._read()
                    if holder is None:
                        continue
                raise LockHeld(
                    f"another apply is running on this workspace for environment '{self.environment}' "
                    f"(pid {holder.get('pid')} on {holder.get('host')}, lock {self.path}); wait for it "
                    "to finish, or remove the lock file if that process is gone"
                ) from None
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            self._held = True
            return self
        raise LockHeld(f"could not take the apply lock {self.path}; remove it if no apply is running")

    def _read(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _is_stale(holder: dict) -> bool:
        if holder.get("host") != socket.gethostname():
            return False  # cannot tell whether a process on another host is alive
        pid = holder.get("pid")
        return not isinstance(pid, int) or not _alive(pid)

    def release(self) -> None:
        if self._held:
            try:
                holder = self._read()
                if holder is None or holder.get("pid") == os.getpid():
                    self.path.unlink()
            except FileNotFoundError:
                pass
            self._held = False

    def __enter__(self) -> ApplyLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
