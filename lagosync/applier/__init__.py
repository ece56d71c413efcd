"""The applier: executes a ``Plan`` against Lago safely (issue 5).

Public API: ``apply`` / ``apply_async`` (plan or load a saved plan, check, confirm, execute,
re-plan), ``ApplyResult``, ``StalePlanError`` (exit code ``STALE_EXIT_CODE`` = 3), ``ApplyRefused``,
``ApplyFailed``, the payload builders in ``lagosync.applier.payloads``, ``ApplyLock`` and ``AuditLog``.
"""

from .audit import AuditLog
from .execute import IgnoredByLago, Outcome, run_all
from .lock import ApplyLock, LockHeld
from .run import (
    STALE_EXIT_CODE,
    ApplyFailed,
    ApplyRefused,
    ApplyResult,
    StalePlanError,
    apply,
    apply_async,
    check_saved_plan,
    desired_state,
    is_destructive,
    is_reprice,
    preflight,
    run_cli,
)

__all__ = [
    "STALE_EXIT_CODE", "ApplyFailed", "ApplyLock", "ApplyRefused", "ApplyResult", "AuditLog",
    "IgnoredByLago", "LockHeld", "Outcome", "StalePlanError", "apply", "apply_async", "check_saved_plan",
    "desired_state", "is_destructive", "is_reprice", "preflight", "run_all", "run_cli",
]
