"""Process-level helpers shared by the stages (nothing here knows Lago or the workspace)."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import signal
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a stage builds many objects that live on (reading a
    workspace, reading Lago, planning): each automatic collection would walk all of them again (a
    100,000-org file took 3x longer to read; at 10,000 orgs, a read of Lago spent a quarter of its CPU
    in collections). Nothing these stages build is cyclic garbage (reference counting frees it) but
    for a little per HTTP request (1.3 KiB, collected afterwards). Nested uses keep it paused; it
    runs again as before afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class SharedKeys:
    """Dicts of one shape (the objects of one list, the entries of one nested list) that share their
    key table, as the attribute dicts of one class's instances do (CPython's key-sharing dictionaries,
    PEP 412): a dict of 13 keys then holds about 190 bytes instead of 460, which matters for what a
    read of 100,000 orgs keeps. They are plain ``dict``\\ s in every other respect; one changed later
    (a key deleted, many new keys) only stops sharing, and another Python merely shares less.

    ``new()`` gives an empty dict of the shape, to be filled by item assignment in a stable order
    (``dict.update`` on it would give up the sharing for the whole shape)."""

    __slots__ = ("_cls",)

    def __init__(self, name: str) -> None:
        self._cls = type(name, (), {})  # one class per shape: its instances' dicts share the keys

    def new(self) -> dict:
        return self._cls().__dict__


class Shapes:
    """The ``SharedKeys`` of the shapes one builder meets, found by a name of the builder's choosing
    (a path of field names, which may be any text: the class made for it is named by a number). Past
    ``limit`` shapes (field names that are data, such as metadata keys) new ones are plain dicts."""

    __slots__ = ("_by_name", "_prefix", "_limit")

    def __init__(self, prefix: str, limit: int = 256) -> None:
        self._by_name: dict[str, SharedKeys | None] = {}
        self._prefix = prefix
        self._limit = limit

    def new(self, name: str) -> dict:
        """An empty dict of shape ``name``, filled by item assignment."""
        try:
            keys = self._by_name[name]
        except KeyError:
            count = len(self._by_name)
            keys = self._by_name[name] = SharedKeys(f"{self._prefix}{count}") if count < self._limit else None
        return {} if keys is None else keys.new()


class Child:
    """``fn()`` computed in a forked child process, on another core while this process goes on, its
    result handed back pickled (``Child.start``, then ``await result()``). Only an accelerator: the
    caller computes ``fn()`` itself whenever this cannot (``start`` gives None: not Linux, or other
    threads running, which a fork would copy in whatever state they are) or did not (``result``
    gives ``(False, None)``: ``fn`` raised, the child died or its answer did not unpickle). So
    ``fn``'s problems are always reported by the caller's own run of it, never by the child, which
    prints nothing (its standard streams are /dev/null) and runs none of this process's cleanups."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid: int | None = pid
        self._fd: int | None = fd
        # bytes: the child's peak resident memory once it is reaped (the pages it still shared with
        # this process included: an upper bound on what it added)
        self.peak_rss = 0

    @classmethod
    def start(cls, fn: Callable[[], Any]) -> Child | None:
        if not sys.platform.startswith("linux") or threading.active_count() > 1:
            return None  # macOS and Windows do not fork safely (or at all); threads do not survive one
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return None
        if pid == 0:  # pragma: no cover  (the child: coverage of a forked process is not collected)
            status = 1
            try:
                os.close(read_fd)
                _end_with(parent)
                _quiet()
                value = fn()
                with os.fdopen(write_fd, "wb") as pipe:  # pickled as it is written: never held whole
                    pickle.dump(value, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            except BaseException:  # noqa: BLE001 - the parent computes it again and reports it
                pass
            os._exit(status)
        os.close(write_fd)
        return cls(pid, read_fd)

    async def result(self) -> tuple[bool, Any]:
        """``(True, fn())`` once the child is done, else ``(False, None)``; the child is reaped."""
        fd = self._fd
        if fd is None:
            return False, None
        loop = asyncio.get_running_loop()
        ended = loop.create_future()  # True: the child closed the pipe (it answered, or died)
        data = bytearray()

        def readable() -> None:
            try:
                while chunk := os.read(fd, 1 << 20):
                    data.extend(chunk)
            except BlockingIOError:
                return  # more to come
            except OSError:
                if not ended.done():
                    ended.set_result(False)
                return
            if not ended.done():
                ended.set_result(True)

        os.set_blocking(fd, False)
        loop.add_reader(fd, readable)
        try:
            closed = await ended
        finally:
            loop.remove_reader(fd)
        self._close()
        status = self._reap(kill=not closed)  # a pipe that failed: the child is not waited for
        if status != 0 or not data:
            return False, None
        try:
            with paused_gc():
                return True, pickle.loads(data)
        except Exception:  # noqa: BLE001 - computed again by the caller
            return False, None
        finally:
            del data[:]

    def stop(self) -> None:
        """Ends the child if it still runs (its result is not wanted) and reaps it."""
        self._close()
        self._reap(kill=True)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _reap(self, *, kill: bool) -> int | None:
        """The child's exit status (0: it answered), once it has ended; None if already reaped."""
        if self._pid is None:
            return None
        pid, self._pid = self._pid, None
        try:
            if kill:
                os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
        except (ProcessLookupError, ChildProcessError):  # reaped by someone else (SIGCHLD ignored)
            return None
        self.peak_rss = usage.ru_maxrss * 1024  # KiB on Linux
        return os.waitstatus_to_exitcode(status)


PR_SET_PDEATHSIG = 1  # prctl(2): the signal the calling process gets when its parent ends


def _end_with(parent: int) -> None:  # pragma: no cover  (runs in the forked child)
    """The child is killed when ``parent`` ends, however it ends (SIGKILL included): its answer
    would go to no one. Linux's parent-death signal, asked through libc; a parent that ended
    before it was asked ends the child now."""
    try:
        import ctypes  # only in the child: the start-up of every command does not pay for it

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc to ask: the child ends at its first write instead
        pass
    if os.getppid() != parent:
        os._exit(1)


def _quiet() -> None:  # pragma: no cover  (runs in the forked child)
    """The child prints nothing, leaves signals to their defaults (Ctrl-C ends it, it never wakes
    the parent's event loop through the inherited wake-up descriptor) and traces no allocation."""
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    if tracemalloc.is_tracing():  # a parent that measures its memory does not slow its child down
        tracemalloc.stop()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
