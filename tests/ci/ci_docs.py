"""Small saved-plan documents for the CI tests (docs/ARCHITECTURE.md "Plan" shape)."""

from __future__ import annotations

from lagosync.planner.ops import FORMAT_VERSION


def op(action: str, kind: str = "plan", key: str = "pro", reasons=(), details=None, version=None,
       impact=None, block=None) -> dict:
    doc = {"action": action, "kind": kind, "key": key, "reasons": list(reasons), "changes": [],
           "before": None, "after": None, "details": details or {}, "depends_on": [], "version": version,
           "impact": list(impact or [])}
    if block is not None:
        doc["blocked"] = block
    return doc


def paid(change: str = "price", sub: str = "s1") -> list[dict]:
    """The money impact of an operation that makes subscription ``sub`` pay differently."""
    return [{"subscription": sub, "customer": "c1", "change": change, "detail": "test", "when": "now"}]


def plan_doc(env: str = "staging", ops=()) -> dict:
    return {"format_version": FORMAT_VERSION, "environment": env, "lago_url": "https://lago.example/api/v1",
            "workspace_digest": "sha256:" + "ab" * 32, "created_at": "2025-01-01T00:00:00Z",
            "operations": list(ops), "unmanaged": [], "fingerprints": {}}
