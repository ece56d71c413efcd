"""Who uses an emulator database file: ``lagosync emulator serve`` or the ``local`` environment.

Each emulator keeps what it has read of its database in memory between requests (the store's
generation, the lists' kept rows), so two emulators on one file would each miss the other's writes:
a plan of ``-e local`` would not see what a client wrote through ``emulator serve``, and the
server's answers would not show what ``apply -e local`` wrote. So they never share a file: a lock
file next to the database, ``<db>.lock``, held with ``flock`` for as long as each uses it:

- ``emulator serve`` holds it exclusively and writes its process id and URL into it;
- a command on the ``local`` environment holds it shared (several commands may read one database
  at a time; the apply lock keeps writers apart).

The one that comes second is refused with a message saying who holds the database and what to do.
The lock is the operating system's: it goes with the process however the process ends (no stale
lock to delete by hand). Where ``fcntl`` does not exist (Windows), nothing is locked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from ..errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock
    fcntl = None  # type: ignore[assignment]


def lock_path(db: str | Path) -> Path:
    return Path(f"{db}.lock")


def _open(db: str | Path) -> IO[str] | None:
    if fcntl is None or str(db) == ":memory:":
        return None
    path = lock_path(db)
    try:
        return open(path, "a+", encoding="utf-8")
    except OSError:
        return None  # a read-only folder: the database itself says what is wrong when it is opened


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    return fh.read().strip()


class DatabaseLock:
    """An open ``<db>.lock`` and the lock held on it; ``release()`` (or the process's end) lets go."""

    def __init__(self, fh: IO[str] | None):
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh = None


def hold_for_serving(db: str, url: str) -> DatabaseLock:
    """``emulator serve --db DB``: the database for this server alone, or ``UserError``."""
    fh = _open(db)
    if fh is None:
        return DatabaseLock(None)
    assert fcntl is not None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(fh)
        fh.close()
        if holder:
            raise UserError(
                f"--db {db}: this database is already served by another `lagosync emulator serve` ({holder}); "
                "use that server, stop it first (Ctrl-C), or pass another --db") from None
        raise UserError(
            f"--db {db}: a lagosync command on the `local` environment is using this database right now "
            "(two emulators on one file would each miss the other's writes); wait for it to finish, "
            "or pass another --db") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}, {url}\n")
    fh.flush()
    return DatabaseLock(fh)


def hold_for_local(db: str | Path, environment: str = "local") -> DatabaseLock:
    """The ``local`` environment's emulator on ``db``: shared with other commands, never with a
    running ``emulator serve`` (``UserError`` naming the server and what to do)."""
    fh = _open(db)
    if fh is None:
        return DatabaseLock(None)
    assert fcntl is not None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(fh) or "another process"
        fh.close()
        url = holder.split(", ", 1)[1] if ", " in holder else "its URL"
        raise UserError(
            f"{db}: the database of environment '{environment}' is served by `lagosync emulator serve` "
            f"({holder}); two emulators on one file would each miss the other's writes, so lagosync does "
            f"not open it. Stop that server (Ctrl-C) to use '{environment}', or talk to the server: declare "
            f"an environment with api_url: {url.removesuffix('/api/v1')} and api_key_env naming a variable "
            "that holds its --api-key") from None
    return DatabaseLock(fh)
