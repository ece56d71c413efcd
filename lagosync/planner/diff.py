"""A small recursive differ over canonical dicts (lagosync.model has already normalised both sides).

Dicts are compared key by key (so charges by charge code and customer metadata by key give paths
like ``charges.api_call.properties.amount`` and ``metadata.region.value``); lists of dicts of the
same length are compared item by item (``properties.graduated_ranges[1].per_unit_amount``); a charge's
filters by their values (``filters[endpoint=chat].properties.amount``); any other list is compared whole (tax codes and filter values are already sorted by the model).
"""

from __future__ import annotations

from typing import Any

from .ops import Change

_MISSING = object()


def same(a: Any, b: Any) -> bool:
    """Equality that never confuses ``True`` with ``1`` or ``0`` with ``False``."""
    if a is b:  # one object (read_live shares the live objects in sync with the desired ones)
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if _numbers(a, b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _numbers(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float))


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Field-level changes turning ``old`` into ``new`` (both canonical values)."""
    if same(old, new):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for key in sorted(set(old) | set(new), key=str):
            o, n = old.get(key, _MISSING), new.get(key, _MISSING)
            if o is _MISSING:
                out.append(Change(_join(path, key), None, n))
            elif n is _MISSING:
                out.append(Change(_join(path, key), o, None))
            else:
                out.extend(diff(o, n, _join(path, key)))
        return out
    if isinstance(old, list) and isinstance(new, list) and _filter_list(old) and _filter_list(new):
        return _diff_filters(old, new, path)
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and all(isinstance(x, dict) for x in old + new)
    ):
        out = []
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            out.extend(diff(o, n, f"{path}[{i}]"))
        return out
    return [Change(path, old, new)]


def _filter_list(items: list[Any]) -> bool:
    """A charge's filters: dicts identified by their ``values`` ({filter key: [values]})."""
    return bool(items) and all(isinstance(x, dict) and isinstance(x.get("values"), dict) for x in items)


def filter_label(item: dict[str, Any]) -> str:
    """``endpoint=chat,model=large|small``: a filter named by its values, as people read it."""
    values = item.get("values") or {}
    return ",".join(f"{k}={'|'.join(str(v) for v in values[k])}" for k in sorted(values))


def _diff_filters(old: list[Any], new: list[Any], path: str) -> list[Change]:
    """Filters by identity (their values), so adding one shows as one added filter
    (``charges.api_call.filters[endpoint=chat]``), not as the whole list replaced."""
    olds = {filter_label(x): x for x in old}
    news = {filter_label(x): x for x in new}
    if len(olds) != len(old) or len(news) != len(new):  # duplicate values: not identifiable
        return [Change(path, old, new)]
    out: list[Change] = []
    for label in sorted(set(olds) | set(news)):
        where = f"{path}[{label}]"
        if label not in olds:
            out.append(Change(where, None, news[label]))
        elif label not in news:
            out.append(Change(where, olds[label], None))
        else:
            out.extend(diff(olds[label], news[label], where))
    return out


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a canonical value as (path, value); used to show what a create sets."""
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for key in sorted(value, key=str):
            out.extend(leaves(value[key], _join(path, key)))
        return out
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        out = []
        for i, item in enumerate(value):
            out.extend(leaves(item, f"{path}[{i}]"))
        return out
    return [(path, value)]
