"""The planner: compare desired and live state per kind and produce a reviewable ``Plan`` (pure data).

Public API (docs/ARCHITECTURE.md "Plan"): ``Action``, ``ACTIONS``, ``REASONS``, ``Change``, ``Operation``
(with its typed ``Blocked``, ``NewVersion``, ``CustomerMove``), ``Plan``, ``make_plan``, ``stale_objects``.
"""

from ..kinds import KINDS, references
from .make import make_plan, order_operations
from .ops import (
    ACTIONS,
    DESTROY_REASONS,
    FORMAT_VERSION,
    REASONS,
    REPRICE_REASONS,
    WARNING_REASONS,
    Action,
    Blocked,
    Change,
    CustomerMove,
    NewVersion,
    Operation,
    Plan,
)
from .stale import stale_objects

__all__ = [
    "ACTIONS", "DESTROY_REASONS", "FORMAT_VERSION", "KINDS", "REASONS", "REPRICE_REASONS", "WARNING_REASONS",
    "Action", "Blocked", "Change", "CustomerMove", "NewVersion", "Operation", "Plan",
    "make_plan", "order_operations", "references", "stale_objects",
]
