"""Which charge filter prices an event (lago-behaviour#charge-filter-matching).

Lago gives each filter of a charge the events whose properties match all of its keys, minus the
events that a more specific filter ("child") takes; the events no filter takes go to the charge's
default properties. ``__ALL_FILTER_VALUES__`` stands for every value of the metric's filter key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model import ALL_FILTER_VALUES

__all__ = ["FilterRule", "filter_rules", "matches"]

Values = dict[str, list[str]]


class FilterRule:
    """One bucket of a charge: the values an event must have, and the ones that exclude it."""

    def __init__(self, index: int | None, matching: Values, ignored: list[Values]):
        self.index = index  # position in the charge's filters; None: the default bucket
        self.matching = matching
        self.ignored = ignored

    def takes(self, event: Mapping[str, str]) -> bool:
        for key, values in self.matching.items():
            if key not in event or event[key] not in values:
                return False
        for clause in self.ignored:
            keyed = {k: v for k, v in clause.items() if v}
            if keyed and all(event.get(k, "") in v for k, v in keyed.items()):
                return False
        return True


def _expanded(values: Mapping[str, Sequence[str]], metric_filters: Mapping[str, Sequence[str]]) -> Values:
    out: Values = {}
    for key, vals in values.items():
        vals = list(vals)
        out[key] = list(metric_filters.get(key, [])) if vals == [ALL_FILTER_VALUES] else vals
    return out


def filter_rules(filters: Sequence[Mapping[str, Any]], metric_filters: Mapping[str, Sequence[str]]) -> list[FilterRule]:
    """A rule per filter (in order; the list order stands for Lago's creation order), then the
    default bucket's."""
    expanded = [_expanded(f.get("values") or {}, metric_filters) for f in filters]
    rules = []
    for i, matching in enumerate(expanded):
        raw = {k: list(v) for k, v in (filters[i].get("values") or {}).items()}
        ignored = []
        for j, child in enumerate(expanded):
            if j == i:
                continue
            if not all(any(v in child.get(key, []) for v in values) for key, values in matching.items()):
                continue
            res = {k: list(v) for k, v in child.items()}
            if sorted(res) == sorted(matching):
                identical = all(sorted(v) == sorted(matching[k]) for k, v in res.items())
                subset = all(not (set(v) - set(matching[k])) for k, v in res.items())
                if identical:
                    if not j < i:
                        continue
                elif not subset:
                    for key, vals in res.items():
                        if raw.get(key) == [ALL_FILTER_VALUES]:
                            continue
                        res[key] = [v for v in vals if v not in matching[key]]
            ignored.append(res)
        rules.append(FilterRule(i, matching, ignored))
    rules.append(FilterRule(None, {}, list(expanded)))
    return rules


def matches(rule: FilterRule, event: Mapping[str, str]) -> bool:
    return rule.takes(event)
