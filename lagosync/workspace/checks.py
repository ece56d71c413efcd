"""Semantic checks a JSON schema cannot express (issue 2), and the flattening into ``desired``.

Every check is defensive about types: objects whose schema check failed are registered (so
references to them resolve) but not checked further, and nothing here raises on odd input.
Lago rules are cited as lago-behaviour#<id>: entries of docs/lago-behaviour.md. Hints shown to
users state the rule itself and cite nothing.
"""

from __future__ import annotations

import datetime as _dt
import difflib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import Diagnostic
from ..iso import country_suggestion, is_country
from ..kinds import CATALOG_KINDS, KINDS, charge_code, fixed_charge_code, looks_versioned
from ..kinds import kind as kind_info
from ..kinds import label as kind_label
from ..model import ALL_FILTER_VALUES
from ..runtime import Shapes
from .model import Sources
from .yamlpos import Document, PathT

SECTIONS = {kind_info(k).section: k for k in CATALOG_KINDS}  # plans/*.yaml top-level key -> kind

# lago-behaviour#metric-recurring: recurring is not compatible with these aggregations
NO_RECURRING = ("count_agg", "max_agg", "latest_agg")
# lago-behaviour#charge-pay-in-advance: pay-in-advance charges only for these aggregations
PAY_IN_ADVANCE_AGGS = ("count_agg", "sum_agg", "unique_count_agg", "custom_agg")
AGGREGATIONS = ("count_agg", "sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg", "latest_agg",
                "custom_agg")
RANGE_KEYS = {"graduated": "graduated_ranges", "volume": "volume_ranges",
              "graduated_percentage": "graduated_percentage_ranges"}
# ARCHITECTURE "Plan versions and markers": lagosync's own metadata keys
RESERVED_META = "managed_by"
RESERVED_PREFIX = "lagosync_"


@dataclass
class Entry:
    kind: str
    key: str
    obj: dict
    doc: Document
    path: PathT
    bad: frozenset = frozenset()  # paths (relative to the entry) with a schema error

    def clean(self, *sub) -> bool:
        """True when no schema error lies at or under ``sub`` (deep checks skip broken parts)."""
        n = len(sub)
        return not any(p[:n] == sub for p in self.bad if len(p) >= n)

    @property
    def absent(self) -> bool:
        return self.obj.get("ensure") == "absent"

    def where(self, sub: PathT = ()) -> str:
        line, _ = self.doc.where(self.path + tuple(sub))
        return f"{self.doc.file}:{line}"


class _PlainCopy:
    """Deep copies of parsed YAML values (dicts, lists and immutable scalars), several times faster
    than copy.deepcopy, which also tracks shared and cyclic objects that parsed values never hold. The
    dicts found at one place (a kind's objects, the entries of one field) share their key tables
    (``runtime.Shapes``): a workspace of 100,000 orgs holds one copy of each org."""

    def __init__(self) -> None:
        self._shapes = Shapes("_Declared")

    def __call__(self, value: Any, shape: str) -> Any:
        kind = type(value)
        if kind is dict:
            out = self._shapes.new(shape)
            for k, v in value.items():
                out[k] = self(v, f"{shape}.{k}") if type(v) in (dict, list) else v
            return out
        if kind is list:
            return [self(v, shape) for v in value]
        return value


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def _str_list(v: Any) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


class Checker:
    def __init__(self, org_id_prefix: str | None = None, user_id_prefix: str | None = None):
        self.diags: list[Diagnostic] = []
        self.index: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self.subscriptions: list[Entry] = []
        self.org_id_prefix = org_id_prefix
        self.user_id_prefix = user_id_prefix

    # ------------------------------------------------------------------ collecting
    @staticmethod
    def _bad(bad_paths: set[tuple], path: PathT) -> frozenset:
        n = len(path)
        return frozenset(p[n:] for p in bad_paths if len(p) >= n and p[:n] == path)

    def _register(self, entry: Entry, key_field: str) -> None:
        bucket = self.index[entry.kind]
        first = bucket.get(entry.key)
        if first is None:
            bucket[entry.key] = entry
            return
        label = kind_label(entry.kind)
        what = "code" if key_field == "code" else "external_id"
        self.diags.append(entry.doc.diag(
            entry.path + (key_field,),
            f"duplicate {label} {what} '{entry.key}' (also defined at {first.where((key_field,))})",
            f"{what}s must be unique across all files; rename or remove one"))

    def collect_catalog(self, doc: Document, bad_paths: set[tuple]) -> None:
        if not isinstance(doc.data, dict):
            return
        for section, kind in SECTIONS.items():
            items = doc.data.get(section)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                code = item.get("code")
                if not isinstance(code, str) or not code:
                    continue
                path = (section, i)
                self._register(Entry(kind, code, item, doc, path, self._bad(bad_paths, path)), "code")

    def collect_orgs(self, doc: Document, bad_paths: set[tuple]) -> None:
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("orgs"), list):
            return
        for i, org in enumerate(doc.data["orgs"]):
            if not isinstance(org, dict):
                continue
            org_id = org.get("external_id")
            if not isinstance(org_id, str) or not org_id:
                continue
            path = ("orgs", i)
            customer = {k: v for k, v in org.items() if k != "subscriptions"}
            self._register(Entry("customer", org_id, customer, doc, path, self._bad(bad_paths, path)), "external_id")
            self._collect_applied_coupons(doc, bad_paths, path, org_id, org.get("coupons"))
            subs = org.get("subscriptions")
            if not isinstance(subs, list):
                continue
            undeclared = [j for j, s in enumerate(subs) if isinstance(s, dict) and "external_id" not in s]
            if len(undeclared) > 1:
                self.diags.append(doc.diag(
                    path + ("subscriptions",),
                    f"org '{org_id}' has {len(undeclared)} subscriptions without external_id; only an org's "
                    f"single subscription may default to 'sub_{org_id}'",
                    "give each subscription a stable external_id: it must survive plan changes"))
            for j, sub in enumerate(subs):
                if not isinstance(sub, dict):
                    continue
                sub_path = path + ("subscriptions", j)
                sub_id = sub.get("external_id")
                if "external_id" not in sub and len(undeclared) == 1:
                    sub_id = f"sub_{org_id}"  # deterministic: never a timestamp (issue 2)
                flat = {"external_id": sub_id, "external_customer_id": org_id}
                flat.update({k: v for k, v in sub.items() if k != "external_id"})
                entry = Entry("subscription", str(sub_id), flat, doc, sub_path, self._bad(bad_paths, sub_path))
                self.subscriptions.append(entry)  # checked even without a usable id
                if isinstance(sub_id, str) and sub_id:
                    self._register(entry, "external_id")

    def _collect_applied_coupons(self, doc: Document, bad_paths: set[tuple], path: PathT, org_id: str,
                                 coupons: Any) -> None:
        """orgs.yaml ``coupons``: one ``applied_coupon`` per item, keyed ``<org>/<coupon_code>``."""
        for j, item in enumerate(_list(coupons)):
            if not isinstance(item, dict) or not isinstance(item.get("coupon_code"), str):
                continue
            code = item["coupon_code"]
            key = f"{org_id}/{code}"
            cp = path + ("coupons", j)
            flat = {"external_customer_id": org_id, **item}
            entry = Entry("applied_coupon", key, flat, doc, cp, self._bad(bad_paths, cp))
            first = self.index["applied_coupon"].get(key)
            if first is not None:
                self.diags.append(doc.diag(
                    cp + ("coupon_code",),
                    f"coupon '{code}' is applied twice to org '{org_id}' (also at {first.where(('coupon_code',))})",
                    "list each coupon once per org; put overrides on that one item"))
                continue
            self.index["applied_coupon"][key] = entry

    # ------------------------------------------------------------------ references
    def _ref(self, entry: Entry, sub: PathT, ref_kind: str, code: Any, hint_extra: str = "") -> Entry | None:
        """Check that ``code`` names a declared, present object of ``ref_kind``; return it."""
        if not isinstance(code, str):
            return None
        target = self.index[ref_kind].get(code)
        label = kind_label(ref_kind)
        if target is None:
            hint = f"define it under {kind_info(ref_kind).section}, or fix the code"
            close = difflib.get_close_matches(code, sorted(self.index[ref_kind]), n=1, cutoff=0.6)
            if close:
                hint = f"did you mean '{close[0]}'? otherwise {hint}"
            self.diags.append(entry.doc.diag(entry.path + sub, f"unknown {label} '{code}'",
                                             hint + hint_extra))
            return None
        if target.absent and not entry.absent:
            self.diags.append(entry.doc.diag(
                entry.path + sub, f"{label} '{code}' is declared with ensure: absent ({target.where()})",
                f"remove this reference, or keep the {label}"))
            return None
        return target

    def _tax_refs(self, entry: Entry, sub: PathT, obj: dict) -> None:
        codes = obj.get("tax_codes")
        if isinstance(codes, list):
            for k, code in enumerate(codes):
                self._ref(entry, sub + ("tax_codes", k), "tax", code)

    # ------------------------------------------------------------------ per kind
    def check_metric(self, e: Entry) -> None:
        m = e.obj
        agg = m.get("aggregation_type")
        if agg not in AGGREGATIONS or not e.clean("aggregation_type"):
            return  # the schema reports it
        # lago-behaviour#metric-field-name: field_name required unless count_agg/custom_agg
        if agg not in ("count_agg", "custom_agg") and not m.get("field_name") and e.clean("field_name"):
            self.diags.append(e.doc.diag(
                e.path, f"aggregation_type {agg} needs field_name",
                "add field_name: the event property to aggregate, e.g. tokens"))
        # lago-behaviour#metric-recurring: recurring not allowed with count/max/latest
        if m.get("recurring") is True and agg in NO_RECURRING:
            self.diags.append(e.doc.diag(
                e.path + ("recurring",), f"recurring: true is not allowed with {agg}",
                "remove recurring, or use sum_agg, unique_count_agg or weighted_sum_agg"))
        # lago-behaviour#metric-weighted-interval: weighted_interval required for weighted_sum_agg
        if agg == "weighted_sum_agg" and not m.get("weighted_interval"):
            self.diags.append(e.doc.diag(e.path, "weighted_sum_agg needs weighted_interval",
                                         "add weighted_interval: seconds"))
        if agg != "weighted_sum_agg" and m.get("weighted_interval"):
            self.diags.append(e.doc.diag(e.path + ("weighted_interval",),
                                         f"weighted_interval only applies to weighted_sum_agg, not {agg}",
                                         "remove it"))
        seen: dict[str, int] = {}
        for k, f in enumerate(_list(m.get("filters"))):
            key = f.get("key") if isinstance(f, dict) else None
            if not isinstance(key, str):
                continue
            if key in seen:
                self.diags.append(e.doc.diag(e.path + ("filters", k, "key"),
                                             f"filter key '{key}' is declared twice (filters[{seen[key]}])",
                                             "merge the values into one filter"))
            else:
                seen[key] = k

    def check_plan(self, e: Entry) -> None:
        p = e.obj
        code = e.key
        if looks_versioned(code):
            self.diags.append(e.doc.diag(e.path + ("code",),
                                         f"plan code '{code}' ends like a lagosync plan version (__v<N>)",
                                         "rename it: lagosync names plan versions <code>__v<N>"))
        # lago-behaviour#plan-bill-charges-monthly: bill_charges_monthly is only stored for yearly/semiannual plans
        if p.get("bill_charges_monthly") is True and p.get("interval") not in ("yearly", "semiannual"):
            self.diags.append(e.doc.diag(
                e.path + ("bill_charges_monthly",),
                f"bill_charges_monthly only applies to yearly or semiannual plans, not {p.get('interval')}",
                "remove it; Lago stores null for other intervals"))
        meta = p.get("metadata")
        if isinstance(meta, dict):
            for key in meta:
                if key == RESERVED_META or str(key).startswith(RESERVED_PREFIX):
                    self.diags.append(e.doc.diag(e.path + ("metadata", key),
                                                 f"metadata key '{key}' is reserved for lagosync's markers",
                                                 "rename the key", key=True))
        self._tax_refs(e, (), p)
        codes: dict[str, int] = {}
        for j, charge in enumerate(_list(p.get("charges"))):
            if isinstance(charge, dict):
                self.check_charge(e, j, charge, codes)
        fixed_codes: dict[str, int] = {}
        for j, fixed in enumerate(_list(p.get("fixed_charges"))):
            if isinstance(fixed, dict):
                self.check_fixed_charge(e, j, fixed, fixed_codes)

    def check_fixed_charge(self, e: Entry, j: int, c: dict, codes: dict[str, int]) -> None:
        """A plan fixed charge (lago-behaviour#fixed-charges): the add-on exists, codes unique in the plan, ranges chain."""
        cp: PathT = ("fixed_charges", j)
        add_on_code = c.get("add_on_code")
        # the spec (PlanCreateInput.fixed_charges.code): generated from the add-on code when omitted
        fcode = fixed_charge_code(c)
        if isinstance(fcode, str):
            if fcode in codes:
                self.diags.append(e.doc.diag(
                    e.path + cp + (("code",) if "code" in c else ("add_on_code",)),
                    f"fixed charge code '{fcode}' is used twice in plan '{e.key}' (fixed_charges[{codes[fcode]}])",
                    "give one fixed charge an explicit, unique code; the default is the add-on code"))
            else:
                codes[fcode] = j
        self._ref(e, cp + ("add_on_code",), "add_on", add_on_code)
        self._tax_refs(e, cp, c)
        model = c.get("charge_model") if e.clean(cp + ("charge_model",)) else None
        # spec PlanCreateInput.fixed_charges.prorated: "prorated fixed charges with graduated model and
        # pay_in_advance are not allowed" (lago-behaviour#fixed-charge-model-rules)
        if c.get("prorated") is True and c.get("pay_in_advance") is True and model == "graduated":
            self.diags.append(e.doc.diag(
                e.path + cp + ("prorated",),
                "prorated is not allowed on a pay_in_advance fixed charge with charge_model graduated",
                "remove prorated or pay_in_advance, or use standard or volume"))
        props = c.get("properties")
        if isinstance(props, dict) and e.clean(cp + ("properties",)):
            self._check_properties(e, cp + ("properties",), model, props)

    def check_charge(self, e: Entry, j: int, c: dict, codes: dict[str, int]) -> None:
        cp: PathT = ("charges", j)
        metric_code = c.get("billable_metric_code")
        ccode = charge_code(c)
        if isinstance(ccode, str):
            if ccode in codes:
                self.diags.append(e.doc.diag(
                    e.path + cp + (("code",) if "code" in c else ("billable_metric_code",)),
                    f"charge code '{ccode}' is used twice in plan '{e.key}' (charges[{codes[ccode]}])",
                    "give one charge an explicit, unique code; the default is the metric code"))
            else:
                codes[ccode] = j
        metric = self._ref(e, cp + ("billable_metric_code",), "billable_metric", metric_code)
        self._tax_refs(e, cp, c)
        model = c.get("charge_model")
        m = metric.obj if metric is not None and metric.clean("aggregation_type") else None
        agg = m.get("aggregation_type") if m else None
        if not e.clean(cp + ("charge_model",)):
            model = None
        if m is not None and model is not None:
            # lago-behaviour#charge-model-compatibility: dynamic only with sum_agg; percentage models not with latest_agg
            if model == "dynamic" and agg != "sum_agg":
                self.diags.append(e.doc.diag(e.path + cp + ("charge_model",),
                                             f"charge_model dynamic needs a sum_agg metric; '{metric_code}' "
                                             f"is {agg}", "use another charge model"))
            if model in ("percentage", "graduated_percentage") and agg == "latest_agg":
                self.diags.append(e.doc.diag(e.path + cp + ("charge_model",),
                                             f"charge_model {model} cannot price a latest_agg metric",
                                             "use standard, graduated, volume or package"))
        if c.get("pay_in_advance") is True:
            # lago-behaviour#charge-pay-in-advance: not for volume, only for some aggregations
            if model == "volume":
                self.diags.append(e.doc.diag(e.path + cp + ("pay_in_advance",),
                                             "pay_in_advance is not allowed with charge_model volume",
                                             "remove pay_in_advance or use another model"))
            elif agg is not None and agg not in PAY_IN_ADVANCE_AGGS:
                self.diags.append(e.doc.diag(e.path + cp + ("pay_in_advance",),
                                             f"pay_in_advance is not allowed for a {agg} metric",
                                             "only count_agg, sum_agg, unique_count_agg metrics"))
            if _is_int(c.get("min_amount_cents")) and c["min_amount_cents"] > 0:  # lago-behaviour#charge-min-amount
                self.diags.append(e.doc.diag(e.path + cp + ("min_amount_cents",),
                                             "min_amount_cents cannot be used with pay_in_advance",
                                             "remove one of them"))
        if c.get("prorated") is True and m is not None:
            # lago-behaviour#charge-prorated: prorated only for recurring metrics, never weighted_sum_agg, model-dependent
            allowed = ("standard",) if c.get("pay_in_advance") is True else ("standard", "volume", "graduated")
            if m.get("recurring") is not True or agg == "weighted_sum_agg" or model not in allowed:
                self.diags.append(e.doc.diag(
                    e.path + cp + ("prorated",),
                    "prorated needs a recurring (not weighted_sum_agg) metric and charge_model "
                    + " or ".join(allowed),
                    "remove prorated"))
        props = c.get("properties")
        if isinstance(props, dict) and e.clean(cp + ("properties",)):
            self._check_properties(e, cp + ("properties",), model, props)
        filters = c.get("filters")
        if isinstance(filters, list):
            usable = metric if metric is not None and metric.clean("filters") else None
            self._check_filters(e, cp, model, filters, metric_code, usable.obj if usable else None)

    def _check_properties(self, e: Entry, pp: PathT, model: Any, props: dict) -> None:
        key = RANGE_KEYS.get(model) if isinstance(model, str) else None
        if key and isinstance(props.get(key), list):
            self._check_ranges(e, pp + (key,), model, props[key])
        if model == "percentage":
            lo, hi = props.get("per_transaction_min_amount"), props.get("per_transaction_max_amount")
            try:
                if isinstance(lo, str) and isinstance(hi, str) and Decimal(lo) > Decimal(hi):  # lago-behaviour#charge-percentage-limits
                    self.diags.append(e.doc.diag(pp + ("per_transaction_min_amount",),
                                                 f"per_transaction_min_amount {lo} is above the max {hi}",
                                                 "min must be <= max"))
            except ArithmeticError:
                pass

    def _check_ranges(self, e: Entry, rp: PathT, model: str, ranges: list) -> None:
        """Range rules (lago-behaviour#charge-range-rules): chained, only the last open-ended."""
        full = e.path + rp
        n = len(ranges)
        for i, r in enumerate(ranges):
            if not isinstance(r, dict):
                return
            f, t = r.get("from_value"), r.get("to_value")
            if not _is_int(f) or not (t is None or _is_int(t)):
                return
            if i == 0 and f not in (0, 1):
                self.diags.append(e.doc.diag(full + (0, "from_value"),
                                             f"the first range must start at 0, not {f}",
                                             "set from_value: 0"))
            if i > 0 and isinstance(ranges[i - 1], dict):
                pt = ranges[i - 1].get("to_value")
                if _is_int(pt):
                    ok = (pt + 1, pt + 2) if model == "volume" else (pt, pt + 1)
                    if f not in ok:
                        self.diags.append(e.doc.diag(
                            full + (i, "from_value"),
                            f"from_value {f} does not follow the previous range's to_value {pt}",
                            f"start this range at {ok[0]}" + ("" if model == "volume" else f" or {ok[1]}")
                            + " so ranges chain without gaps or overlaps"))
            last = i == n - 1
            if not last and t is None:
                self.diags.append(e.doc.diag(full + (i, "to_value"),
                                             "only the last range may have to_value: null",
                                             "give this range an upper bound"))
            if last and t is not None:
                self.diags.append(e.doc.diag(full + (i, "to_value"),
                                             f"the last range must be open-ended, not end at {t}",
                                             "set to_value: null so every quantity is priced"))
            if t is not None and t <= f:
                self.diags.append(e.doc.diag(full + (i, "to_value"),
                                             f"to_value {t} must be greater than from_value {f}",
                                             "fix the bounds"))

    def _check_filters(self, e: Entry, cp: PathT, model: Any, filters: list, metric_code: Any,
                       m: dict | None) -> None:
        declared: dict[str, list[str]] | None = None
        if m is not None:
            declared = {}
            for f in _list(m.get("filters")):
                if isinstance(f, dict) and isinstance(f.get("key"), str):
                    declared.setdefault(f["key"], []).extend(_str_list(f.get("values")))
        seen: dict[tuple, int] = {}
        for k, flt in enumerate(filters):
            if not isinstance(flt, dict):
                continue
            fp = cp + ("filters", k)
            values = flt.get("values")
            if isinstance(values, dict) and e.clean(fp + ("values",)):
                ident = tuple(sorted((str(key), tuple(sorted(_str_list(v)))) for key, v in values.items()))
                if ident in seen:
                    self.diags.append(e.doc.diag(e.path + fp + ("values",),
                                                 f"the same filter values appear twice (filters[{seen[ident]}])",
                                                 "merge the two filters"))
                else:
                    seen[ident] = k
                if declared is not None:
                    for key, vals in values.items():
                        if key not in declared:
                            have = ", ".join(declared) or "none"
                            self.diags.append(e.doc.diag(
                                e.path + fp + ("values", key), f"metric '{metric_code}' has no filter '{key}'",
                                f"declared filter keys: {have}; add it to the metric or fix the key", key=True))
                            continue
                        if vals == [ALL_FILTER_VALUES]:
                            continue  # lago-behaviour#charge-filter-all-values: every value of the key
                        for vi, val in enumerate(vals if isinstance(vals, list) else []):
                            if val == ALL_FILTER_VALUES:
                                self.diags.append(e.doc.diag(
                                    e.path + fp + ("values", key, vi),
                                    f"'{ALL_FILTER_VALUES}' (every value of filter '{key}') must be the "
                                    "only value of its list",
                                    f"write values: {{{key}: [{ALL_FILTER_VALUES}]}} alone, or list the values"))
                            elif isinstance(val, str) and val not in declared[key]:
                                self.diags.append(e.doc.diag(
                                    e.path + fp + ("values", key, vi),
                                    f"value '{val}' is not declared for filter '{key}' on metric '{metric_code}'",
                                    f"declared values: {', '.join(declared[key])}; add it to the metric or fix it"))
            props = flt.get("properties")
            if isinstance(props, dict) and e.clean(fp + ("properties",)):
                self._check_properties(e, fp + ("properties",), model, props)

    def check_add_on(self, e: Entry) -> None:
        self._tax_refs(e, (), e.obj)

    def check_coupon(self, e: Entry) -> None:
        applies = e.obj.get("applies_to")
        if not isinstance(applies, dict):
            return
        plans, metrics = _list(applies.get("plan_codes")), _list(applies.get("billable_metric_codes"))
        if plans and metrics:
            # lago-behaviour#coupon-applies-to: only_one_limitation_type_per_coupon_allowed
            self.diags.append(e.doc.diag(e.path + ("applies_to",),
                                         "a coupon applies to plans or to metrics, not both",
                                         "keep plan_codes or billable_metric_codes"))
        for k, code in enumerate(plans if isinstance(plans, list) else []):
            self._ref(e, ("applies_to", "plan_codes", k), "plan", code)
        for k, code in enumerate(metrics if isinstance(metrics, list) else []):
            self._ref(e, ("applies_to", "billable_metric_codes", k), "billable_metric", code)

    def check_customer(self, e: Entry, migrated: dict[str, Entry]) -> None:
        o = e.obj
        self._check_countries(e)
        meta = o.get("metadata")
        migrate_from = _str_list(o.get("migrate_from"))
        if isinstance(meta, list):
            # ARCHITECTURE "Plan versions and markers": Lago keeps 5 entries (lago-behaviour#customer-metadata); lagosync uses one, and one more
            # for migrated_from when the org migrates users (issue 6)
            limit = 3 if migrate_from else 4
            if len(meta) > limit:
                why = " (migrate_from uses one more)" if migrate_from else ""
                self.diags.append(e.doc.diag(
                    e.path + ("metadata",), f"{len(meta)} metadata entries; at most {limit} can be declared{why}",
                    "Lago allows 5 per customer and lagosync keeps one for its managed_by marker"))
            keys: dict[str, int] = {}
            for k, item in enumerate(meta):
                key = item.get("key") if isinstance(item, dict) else None
                if not isinstance(key, str):
                    continue
                if key == RESERVED_META or key.startswith(RESERVED_PREFIX):
                    self.diags.append(e.doc.diag(e.path + ("metadata", k, "key"),
                                                 f"metadata key '{key}' is reserved for lagosync's markers",
                                                 "rename the key"))
                if key in keys:
                    self.diags.append(e.doc.diag(e.path + ("metadata", k, "key"),
                                                 f"metadata key '{key}' is declared twice (metadata[{keys[key]}])",
                                                 "keep one entry per key"))
                else:
                    keys[key] = k
        self._tax_refs(e, (), o)
        for k, user in enumerate(migrate_from):
            if user == e.key:
                self.diags.append(e.doc.diag(e.path + ("migrate_from", k), "an org cannot migrate from itself",
                                             "list the user customer ids it replaces"))
            elif self.org_id_prefix and user.startswith(self.org_id_prefix) and not (
                    self.user_id_prefix and user.startswith(self.user_id_prefix)):
                # issue 6: lagosync.yaml says how an org id differs from a user id
                self.diags.append(e.doc.diag(
                    e.path + ("migrate_from", k),
                    f"'{user}' is an org id (org_id_prefix '{self.org_id_prefix}' in lagosync.yaml)",
                    "migrate_from lists the user customer ids this org replaces"))
            elif self.user_id_prefix and not user.startswith(self.user_id_prefix):
                self.diags.append(e.doc.diag(
                    e.path + ("migrate_from", k),
                    f"'{user}' is not a user id (user_id_prefix '{self.user_id_prefix}' in lagosync.yaml)",
                    "list user customer ids here, or change user_id_prefix in lagosync.yaml"))
            elif user in self.index["customer"] and not self.index["customer"][user].absent:
                self.diags.append(e.doc.diag(
                    e.path + ("migrate_from", k),
                    f"'{user}' is declared as an org ({self.index['customer'][user].where()})",
                    "a declared org cannot be migrated from: remove it from orgs.yaml or from migrate_from"))
            elif user in migrated:
                other = migrated[user]
                self.diags.append(e.doc.diag(e.path + ("migrate_from", k),
                                             f"user '{user}' is already migrated to org '{other.key}' "
                                             f"({other.where()})", "a user moves to one org only"))
            else:
                migrated[user] = e

    def _check_countries(self, e: Entry) -> None:
        """lago-behaviour#customer-country: Lago refuses a country that is not ISO 3166-1 alpha-2; it would
        upcase a lower-case one, which the next plan would show as a change, so capitals are required."""
        shipping = e.obj.get("shipping_address")
        places: list[tuple[PathT, Any]] = [(("country",), e.obj.get("country"))]
        if isinstance(shipping, dict):
            places.append((("shipping_address", "country"), shipping.get("country")))
        for sub, code in places:
            if not isinstance(code, str) or not e.clean(*sub) or is_country(code):
                continue
            guess = country_suggestion(code)
            hint = (f"did you mean '{guess}'?" if guess and guess != code
                    else "write the two-letter ISO 3166-1 code in capitals, e.g. FR, DE, US, GB")
            self.diags.append(e.doc.diag(e.path + sub, f"'{code}' is not an ISO 3166-1 alpha-2 country code",
                                         hint))

    def check_subscription(self, e: Entry) -> None:
        plan = self._ref(e, ("plan_code",), "plan", e.obj.get("plan_code"),
                         "; Lago would answer plan_not_found")
        org = self.index["customer"].get(e.obj["external_customer_id"])
        if plan is None or org is None or not plan.clean("amount_currency") or not org.clean("currency"):
            return
        plan_cur = plan.obj.get("amount_currency")
        org_cur = org.obj.get("currency")
        if isinstance(org_cur, str) and isinstance(plan_cur, str) and org_cur != plan_cur:
            self.diags.append(e.doc.diag(
                e.path + ("plan_code",),
                f"org '{org.key}' bills in {org_cur} but plan '{plan.key}' is in {plan_cur}",
                f"Lago bills a customer in one currency: pick a {org_cur} plan or change the org currency"))

    def check_applied_coupon(self, e: Entry, holders: dict[str, Entry]) -> None:
        """An org's coupon (lago-behaviour#applied-coupon-overrides-default, lago-behaviour#coupon-reusable): a declared coupon, overrides that fit its type,
        a fixed amount in the org's currency, a non-reusable coupon on one org only."""
        o = e.obj
        code = o.get("coupon_code")
        org = self.index["customer"].get(o["external_customer_id"])
        if org is not None and org.absent:  # lago-behaviour#customer-delete
            self.diags.append(e.doc.diag(e.path, f"org '{org.key}' is declared with ensure: absent but lists "
                                         f"coupon '{code}'", "remove its coupons: deleting the org terminates "
                                         "them"))
            return
        coupon = self._ref(e, ("coupon_code",), "coupon", code,
                           "; an org can only be given a coupon declared under coupons in plans/")
        if coupon is None or not coupon.clean():
            return
        assert isinstance(code, str)  # _ref found a coupon, so the code is a string
        c = coupon.obj
        ctype = c.get("coupon_type")
        if ctype == "percentage":
            for field in ("amount_cents", "amount_currency"):
                if field in o:
                    self.diags.append(e.doc.diag(e.path + (field,),
                                                 f"{field} does not apply to percentage coupon '{code}'",
                                                 "remove it, or override percentage_rate"))
        elif ctype == "fixed_amount" and "percentage_rate" in o:
            self.diags.append(e.doc.diag(e.path + ("percentage_rate",),
                                         f"percentage_rate does not apply to fixed_amount coupon '{code}'",
                                         "remove it, or override amount_cents"))
        frequency = o.get("frequency", c.get("frequency") or "once")
        if frequency == "recurring" and o.get("frequency_duration", c.get("frequency_duration")) is None:
            self.diags.append(e.doc.diag(e.path + ("frequency",), "frequency recurring needs frequency_duration",
                                         "add frequency_duration: the number of billing periods"))
        if frequency != "recurring" and "frequency_duration" in o:
            self.diags.append(e.doc.diag(e.path + ("frequency_duration",),
                                         f"frequency_duration only applies to recurring coupons, not {frequency}",
                                         "remove it, or set frequency: recurring"))
        # lago-behaviour#applied-coupon-currency: a fixed-amount coupon sets or must match the customer currency
        currency = o.get("amount_currency", c.get("amount_currency"))
        org_cur = org.obj.get("currency") if org is not None else None
        if (ctype == "fixed_amount" and org is not None and isinstance(currency, str)
                and isinstance(org_cur, str) and currency != org_cur):
            self.diags.append(e.doc.diag(
                e.path + (("amount_currency",) if "amount_currency" in o else ("coupon_code",)),
                f"coupon '{code}' is in {currency} but org '{org.key}' bills in {org_cur}",
                f"Lago answers currencies_does_not_match: use a {org_cur} coupon or override amount_currency"))
        # lago-behaviour#coupon-reusable: a non-reusable coupon is for one customer
        if c.get("reusable") is False:
            first = holders.get(code)
            if first is None:
                holders[code] = e
            else:
                self.diags.append(e.doc.diag(
                    e.path + ("coupon_code",),
                    f"coupon '{code}' is not reusable (reusable: false) but is also applied to org "
                    f"'{first.obj['external_customer_id']}' ({first.where(('coupon_code',))})",
                    "give it to one org only, or declare the coupon with reusable: true"))

    def check_migration(self, e: Entry) -> None:
        """A price migration names a declared plan, declared orgs, and sensible versions."""
        m = e.obj
        self._ref(e, ("plan_code",), "plan", m.get("plan_code"))
        for i, org in enumerate(m.get("orgs") or []):
            self._ref(e, ("orgs", i), "customer", org)
        to, froms = m.get("to_version"), m.get("from_versions") or []
        if isinstance(to, int) and to in froms:
            self.diags.append(e.doc.diag(
                e.path + ("from_versions",), f"from_versions includes to_version {to}",
                "a migration moves subscriptions off from_versions onto to_version: leave that version out"))
        at = m.get("at")
        if isinstance(at, str) and at not in ("now", "period_end"):
            try:
                _dt.date.fromisoformat(at)
            except ValueError:
                self.diags.append(e.doc.diag(e.path + ("at",), f"'{at}' is not a date",
                                             "write now, period_end or a date YYYY-MM-DD"))

    def check_org_currencies(self) -> None:
        """An org without a declared currency still cannot mix plans of different currencies."""
        by_org: dict[str, list[tuple[Entry, str]]] = {}
        for sub in self.index["subscription"].values():
            code = sub.obj.get("plan_code")
            plan = self.index["plan"].get(code) if isinstance(code, str) else None
            if plan is not None and isinstance(plan.obj.get("amount_currency"), str) and not sub.absent:
                by_org.setdefault(sub.obj["external_customer_id"], []).append((sub, plan.obj["amount_currency"]))
        for org_id, subs in by_org.items():
            org = self.index["customer"].get(org_id)
            if org is None or isinstance(org.obj.get("currency"), str):
                continue  # checked per subscription
            currencies = sorted({cur for _, cur in subs})
            if len(currencies) > 1:
                sub = subs[-1][0]
                self.diags.append(sub.doc.diag(
                    sub.path + ("plan_code",),
                    f"org '{org_id}' subscribes to plans in several currencies ({', '.join(currencies)})",
                    "Lago bills a customer in one currency: set the org currency and use plans in it"))

    # ------------------------------------------------------------------ driver
    def run(self) -> None:
        checks = {"billable_metric": self.check_metric, "plan": self.check_plan, "add_on": self.check_add_on,
                  "coupon": self.check_coupon, "subscription": self.check_subscription,
                  "migration": self.check_migration}
        migrated: dict[str, Entry] = {}
        holders: dict[str, Entry] = {}  # non-reusable coupon code -> first org item applying it
        for kind in KINDS:
            entries = self.subscriptions if kind == "subscription" else self.index[kind].values()
            for entry in entries:
                if entry.absent and kind != "subscription":
                    continue  # only its key matters
                if kind == "customer":
                    self.check_customer(entry, migrated)
                elif kind == "applied_coupon":
                    self.check_applied_coupon(entry, holders)
                elif kind in checks:
                    checks[kind](entry)
        self.check_org_currencies()

    def desired(self) -> tuple[dict[str, dict[str, dict]], Sources]:
        """The declared objects (copies: the documents' values stay as read) and where each is declared
        (positions found only for the objects a message names)."""
        desired: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        sources: dict[str, dict[str, tuple]] = {k: {} for k in KINDS}
        copy = _PlainCopy()
        for kind in KINDS:
            for key, entry in self.index[kind].items():
                desired[kind][key] = copy(entry.obj, kind)
                sources[kind][key] = (entry.doc, *entry.path)
        return desired, Sources(sources)
