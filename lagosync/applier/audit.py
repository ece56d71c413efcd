"""Audit log: one JSON line per write, appended to ``<workspace>/.lagosync/audit.jsonl``.

Fields: time (UTC ISO-8601), environment, operation (action), object ("kind:key"), method, path,
status (HTTP status, null when no response arrived), outcome (ok | error | ignored), and error
(Lago's error message) when there is one. Request bodies and headers are never logged, so no
API key can end up here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path


class AuditLog:
    def __init__(self, path: Path | str | None, environment: str, echo: Callable[[str], None] | None = None):
        self.path = Path(path) if path else None
        self.environment = environment
        self.echo = echo
        self.records: list[dict] = []
        self._mutex = threading.Lock()
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, *, operation: str, obj: str, method: str, path: str, status: int | None,
              outcome: str, error: str | None = None) -> dict:
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "environment": self.environment,
            "operation": operation,
            "object": obj,
            "method": method,
            "path": path,
            "status": status,
            "outcome": outcome,
        }
        if error:
            record["error"] = error
        line = json.dumps(record, sort_keys=False, ensure_ascii=False)
        with self._mutex:
            self.records.append(record)
            if self.path:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
            if self.echo:
                self.echo(line)
        return record
