"""Pricing test cases of a workspace: ``pricing_tests/*.yaml`` (docs/pricing-tests.md).

Each file holds ``pricing_tests:``, a list of cases: a plan, the usage of one billing period and the
amounts expected. They are read with positions, checked against ``schemas/pricing_tests.schema.json``
and against the workspace (the plan, metrics, charges, coupons and taxes they name), and every
problem is a Diagnostic with file:line. They are not Lago objects: they are not part of the
workspace digest or of validate's object count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import Diagnostic
from ..kinds import charge_code, fixed_charge_code
from .schema import check_schema
from .yamlpos import Document, PathT, parse_yaml_bytes, read_file_bytes

TESTS_DIR = "pricing_tests"

# expectation keys: (units key, cents key) -> what it is
TOTALS = {"total": "total", "before_tax": "before tax", "fees": "fees", "coupons": "coupons", "taxes": "taxes",
          "subscription": "subscription fee"}
PER_CODE = {"charges": "charge", "fixed_charges": "fixed charge"}

__all__ = ["TESTS_DIR", "CaseUsage", "PricingCase", "load_pricing_tests"]


@dataclass(frozen=True)
class CaseUsage:
    units: Decimal
    values: dict[str, str] = field(default_factory=dict)
    events: int | None = None
    event_values: tuple[Decimal, ...] | None = None
    precise_total_amount_cents: Decimal | None = None


@dataclass
class PricingCase:
    file: str
    line: int
    name: str
    plan: str
    usage: dict[str, list[CaseUsage]]
    coupons: list[dict[str, Any]]
    customer_tax_codes: list[str]
    premium: bool | None
    # (what, code or None) -> expected amount in units (Decimal) or cents (int)
    expect: list[tuple[str, str | None, Decimal | int]]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _files(root: Path) -> list[Path]:
    folder = root / TESTS_DIR
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml")
                   and (p.is_file() or p.is_symlink())), key=lambda p: p.relative_to(folder).as_posix())


def _num(value: Any) -> Decimal:
    return Decimal(value) if isinstance(value, int) else Decimal(str(value))


def _entries(raw: Any) -> list[CaseUsage]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if not isinstance(item, dict):
            out.append(CaseUsage(units=_num(item)))
            continue
        values = tuple(_num(v) for v in item["event_values"]) if "event_values" in item else None
        units = _num(item["units"]) if "units" in item else sum(values or (), Decimal(0))
        events = item.get("events")
        if events is None and values is not None:
            events = len(values)
        precise = item.get("precise_total_amount_cents")
        out.append(CaseUsage(units=units, values={str(k): str(v) for k, v in (item.get("values") or {}).items()},
                             events=events, event_values=values,
                             precise_total_amount_cents=None if precise is None else _num(precise)))
    return out


class _Checks:
    def __init__(self, doc: Document, desired: dict[str, dict[str, dict]]):
        self.doc = doc
        self.desired = desired
        self.diags: list[Diagnostic] = []

    def bad(self, path: PathT, message: str, hint: str = "") -> None:
        self.diags.append(self.doc.diag(path, message, hint))

    def case(self, i: int, raw: dict[str, Any]) -> PricingCase | None:
        path: PathT = ("pricing_tests", i)
        before = len(self.diags)
        plan = self.desired.get("plan", {}).get(raw["plan"])
        if plan is None or plan.get("ensure") == "absent":
            known = ", ".join(sorted(k for k, v in self.desired.get("plan", {}).items() if v.get("ensure") != "absent"))
            self.bad(path + ("plan",), f"unknown plan '{raw['plan']}'", f"declared plans: {known}" if known else "")
            return None
        charges = {charge_code(c): c for c in plan.get("charges") or [] if isinstance(c, dict)}
        metrics_charged = {c.get("billable_metric_code") for c in charges.values()}
        fixed = {fixed_charge_code(c) for c in plan.get("fixed_charges") or [] if isinstance(c, dict)}
        for metric_code, usage in (raw.get("usage") or {}).items():
            where = path + ("usage", metric_code)
            metric = self.desired.get("billable_metric", {}).get(metric_code)
            if metric is None:
                self.bad(where, f"unknown billable metric '{metric_code}'", "use the code of a metric in plans/")
                continue
            if metric_code not in metrics_charged:
                self.bad(where, f"plan '{raw['plan']}' has no charge on metric '{metric_code}'",
                         "charged metrics: " + ", ".join(sorted(str(m) for m in metrics_charged)))
            filter_keys = {str(f.get("key")) for f in metric.get("filters") or [] if isinstance(f, dict)}
            for j, item in enumerate(usage if isinstance(usage, list) else [usage]):
                if not isinstance(item, dict):
                    continue
                sub = where + (j,) if isinstance(usage, list) else where
                if "units" not in item and "event_values" not in item:
                    self.bad(sub, "missing units", "give units, or event_values (units is then their sum)")
                if "event_values" in item and "events" in item and item["events"] != len(item["event_values"]):
                    self.bad(sub + ("events",), f"events is {item['events']} but event_values lists "
                             f"{len(item['event_values'])} values", "drop events or make them agree")
                group_keys = set()
                for c in charges.values():
                    if c.get("billable_metric_code") == metric_code:
                        group_keys |= set((c.get("properties") or {}).get("pricing_group_keys") or [])
                for key in item.get("values") or {}:
                    if key not in filter_keys and key not in group_keys:
                        self.bad(sub + ("values", key), f"metric '{metric_code}' has no filter key '{key}'",
                                 "filter keys: " + (", ".join(sorted(filter_keys)) or "none"))
        for j, item in enumerate(raw.get("coupons") or []):
            code = item if isinstance(item, str) else item.get("code")
            if code not in self.desired.get("coupon", {}):
                self.bad(path + ("coupons", j), f"unknown coupon '{code}'", "use the code of a coupon in plans/")
        for j, code in enumerate(raw.get("customer_tax_codes") or []):
            if code not in self.desired.get("tax", {}):
                self.bad(path + ("customer_tax_codes", j), f"unknown tax '{code}'", "use the code of a tax in plans/")
        expect: list[tuple[str, str | None, Decimal | int]] = []
        spec = raw["expect"]
        for key in TOTALS:
            for name, value in ((key, spec.get(key)), (key + "_cents", spec.get(key + "_cents"))):
                if value is not None:
                    expect.append((name, None, value if name.endswith("_cents") else Decimal(value)))
            if key in spec and key + "_cents" in spec:
                self.bad(path + ("expect", key + "_cents"), f"{key} is given twice (in units and in cents)",
                         "keep one")
        for key, what in PER_CODE.items():
            codes: set[str] = set(charges) if key == "charges" else fixed
            for name in (key, key + "_cents"):
                for code, value in (spec.get(name) or {}).items():
                    if code not in codes:
                        self.bad(path + ("expect", name, code), f"plan '{raw['plan']}' has no {what} '{code}'",
                                 f"{what} codes: " + (", ".join(sorted(codes)) or "none"))
                        continue
                    expect.append((name, code, value if name.endswith("_cents") else Decimal(value)))
        if len(self.diags) > before:
            return None
        line, _ = self.doc.where(path)
        return PricingCase(
            file=self.doc.file, line=line, name=raw["name"], plan=raw["plan"],
            usage={str(m): _entries(u) for m, u in (raw.get("usage") or {}).items()},
            coupons=[{"code": c} if isinstance(c, str) else dict(c) for c in raw.get("coupons") or []],
            customer_tax_codes=list(raw.get("customer_tax_codes") or []),
            premium=raw.get("premium"), expect=expect)


def load_pricing_tests(root: Path | str, desired: dict[str, dict[str, dict]]) -> tuple[list[PricingCase],
                                                                                       list[Diagnostic]]:
    """The cases of ``root/pricing_tests/*.yaml`` checked against ``desired`` (kind -> key -> raw object
    as written), and every problem found; a case with a problem is left out of the list."""
    root = Path(root)
    cases: list[PricingCase] = []
    diags: list[Diagnostic] = []
    seen: dict[str, str] = {}
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        data, errors = read_file_bytes(path, rel)
        diags.extend(errors)
        if data is None:
            continue
        doc, errors = parse_yaml_bytes(data, rel)
        diags.extend(errors)
        if doc is None or doc.data is None:
            if doc is not None and not errors:
                diags.append(Diagnostic(rel, 1, 1, "", "file is empty", "declare pricing_tests: or delete the file"))
            continue
        schema_errors, bad = check_schema(doc, "pricing_tests")
        diags.extend(schema_errors)
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("pricing_tests"), list):
            continue
        checks = _Checks(doc, desired)
        for i, raw in enumerate(doc.data["pricing_tests"]):
            if any(p[:2] == ("pricing_tests", i) for p in bad) or not isinstance(raw, dict):
                continue
            case = checks.case(i, raw)
            name = raw.get("name")
            if isinstance(name, str):
                where = f"{rel}:{doc.where(('pricing_tests', i))[0]}"
                if name in seen:
                    checks.bad(("pricing_tests", i, "name"), f"duplicate pricing test name '{name}' (also at "
                               f"{seen[name]})", "names identify the cases in the report; rename one")
                    case = None
                seen.setdefault(name, where)
            if case is not None:
                cases.append(case)
        diags.extend(checks.diags)
    return cases, diags
