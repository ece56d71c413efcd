"""Small saved-plan documents for the CI tests (docs/ARCHITECTURE.md "Plan" shape)."""

from __future__ import annotations

from lagosync.planner.ops import FORMAT_VERSION


def op(action: str, kind: str = "plan", key: str = "pro", reasons=(), details=None, version=None) -> dict:
    return {"action": action, "kind": kind, "key": key, "reasons": list(reasons), "changes": [],
            "before": None, "after": None, "details": details or {}, "depends_on": [], "version": version}


def plan_doc(env: str = "staging", ops=()) -> dict:
    return {"format_version": FORMAT_VERSION, "environment": env, "lago_url": "https://lago.example/api/v1",
            "workspace_digest": "sha256:" + "ab" * 32, "created_at": "2025-01-01T00:00:00Z",
            "operations": list(ops), "unmanaged": [], "fingerprints": {}}
