"""Process-level helpers (lagosync/runtime.py)."""

from __future__ import annotations

import copy
import json
import tracemalloc

from lagosync.runtime import Shapes, SharedKeys

FIELDS = ("lago_id", "external_id", "external_customer_id", "name", "status", "billing_time", "started_at",
          "created_at", "plan_code", "current_billing_period_started_at", "current_billing_period_ending_at")


def _filled(shape: SharedKeys, i: int) -> dict:
    d = shape.new()
    for field in FIELDS:
        d[field] = f"{field}-{i}"
    return d


def _allocated(make) -> int:
    """Bytes held by 1,000 dicts that ``make(i)`` builds (their values are shared ints)."""
    tracemalloc.start()
    try:
        made = [make(i) for i in range(1000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(made) == 1000
    return held


def test_dicts_of_one_shape_share_their_keys_and_stay_plain_dicts():
    def shared(i: int, shape=SharedKeys("_Measured")) -> dict:
        d = shape.new()
        for field in FIELDS:
            d[field] = 7
        return d
    # about 190 bytes each instead of 460 (CPython's key-sharing dictionaries)
    assert _allocated(shared) < _allocated(lambda i: dict.fromkeys(FIELDS, 7)) / 2

    shape = SharedKeys("_Row")
    rows = [_filled(shape, i) for i in range(3)]
    plain = {field: f"{field}-0" for field in FIELDS}
    # in every other respect a dict: type, equality, order, JSON, copies, changes
    assert type(rows[0]) is dict and rows[0] == plain and list(rows[0]) == list(FIELDS)
    assert json.loads(json.dumps(rows[1])) == rows[1] and copy.deepcopy(rows[2]) == rows[2]
    rows[0]["extra"] = 1
    del rows[0]["status"]
    assert "status" not in rows[0] and rows[0]["extra"] == 1 and rows[1]["status"] == "status-1"
    assert _filled(shape, 9)["name"] == "name-9"


def test_a_shape_filled_in_another_order_or_partly_keeps_its_values():
    shape = SharedKeys("_Partial")
    full = _filled(shape, 0)
    backwards = shape.new()
    for field in reversed(FIELDS[:4]):
        backwards[field] = field
    assert list(backwards) == list(reversed(FIELDS[:4])) and backwards["name"] == "name"
    assert full["name"] == "name-0" and len(full) == len(FIELDS)


def test_shapes_name_their_classes_by_number_and_stop_sharing_past_their_limit():
    shapes = Shapes("_T", limit=2)
    odd = shapes.new("a\x00b.\ud800")  # any text names a shape
    odd["k"] = 1
    assert odd == {"k": 1} and type(odd) is dict
    assert _allocated(lambda i: _fill(shapes.new("second"))) < _allocated(lambda i: _fill({})) / 2
    # a third shape is past the limit: plain dicts (field names that are data make many shapes)
    assert _allocated(lambda i: _fill(shapes.new(f"third{i % 3}"))) > _allocated(lambda i: _fill({})) * 0.9


def _fill(d: dict) -> dict:
    for field in FIELDS:
        d[field] = 7
    return d


# runtime.Child runs in a fresh interpreter: this test process may have threads (servers of other
# tests), which make Child.start refuse to fork, as it should
_CHILD_SCRIPT = r'''
import asyncio, json, os, sys, threading, time
from lagosync.runtime import Child

def loud():
    print("printed by the child")
    print("written to stderr by the child", file=sys.stderr)
    return {"text": "é" * 10, "big": "x" * 3_000_000}

async def main():
    out = {}
    child = Child.start(loud)
    done, value = await child.result()
    out["value"] = [done, value["text"], len(value["big"])]
    out["peak_rss"] = child.peak_rss
    out["raised"] = await Child.start(lambda: 1 / 0).result()
    out["unpicklable"] = await Child.start(lambda: (lambda: 1)).result()
    out["died"] = await Child.start(lambda: os._exit(3)).result()
    child = Child.start(lambda: time.sleep(60))
    waiting = asyncio.ensure_future(child.result())
    await asyncio.sleep(0.05)
    waiting.cancel()  # the caller gave up waiting (Ctrl-C, an error elsewhere)
    try:
        await waiting
    except asyncio.CancelledError:
        out["cancelled"] = True
    child.stop()
    child = Child.start(lambda: time.sleep(60))
    started = time.monotonic()
    child.stop()
    child.stop()
    out["stopped_in"] = time.monotonic() - started
    try:
        os.waitpid(-1, os.WNOHANG)
        out["children_left"] = True
    except ChildProcessError:
        out["children_left"] = False
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    out["with_another_thread"] = Child.start(lambda: 1) is None
    release.set()
    thread.join()
    print(json.dumps(out))

asyncio.run(main())
'''


def test_child_hands_back_its_result_or_says_it_has_none():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _CHILD_SCRIPT], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # the child printed nothing
    out = json.loads(res.stdout)  # nothing else on stdout either
    assert out["value"] == [True, "é" * 10, 3_000_000]  # larger than a pipe's buffer
    assert out["peak_rss"] > 3_000_000  # the child's peak resident memory held the 3 MB it answered
    assert out["raised"] == [False, None]
    assert out["unpicklable"] == [False, None]
    assert out["died"] == [False, None]
    assert out["cancelled"] is True
    assert out["stopped_in"] < 5  # killed, not waited for
    assert out["children_left"] is False  # every child reaped
    assert out["with_another_thread"] is True  # no fork with another thread running


_ORPHAN_SCRIPT = r'''
import asyncio, sys, time
from lagosync.runtime import Child

child = Child.start(lambda: time.sleep(60))
print(child._pid, flush=True)
time.sleep(60)
'''


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_child_ends_when_its_parent_is_killed():
    """A parent killed outright (SIGKILL: no cleanup of its own runs) takes its child with it: the
    child does not go on loading a workspace for no one."""
    import signal
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not _ended(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not _ended(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _ended(pid)
    finally:
        parent.kill()
        parent.wait()
