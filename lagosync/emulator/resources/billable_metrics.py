"""Billable metrics (lago-behaviour#metric-response, lago-behaviour#metric-locked-fields,
lago-behaviour#metric-filters-replace, lago-behaviour#metric-delete)."""

from __future__ import annotations

from ..common import iso
from ..errors import forbidden
from ..rules import AGGREGATION_TYPES, ALL_FILTER_VALUES, NON_RECURRING_AGGS, Errors, as_bool, as_int, blank
from .base import BM, PLAN, ResourceBase, _public


class BillableMetricsMixin(ResourceBase):
    # ================= billable metrics (lago-behaviour#metric-response, lago-behaviour#metric-locked-fields)
    @staticmethod
    def _bm_fresh() -> dict:
        return {"name": None, "code": None, "description": None, "aggregation_type": None,
                "weighted_interval": None, "recurring": False, "rounding_function": None,
                "rounding_precision": None, "created_at": None, "field_name": None, "expression": None,
                "filters": []}

    def _bm_destroy(self, bm: dict) -> None:
        bm["_deleted_at"] = iso(self.emu.now())
        # lago-behaviour#metric-delete: DELETE has no guard; soft-deletes every charge using it on every plan
        for plan in self._live(PLAN):
            if any(c["_bm_id"] == bm["lago_id"] for c in plan["_charges"]):
                plan = self._edit(PLAN, plan)
                plan["_charges"] = [c for c in plan["_charges"] if c["_bm_id"] != bm["lago_id"]]

    def _bm_out(self, bm: dict, counters: bool = True) -> dict:
        out = _public(bm)
        # lago-behaviour#metric-response: filters with sorted values; deprecated counters always 0
        out["filters"] = [{"key": f["key"], "values": sorted(f["values"])} for f in bm["filters"]]
        if counters:
            out.update(active_subscriptions_count=0, draft_invoices_count=0, plans_count=0)
        return out

    def _bm_in_use(self, bm: dict) -> bool:
        """lago-behaviour#metric-locked-fields: used by a charge of any non-deleted plan (pending_deletion plans count)."""
        return any(c["_bm_id"] == bm["lago_id"] for p in self._live(PLAN) for c in p["_charges"])

    def _bm_filters(self, value, errors: Errors) -> list[dict]:
        if not isinstance(value, list):
            errors.add("filters", "value_is_invalid")
            return []
        out: dict[str, list] = {}
        for f in value:
            if not isinstance(f, dict) or blank(f.get("key")):
                errors.add("filters", "value_is_invalid")
                continue
            values = f.get("values")
            if not isinstance(values, list) or not values:
                # lago-behaviour#metric-filters-replace: every filter must have non-empty values
                errors.add("values", "value_is_mandatory")
                continue
            out[str(f["key"])] = [str(v) for v in dict.fromkeys(values)]
        return [{"key": k, "values": v} for k, v in out.items()]

    def _bm_apply(self, bm: dict, p: dict, errors: Errors, *, create: bool) -> None:
        locked = not create and self._bm_in_use(bm)
        for key in ("name", "description"):
            if key in p:
                bm[key] = p[key]
        if "filters" in p:
            # lago-behaviour#metric-filters-replace: filters replaced by key (listed keys upserted, others dropped); []=delete all
            self._bm_set_filters(bm, self._bm_filters(p["filters"], errors))
        if locked:
            # lago-behaviour#metric-locked-fields: once used by a plan charge, the other fields are silently ignored
            return
        for key in ("code", "aggregation_type", "weighted_interval", "field_name", "expression",
                    "rounding_function", "rounding_precision"):
            if key in p:
                bm[key] = p[key]
        if "recurring" in p:
            bm["recurring"] = bool(as_bool(p["recurring"], False))
        agg = bm.get("aggregation_type")
        if agg not in AGGREGATION_TYPES:
            errors.add("aggregation_type", "value_is_invalid")
            bm["aggregation_type"] = None
        elif agg == "custom_agg":
            # lago-behaviour#custom-agg-flag: custom_agg needs the org's custom_aggregation flag → 403
            raise forbidden("feature_unavailable")
        if agg == "count_agg":
            bm["field_name"] = None  # lago-behaviour#metric-field-name: forced to null for count_agg
        elif agg in AGGREGATION_TYPES and blank(bm.get("field_name")):
            errors.add("field_name", "value_is_mandatory")
        if bm.get("recurring") and agg in NON_RECURRING_AGGS:
            errors.add("recurring", "not_compatible_with_aggregation_type")
        if agg == "weighted_sum_agg" and bm.get("weighted_interval") != "seconds":
            # lago-behaviour#metric-weighted-interval: weighted_interval only "seconds", required for weighted_sum_agg
            errors.add("weighted_interval", "value_is_invalid")
        if bm.get("rounding_function") not in (None, "round", "ceil", "floor"):
            errors.add("rounding_function", "value_is_invalid")
        if bm.get("rounding_precision") is not None and as_int(bm["rounding_precision"]) is None:
            errors.add("rounding_precision", "value_is_invalid")
        if blank(bm.get("name")):
            errors.add("name", "value_is_mandatory")
        self._check_code(BM, bm, errors)

    def _bm_set_filters(self, bm: dict, filters: list[dict]) -> None:
        old = {f["key"]: set(f["values"]) for f in bm.get("filters", [])}
        bm["filters"] = filters
        new = {f["key"]: set(f["values"]) for f in filters}
        if old == new or not bm.get("lago_id"):
            return
        # lago-behaviour#metric-filter-values-trimmed: values removed from a key are trimmed out of charge filters; empty ones dropped
        for plan in self._live(PLAN):
            if not any(c["_bm_id"] == bm["lago_id"] and c["filters"] for c in plan["_charges"]):
                continue
            plan = self._edit(PLAN, plan)
            for c in plan["_charges"]:
                if c["_bm_id"] != bm["lago_id"]:
                    continue
                kept = []
                for f in c["filters"]:
                    values = {}
                    for k, vs in f["values"].items():
                        if k not in new:
                            continue
                        vs = [v for v in vs if v == ALL_FILTER_VALUES or v in new[k]]
                        if vs:
                            values[k] = vs
                    if values:
                        f["values"] = values
                        kept.append(f)
                c["filters"] = kept
