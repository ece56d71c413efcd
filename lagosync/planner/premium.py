"""Premium-only inputs: a Lago without a premium license ignores them (or refuses one), so the plan
blocks them before apply instead of writing something Lago drops.

lago-behaviour#premium-ignored-fields lists what Lago drops without a license, and
lago-behaviour#graduated-percentage-premium the charge model it refuses. ``PREMIUM_INPUTS`` below is
the one table of them that lagosync's model can hold (the others, such as a plan's
``minimum_commitment``, are not in lagosync's workspace schema). Whether the server has a license the
API does not say (lago-behaviour#premium-not-reported): ``LiveFacts.premium`` is what lagosync.yaml
declares for the environment (``premium: true``; default false).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..facts import LiveFacts
from .diff import filter_label
from .ops import Action, Blocked, Operation

EACH = "*"  # every key of a mapping
EACH_FILTER = "[*]"  # every filter of a charge, named by its values like the plan's diff paths


def _set(value: Any) -> bool:
    return value is not None


def _nonzero(value: Any) -> bool:
    return value is not None and value != 0


def _graduated_percentage(value: Any) -> bool:
    return isinstance(value, str) and value == "graduated_percentage"


@dataclass(frozen=True)
class PremiumInput:
    kind: str
    path: tuple[str, ...]  # keys of the canonical object; EACH / EACH_FILTER walk collections
    used: Callable[[Any], bool]  # the value at ``path`` asks for the premium behaviour
    refused: bool = False  # Lago answers 422 instead of ignoring it


PREMIUM_INPUTS: tuple[PremiumInput, ...] = (
    PremiumInput("plan", ("charges", EACH, "min_amount_cents"), _nonzero),
    PremiumInput("plan", ("charges", EACH, "charge_model"), _graduated_percentage, refused=True),
    PremiumInput("plan", ("charges", EACH, "properties", "per_transaction_min_amount"), _set),
    PremiumInput("plan", ("charges", EACH, "properties", "per_transaction_max_amount"), _set),
    PremiumInput("plan", ("charges", EACH, "filters", EACH_FILTER, "properties", "per_transaction_min_amount"), _set),
    PremiumInput("plan", ("charges", EACH, "filters", EACH_FILTER, "properties", "per_transaction_max_amount"), _set),
    PremiumInput("customer", ("timezone",), _set),
    PremiumInput("customer", ("billing_configuration", "invoice_grace_period"), _set),
)


def _walk(value: Any, path: tuple[str, ...], prefix: str) -> Iterator[tuple[str, Any]]:
    if not path:
        yield prefix, value
        return
    head, rest = path[0], path[1:]
    if head == EACH and isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _walk(value[key], rest, f"{prefix}.{key}" if prefix else str(key))
    elif head == EACH_FILTER and isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield from _walk(item, rest, f"{prefix}[{filter_label(item)}]")
    elif isinstance(value, dict) and head in value:
        yield from _walk(value[head], rest, f"{prefix}.{head}" if prefix else head)


def premium_paths(kind: str, obj: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """``(ignored, refused)``: the paths of ``obj`` (canonical) that use a premium-only input."""
    ignored: list[str] = []
    refused: list[str] = []
    for entry in PREMIUM_INPUTS:
        if entry.kind != kind or obj is None:
            continue
        for path, value in _walk(obj, entry.path, ""):
            if entry.used(value):
                (refused if entry.refused else ignored).append(path)
    return sorted(ignored), sorted(refused)


# reasons and details of a new plan version: a blocked operation creates no version
_VERSION_REASONS = ("locked_after_subscription", "upgrade_immediate", "downgrade_at_period_end")
_VERSION_DETAILS = ("from_plan", "to_plan", "from_yearly_amount_cents", "to_yearly_amount_cents")


def _why(ignored: list[str], refused: list[str]) -> str:
    if ignored and refused:
        what = (f"ignores {', '.join(ignored)} and refuses the graduated_percentage charge model of "
                f"{', '.join(refused)}")
    elif refused:
        what = "refuses the graduated_percentage charge model"
    else:
        what = "ignores this input" if len(ignored) == 1 else "ignores these inputs"
    return f"this Lago has no premium license, so it {what}"


def block_premium_inputs(op: Operation, facts: LiveFacts, environment: str) -> Operation:
    """``op`` blocked when it writes a desired object that uses a premium-only input and this Lago has
    no premium license; any other operation unchanged (an already blocked one keeps its own block).

    A blocked plan replace creates no version, so it loses the version and the reasons that describe
    one: the plan never names a version that will not exist.
    """
    if facts.premium or op.block is not None or op.action not in (Action.CREATE, Action.UPDATE, Action.REPLACE):
        return op
    ignored, refused = premium_paths(op.kind, op.after)
    if not ignored and not refused:
        return op
    block = Blocked(
        why=_why(ignored, refused),
        hint=(f"remove {'it' if len(ignored) + len(refused) == 1 else 'them'} from the workspace, or set "
              f"premium: true for environment '{environment}' in lagosync.yaml if this Lago has a license"),
        locked_paths=tuple(sorted(ignored + refused)),
    )
    reasons = tuple(r for r in op.reasons if r not in _VERSION_REASONS) + ("premium_only",)
    details = {k: v for k, v in op.details.items() if k not in _VERSION_DETAILS}
    return op.with_(block=block, version=None, reasons=reasons, details=details)
