"""``lagosync test``: the workspace's pricing test cases priced offline and compared (docs/pricing-tests.md).

``run_tests(root)`` loads the workspace (every diagnostic, those of pricing_tests/*.yaml included,
is a WorkspaceError: exit 1), prices each case with the engine and reports, for each failure,
``file:line: case name: expected X, computed Y`` and the case's per-fee breakdown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .. import model
from ..workspace import load_workspace
from ..workspace.pricing_tests import PER_CODE, TOTALS, PricingCase, load_pricing_tests
from .engine import AppliedCoupon, PeriodPrice, PricingInput, PricingInputError, UsageEntry, price_period
from .live import LiveResult, run_case_live
from .money import subunit_to_unit, units_text

__all__ = ["CaseResult", "TestRun", "run_case", "run_tests"]

EXIT_PASSED = 0
EXIT_FAILED = 1


@dataclass
class CaseResult:
    case: PricingCase
    price: PeriodPrice | None
    failures: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class TestRun:
    results: list[CaseResult]
    files: int
    live: list[LiveResult] = field(default_factory=list)  # with -e ENV: the cases run against that Lago
    environment: str | None = None

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed or any(not r.passed for r in self.live) else EXIT_PASSED

    def live_text(self) -> list[str]:
        """What the live run adds: each case's live failures, then a summary line."""
        if self.environment is None:
            return []
        lines = []
        for r in self.live:
            where = f"{r.case.where}: {r.case.name}"
            lines += [f"{where}: {f}" for f in r.failures]
            if r.error is not None:
                lines.append(f"{where}: live run failed: {r.error}")
            if r.skipped is not None:
                lines.append(f"{where}: not run live: {r.skipped}")
            if r.leftover is not None:
                lines.append(f"{where}: {r.leftover}")
        ran = [r for r in self.live if r.error is None and r.skipped is None]
        bad = [r for r in self.live if not r.passed]
        skipped = len([r for r in self.live if r.skipped is not None])
        head = (f"live against '{self.environment}': {len(ran)} case(s) run, {sum(r.checked for r in ran)} charge "
                "amount(s) compared with Lago's current usage" + (f", {skipped} not run live" if skipped else ""))
        lines.append(head + ("; all as expected" if not bad else f"; {len(bad)} case(s) failed"))
        return lines

    def text(self) -> str:
        lines: list[str] = []
        for result in self.failed:
            case = result.case
            if result.error is not None:
                lines.append(f"{case.where}: {case.name}: cannot be priced: {result.error}")
                continue
            for failure in result.failures:
                lines.append(f"{case.where}: {case.name}: {failure}")
            assert result.price is not None
            lines.extend("    " + line for line in breakdown(result.price))
        n, bad = len(self.results), len(self.failed)
        if n == 0:
            lines.append("no pricing tests: declare them in pricing_tests/*.yaml")
        else:
            what = f"{n} pricing test{'s' if n != 1 else ''} in {self.files} file{'s' if self.files != 1 else ''}"
            lines.append(f"ok: {what} passed" if not bad else f"{bad} of {what} failed")
        lines += self.live_text()
        return "\n".join(lines) + "\n"

    def json(self) -> str:
        doc = {"passed": len(self.results) - len(self.failed), "failed": len(self.failed), "cases": [
            {"file": r.case.file, "line": r.case.line, "name": r.case.name, "plan": r.case.plan,
             "passed": r.passed, "failures": r.failures, "error": r.error,
             "result": r.price.to_dict() if r.price is not None else None} for r in self.results]}
        if self.environment is not None:
            doc["live"] = {"environment": self.environment, "cases": [
                {"file": r.case.file, "line": r.case.line, "name": r.case.name, "passed": r.passed,
                 "checked": r.checked, "failures": list(r.failures), "error": r.error, "skipped": r.skipped,
                 "leftover": r.leftover}
                for r in self.live]}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def breakdown(price: PeriodPrice) -> list[str]:
    """The per-fee lines of a priced period, then its totals and what was not modelled."""
    c = price.currency
    rows = []
    for fee in price.fees:
        units = "" if fee.kind in ("subscription", "true_up") else f"{_plain(fee.units)} units"
        rows.append((fee.label(), units, units_text(fee.amount_cents, c)))
    width = max((len(r[0]) for r in rows), default=0)
    uwidth = max((len(r[1]) for r in rows), default=0)
    out = [f"{label.ljust(width)}  {units.rjust(uwidth)}  {amount:>12}" for label, units, amount in rows]
    out.append(f"fees {units_text(price.fees_amount_cents, c)}, coupons {units_text(price.coupons_amount_cents, c)}, "
               f"before tax {units_text(price.sub_total_excluding_taxes_cents, c)}, "
               f"taxes {units_text(price.taxes_amount_cents, c)}, total {units_text(price.total_amount_cents, c)} {c}")
    out.extend(f"not modelled: {text}" for text in price.not_modelled)
    return out


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != 0 else "0"


def _computed(price: PeriodPrice, what: str, code: str | None) -> int:
    base = what[:-len("_cents")] if what.endswith("_cents") else what
    if base == "charges":
        return price.charge_cents(str(code))
    if base == "fixed_charges":
        return price.fixed_charge_cents(str(code))
    return {"total": price.total_amount_cents, "before_tax": price.sub_total_excluding_taxes_cents,
            "fees": price.fees_amount_cents, "coupons": price.coupons_amount_cents,
            "taxes": price.taxes_amount_cents, "subscription": price.subscription_cents()}[base]


def _label(what: str, code: str | None) -> str:
    base = what[:-len("_cents")] if what.endswith("_cents") else what
    if base in PER_CODE:
        return f"{PER_CODE[base]} {code}"
    return TOTALS[base]


def run_case(case: PricingCase, desired: Mapping[str, Mapping[str, Mapping[str, Any]]], *,
             premium: bool) -> CaseResult:
    """Price one case against the workspace's ``desired`` objects (raw, as written) and compare."""
    try:
        price = price_period(_input(case, desired, premium=premium))
    except (PricingInputError, model.ModelError, ArithmeticError) as exc:
        return CaseResult(case, None, error=str(exc))
    failures = []
    c = price.currency
    for what, code, expected in case.expect:
        got = _computed(price, what, code)
        if isinstance(expected, int):
            want_cents: Decimal = Decimal(expected)
            shown = f"{expected} cents"
            got_text = f"{got} cents"
        else:
            want_cents = expected * subunit_to_unit(c)
            shown = f"{expected:f} {c}"
            got_text = f"{units_text(got, c)} {c}"
        if want_cents != got:
            failures.append(f"expected {_label(what, code)} {shown}, computed {got_text}")
    return CaseResult(case, price, failures)


def _input(case: PricingCase, desired: Mapping[str, Mapping[str, Mapping[str, Any]]], *,
           premium: bool) -> PricingInput:
    plan = model.from_yaml("plan", desired["plan"][case.plan])
    metrics = {code: model.from_yaml("billable_metric", obj) for code, obj in desired.get("billable_metric", {}).items()
               if obj.get("ensure") != "absent"}
    taxes = {code: model.from_yaml("tax", obj) for code, obj in desired.get("tax", {}).items()
             if obj.get("ensure") != "absent"}
    coupons = []
    for item in case.coupons:
        coupon = model.from_yaml("coupon", desired["coupon"][item["code"]])
        coupons.append(AppliedCoupon(
            coupon, amount_cents=item.get("amount_cents"), percentage_rate=item.get("percentage_rate"),
            frequency_duration=item.get("frequency_duration"), periods_applied=int(item.get("periods_applied") or 0),
            remaining_amount_cents=item.get("remaining_amount_cents")))
    usage = {metric: [UsageEntry(units=u.units, values=dict(u.values), events=u.events, event_values=u.event_values,
                                 precise_total_amount_cents=u.precise_total_amount_cents) for u in entries]
             for metric, entries in case.usage.items()}
    return PricingInput(plan=plan, usage=usage, metrics=metrics, taxes=taxes,
                        customer_tax_codes=list(case.customer_tax_codes), coupons=coupons,
                        premium=premium if case.premium is None else case.premium)


def run_tests(root: str = ".", env: str | None = None) -> TestRun:
    """``lagosync test``: every case of the workspace (offline; the workspace must be valid). With
    ``env``, each case that passes offline also runs live against that Lago (lagosync.pricing.live)."""
    workspace = load_workspace(root)
    cases, _ = load_pricing_tests(workspace.root, workspace.desired)
    settings = workspace.settings
    default = settings.environments.get(settings.default_environment)
    premium = bool(default and default.premium)
    results = [run_case(case, workspace.desired, premium=premium) for case in cases]
    run = TestRun(results, files=len({c.file for c in cases}))
    if env is not None:
        run.live = asyncio.run(_run_live(workspace, env, [r.case for r in results if r.passed]))
        run.environment = env
    return run


async def _run_live(workspace: Any, env: str, cases: list[PricingCase]) -> list[LiveResult]:
    from ..client.connect import check_organization, connect  # start-up: only a live run needs the client

    metrics = workspace.desired.get("billable_metric", {})
    async with connect(workspace, env) as client:
        await check_organization(client)
        return [await run_case_live(client, case, metrics) for case in cases]
