"""A process-wide record of emulator responses, for validating them against the OpenAPI spec.

The root ``tests/conftest.py`` enables it for the test session; every response the emulator core
produces is then recorded as ``(method, path template, status) -> bodies``. Bodies are kept per
distinct *shape* (the set of key paths), bounded per operation, so validation stays fast.
"""

from __future__ import annotations

import threading

MAX_SHAPES_PER_OPERATION = 25


def _shape(value, prefix: str = "", out: set | None = None, depth: int = 0) -> set:
    out = set() if out is None else out
    if depth > 6:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            key = f"{prefix}.{k}" if not prefix or not k.isdigit() else f"{prefix}.#"
            out.add((key, type(v).__name__))
            _shape(v, key, out, depth + 1)
    elif isinstance(value, list):
        for item in value[:3]:
            _shape(item, prefix + "[]", out, depth + 1)
    return out


class Recorder:
    def __init__(self) -> None:
        self.enabled = False
        self._lock = threading.Lock()
        self.responses: dict[tuple[str, str, int], list[object]] = {}
        self._shapes: dict[tuple[str, str, int], set[frozenset]] = {}
        self.count = 0

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def clear(self) -> None:
        with self._lock:
            self.responses.clear()
            self._shapes.clear()
            self.count = 0

    def record(self, method: str, template: str, status: int, body) -> None:
        key = (method, template, status)
        shape = frozenset(_shape(body))
        with self._lock:
            self.count += 1
            shapes = self._shapes.setdefault(key, set())
            if shape in shapes or len(shapes) >= MAX_SHAPES_PER_OPERATION:
                return
            shapes.add(shape)
            self.responses.setdefault(key, []).append(body)


recorder = Recorder()
