"""Lago's charge models on one aggregation: the amount (in currency units, unrounded) of one fee.

One function per model, each following lago-api v1.51.0's ``app/services/charge_models/``
(lago-behaviour#charge-model-standard ... #charge-model-dynamic). Inputs are the canonical
properties of lagosync.model (decimal strings, integer bounds) and an ``Aggregation``: what Lago's
aggregation gives the model (units, events count, the value of each event in order where a model
needs it, the dynamic amount). All arithmetic is Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from .money import dec

__all__ = ["Aggregation", "ModelResult", "PricingInputError", "apply_model", "MODELS"]

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class PricingInputError(ValueError):
    """The usage given cannot be priced by this model (a needed input is missing or wrong)."""


@dataclass(frozen=True)
class Aggregation:
    """What Lago's aggregation hands a charge model for one fee."""

    units: Decimal
    count: int | None = None  # number of events; None: not given
    event_values: tuple[Decimal, ...] | None = None  # each event's value, in ingestion order
    precise_total_amount_cents: Decimal | None = None  # dynamic: sum of the events' amounts
    count_metric: bool = False  # the metric is count_agg: every event counts 1


@dataclass(frozen=True)
class ModelResult:
    amount: Decimal  # currency units, before rounding
    details: dict[str, Any]


def _ranges(props: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    out = []
    for i, rng in enumerate(props.get(key) or []):
        to_value = rng.get("to_value")
        out.append({
            "from_value": dec(rng.get("from_value") or 0, f"{key}[{i}].from_value"),
            "to_value": None if to_value is None else dec(to_value, f"{key}[{i}].to_value"),
            "per_unit_amount": dec(rng.get("per_unit_amount") or "0", f"{key}[{i}].per_unit_amount"),
            "rate": dec(rng.get("rate") or "0", f"{key}[{i}].rate"),
            "flat_amount": dec(rng.get("flat_amount") or "0", f"{key}[{i}].flat_amount"),
        })
    if not out:
        raise PricingInputError(f"properties have no {key}")
    return out


def standard(props: Mapping[str, Any], agg: Aggregation, premium: bool) -> ModelResult:
    # lago-behaviour#charge-model-standard
    amount = dec(props.get("amount") or "0", "amount")
    return ModelResult(agg.units * amount, {"per_unit_amount": str(amount)})


def graduated(props: Mapping[str, Any], agg: Aggregation, premium: bool) -> ModelResult:
    # lago-behaviour#charge-model-graduated: every range up to the one holding the last unit is
    # priced (its flat amount included); a range's units count from_value itself unless the ranges
    # are "adjacent" (each from_value equals the previous to_value)
    ranges = _ranges(props, "graduated_ranges")
    adjacent = len(ranges) >= 2 and all(
        cur["from_value"] == (prev["to_value"] or ZERO) for prev, cur in zip(ranges, ranges[1:], strict=False))
    units = agg.units
    total = ZERO
    lines = []
    for rng in ranges:
        top = rng["to_value"]
        effective = top if top is not None and units >= top else units
        if rng["from_value"] == 0:
            in_range = effective
        else:
            in_range = effective - rng["from_value"] + (0 if adjacent else 1)
        amount = in_range * rng["per_unit_amount"] + rng["flat_amount"]
        total += amount
        lines.append({"from_value": str(rng["from_value"]), "to_value": None if top is None else str(top),
                      "units": str(in_range), "amount": str(amount)})
        if top is None or top >= units:
            break
    return ModelResult(total, {"ranges": lines})


def volume(props: Mapping[str, Any], agg: Aggregation, premium: bool) -> ModelResult:
    # lago-behaviour#charge-model-volume: one range prices every unit: the first whose from_value is
    # at most the units rounded up and whose to_value (if any) is at least the units
    ranges = sorted(_ranges(props, "volume_ranges"), key=lambda r: r["from_value"])
    units = agg.units
    ceiling = units.to_integral_value(rounding=ROUND_CEILING)
    for rng in ranges:
        if rng["from_value"] <= ceiling and (rng["to_value"] is None or units <= rng["to_value"]):
            amount = units * rng["per_unit_amount"] + rng["flat_amount"]
            return ModelResult(amount, {"range_from_value": str(rng["from_value"]),
                                        "per_unit_amount": str(rng["per_unit_amount"]),
                                        "flat_amount": str(rng["flat_amount"])})
    raise PricingInputError(f"no volume range holds {units} units")


def package(props: Mapping[str, Any], agg: Aggregation, premium: bool) -> ModelResult:
    # lago-behaviour#charge-model-package: packages started count whole, after the free units
    free = dec(props.get("free_units") or 0, "free_units")
    size = dec(props.get("package_size") or 1, "package_size")
    amount = dec(props.get("amount") or "0", "amount")
    paid = agg.units - free
    if paid < 0:
        return ModelResult(ZERO, {"free_units": str(free), "paid_units": "0", "packages": 0})
    packages = (paid / size).to_integral_value(rounding=ROUND_CEILING)
    return ModelResult(packages * amount, {"free_units": str(free), "paid_units": str(paid),
                                           "packages": int(packages)})


class _RunningTotal:
    """Lago's ``running_total`` (lago-behaviour#charge-model-percentage): cumulative event values
    used to find the free units. For a count metric each event is 1 (computed, not listed)."""

    def __init__(self, values: Sequence[Decimal] | None, count_units: Decimal | None):
        self.values = list(values) if values is not None else None
        self.count_units = count_units

    @classmethod
    def build(cls, agg: Aggregation, per_events: int, per_total: Decimal) -> _RunningTotal:
        if per_events == 0 and per_total == 0:
            return cls([], None)
        if agg.count_metric:
            return cls(None, agg.units)
        if agg.event_values is None:
            raise PricingInputError("free units per event or per total aggregation need the value of each "
                                    "event (event_values)")
        running: list[Decimal] = []
        total = ZERO
        if per_events:
            for value in agg.event_values[:per_events]:
                total += value
                running.append(total)
            return cls(running, None)
        for value in agg.event_values:
            if per_total < total:
                break
            total += value
            running.append(total)
        return cls(running, None)

    def size(self) -> int:
        if self.values is not None:
            return len(self.values)
        return max(int(self.count_units or 0), 0)

    def at(self, index: int) -> Decimal:
        if self.values is not None:
            return self.values[index]
        return Decimal(index + 1)

    def last(self) -> Decimal:
        if self.size() == 0:
            return ZERO
        return self.at(self.size() - 1)

    def count_below(self, limit: Decimal) -> int:
        if self.values is not None:
            return sum(1 for v in self.values if v < limit)
        # 1, 2, ..., n below limit
        below = int((limit - 1).to_integral_value(rounding=ROUND_CEILING)) if limit > 0 else 0
        return max(0, min(self.size(), below))


def percentage(props: Mapping[str, Any], agg: Aggregation, premium: bool) -> ModelResult:
    # lago-behaviour#charge-model-percentage
    rate = dec(props.get("rate") or "0", "rate")
    fixed = dec(props.get("fixed_amount") or "0", "fixed_amount")
    per_events = int(props.get("free_units_per_events") or 0)
    per_total = dec(props.get("free_units_per_total_aggregation") or "0", "free_units_per_total_aggregation")
    units = agg.units
    count = _count(agg)
    limits = premium and (props.get("per_transaction_min_amount") is not None
                          or props.get("per_transaction_max_amount") is not None)
    if limits:
        return _percentage_per_transaction(props, agg, rate, fixed, per_events, per_total)
    running = _RunningTotal.build(agg, per_events, per_total)
    last = running.last()
    if last == 0:
        free_value = ZERO
    elif 0 < per_events < running.size():
        free_value = running.at(per_events - 1)
    elif per_total == 0 or last <= per_total:
        free_value = last
    else:
        free_value = per_total
    candidates = [c for c in (per_events, running.count_below(per_total)) if c != 0]
    free_count = min(candidates) if candidates else 0
    percent_amount = ZERO if free_value > units else (units - free_value) * rate / HUNDRED
    if units == 0 or fixed == 0:
        fixed_amount = ZERO
    else:
        if count is None:
            raise PricingInputError("a percentage charge with fixed_amount needs the number of events (events)")
        fixed_amount = ZERO if free_count >= count else (count - free_count) * fixed
    return ModelResult(percent_amount + fixed_amount, {
        "free_units": str(free_value), "free_events": free_count, "rate": str(rate),
        "percentage_amount": str(percent_amount), "fixed_fee_amount": str(fixed_amount)})


def _count(agg: Aggregation) -> int | None:
    if agg.count is not None:
        return agg.count
    if agg.event_values is not None:
        return len(agg.event_values)
    if agg.count_metric:
        return int(agg.units)
    return None


def _percentage_per_transaction(props: Mapping[str, Any], agg: Aggregation, rate: Decimal, fixed: Decimal,
                                per_events: int, per_total: Decimal) -> ModelResult:
    # premium: each event priced alone, clamped to the per-transaction minimum and maximum
    if agg.event_values is not None:
        values: Sequence[Decimal] = agg.event_values
    elif agg.count_metric:
        values = [Decimal(1)] * int(agg.units)
    else:
        raise PricingInputError("per-transaction minimum or maximum needs the value of each event (event_values)")
    low = props.get("per_transaction_min_amount")
    high = props.get("per_transaction_max_amount")
    low_d = None if low is None else dec(low, "per_transaction_min_amount")
    high_d = None if high is None else dec(high, "per_transaction_max_amount")
    free_events, free_amount = per_events, per_total
    total = ZERO
    for raw in values:
        value = raw
        if free_events > 0 or free_amount > 0:
            free_events -= 1
            if not free_amount > 0:
                continue
            if free_amount > value:
                free_amount -= value
                continue
            value -= free_amount
            free_amount = ZERO
            free_events = 0
        amount = value * rate / HUNDRED + fixed
        if low_d is not None and amount < low_d:
            amount = low_d
        elif high_d is not None and amount > high_d:
            amount = high_d
        total += amount
    return ModelResult(total, {"per_transaction": True, "rate": str(rate), "events": len(values)})


def graduated_percentage(props: Mapping[str, Any], agg: Aggregation, premium: bool) -> ModelResult:
    # lago-behaviour#charge-model-graduated-percentage
    ranges = _ranges(props, "graduated_percentage_ranges")
    units = agg.units
    total = ZERO
    lines = []
    for rng in ranges:
        low, top = rng["from_value"], rng["to_value"]
        if top is not None and units >= top:
            in_range = top - (Decimal(1) if low == 0 else low) + 1
        elif low == 0:
            in_range = units
        else:
            in_range = units - low + 1
        amount = in_range * rng["rate"] / HUNDRED + rng["flat_amount"]
        total += amount
        lines.append({"from_value": str(low), "to_value": None if top is None else str(top),
                      "units": str(in_range), "amount": str(amount)})
        if top is None or top >= units:
            break
    return ModelResult(total, {"ranges": lines})


def dynamic(props: Mapping[str, Any], agg: Aggregation, premium: bool, subunits: int = 100) -> ModelResult:
    # lago-behaviour#charge-model-dynamic: the events carry their own price
    if agg.units == 0:
        return ModelResult(ZERO, {})
    if agg.precise_total_amount_cents is None:
        raise PricingInputError("a dynamic charge needs the events' precise_total_amount_cents")
    return ModelResult(agg.precise_total_amount_cents / subunits,
                       {"precise_total_amount_cents": str(agg.precise_total_amount_cents)})


MODELS = {
    "standard": standard, "graduated": graduated, "volume": volume, "package": package,
    "percentage": percentage, "graduated_percentage": graduated_percentage,
}


def apply_model(model: str, props: Mapping[str, Any], agg: Aggregation, *, premium: bool,
                subunits: int) -> ModelResult:
    """The amount of one fee; ``PricingInputError`` for a model the engine does not price (custom)."""
    if model == "dynamic":
        return dynamic(props, agg, premium, subunits)
    fn = MODELS.get(model)
    if fn is None:
        raise PricingInputError(f"the {model} charge model is not modelled")
    return fn(props, agg, premium)
