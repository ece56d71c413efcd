"""Staleness: has Lago changed, since a plan was made, under the objects the plan touches?"""

from __future__ import annotations

from typing import Any

from .. import model
from .ops import Plan


def stale_objects(plan: Plan, live: Any) -> list[str]:
    """Messages, one per operation whose live object no longer matches what the plan read.

    ``live`` is a freshly read LiveState. Compared with ``plan.fingerprints`` (model.fingerprint of the
    canonical live object): an object changed or deleted since, or an object to create that now exists.
    """
    state = live.state
    out: list[str] = []
    for op in plan.operations:
        current = (state.get(op.kind) or {}).get(op.key)
        recorded = plan.fingerprints.get(op.id)
        if recorded is None:
            if current is not None:
                out.append(f"{op.id} now exists in Lago (the plan would create it)")
        elif current is None:
            out.append(f"{op.id} was deleted in Lago since the plan was made")
        elif model.fingerprint(current) != recorded:
            out.append(f"{op.id} was changed in Lago since the plan was made")
    return out
