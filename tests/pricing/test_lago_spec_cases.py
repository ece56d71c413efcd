"""The pricing engine against Lago's own spec files (getlago/lago-api v1.51.0).

Each case names the spec file and the example (describe/context/it text) it comes from; the inputs
and the expected amounts are that example's. Where a spec injects an aggregation result directly
(running totals, per-event values), the case gives the event values that produce it.
Amounts of charge models are Lago's unrounded ``amount`` (currency units); fee cases assert the
rounded ``amount_cents``.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from lagosync.pricing import (
    Aggregation,
    AppliedCoupon,
    PricingInput,
    PricingInputError,
    UsageEntry,
    apply_model,
    coupon_amount,
    price_period,
)

CM = "spec/services/charge_models/"


def amount(model, props, units, *, count=None, values=None, precise=None, premium=False, count_metric=False):
    agg = Aggregation(units=D(str(units)), count=count,
                      event_values=None if values is None else tuple(D(str(v)) for v in values),
                      precise_total_amount_cents=None if precise is None else D(str(precise)),
                      count_metric=count_metric)
    return apply_model(model, props, agg, premium=premium, subunits=100).amount


# ------------------------------------------------------------------------------------ standard

STANDARD = [
    (CM + "standard_service_spec.rb", "applies the charge model to the value", {"amount": "5.12345"}, 10, "51.2345"),
    (CM + "standard_service_spec.rb", "when charge is a fixed charge / applies the charge model to the value",
     {"amount": "10"}, 10, "100"),
    (CM + "grouped_service_spec.rb", "with standard charge model (group cloud=aws)", {"amount": "5.12345"}, 10,
     "51.2345"),
    (CM + "grouped_service_spec.rb", "with standard charge model (group cloud=gcp)", {"amount": "5.12345"}, 20,
     "102.469"),
    ("spec/services/fees/charge_service_spec.rb", "without filters / with an event / creates a fee (1 event x 20)",
     {"amount": "20"}, 1, "20"),
    ("spec/services/fees/charge_service_spec.rb", "with standard charge ... presence of filter / sum_agg (france)",
     {"amount": "10.12345"}, 5, "50.61725"),
    ("boundary", "0 units", {"amount": "5.12345"}, 0, "0"),
]


@pytest.mark.parametrize(("spec", "example", "props", "units", "expected"), STANDARD)
def test_standard(spec, example, props, units, expected):
    assert amount("standard", props, units) == D(expected)


# ----------------------------------------------------------------------------------- graduated

GRAD = {"graduated_ranges": [
    {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
    {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
    {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"}]}
GRAD_ZERO_FIRST = {"graduated_ranges": [
    {"from_value": 0, "to_value": "0.01", "per_unit_amount": "0", "flat_amount": "0"},
    {"from_value": "0.01", "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
    {"from_value": 11, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"}]}
GRAD_ADJACENT = {"graduated_ranges": [
    {"from_value": 0, "to_value": "0.1", "per_unit_amount": "10", "flat_amount": "0"},
    {"from_value": "0.1", "to_value": 1, "per_unit_amount": "5", "flat_amount": "0"},
    {"from_value": 1, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"}]}

GRADUATED = [
    ("when aggregation is 0 / applies the flat amount from the first tier (boundary: 0 units)", GRAD, 0, "2"),
    ("when aggregation is 0 / when first tier flat amount is zero", GRAD_ZERO_FIRST, 0, "0"),
    ("when aggregation is 1", GRAD, 1, "12"),
    ("when aggregation is 10 (boundary: exactly on a range edge)", GRAD, 10, "102"),
    ("when aggregation is 11", GRAD, 11, "110"),
    ("when aggregation is 12", GRAD, 12, "115"),
    ("when aggregation is 21 (boundary: open last range)", GRAD, 21, "163"),
    ("with decimal adjacent ranges / within first tier (0.05)", GRAD_ADJACENT, "0.05", "0.5"),
    ("with decimal adjacent ranges / spans two tiers (0.5)", GRAD_ADJACENT, "0.5", "3.0"),
    ("when charge is a fixed charge (21 units)", GRAD, 21, "163"),
]


@pytest.mark.parametrize(("example", "props", "units", "expected"), GRADUATED)
def test_graduated(example, props, units, expected):
    # spec/services/charge_models/graduated_service_spec.rb
    assert amount("graduated", props, units) == D(expected)


# -------------------------------------------------------------------------------------- volume

VOL = {"volume_ranges": [
    {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
    {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "0"},
    {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"}]}
VOL_ZERO_FIRST = {"volume_ranges": [
    {"from_value": 0, "to_value": 1, "per_unit_amount": "0", "flat_amount": "0"},
    {"from_value": 2, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
    {"from_value": 101, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"}]}

VOLUME = [
    ("when aggregation is 0 / applies the flat amount from the first tier (boundary: 0 units)", VOL, 0, "10"),
    ("when aggregation is 0 / when first tier flat amount is zero", VOL_ZERO_FIRST, 0, "0"),
    ("when aggregation is 1", VOL, 1, "12"),
    ("when aggregation is the limit of the first range (boundary: range edge)", VOL, 100, "210"),
    ("when aggregation is in the between of first and second range", VOL, "100.5", "100.5"),
    ("when aggregation is the lower limit of the second range", VOL, 101, "101"),
    ("when aggregation is the uper limit of the second range", VOL, 200, "200"),
    ("when aggregation is the above the lower limit of the last range (boundary: open last range)", VOL, 300,
     "200"),
    ("when charge is a fixed charge (210 units)", VOL, 210, "155"),
]


@pytest.mark.parametrize(("example", "props", "units", "expected"), VOLUME)
def test_volume(example, props, units, expected):
    # spec/services/charge_models/volume_service_spec.rb
    assert amount("volume", props, units) == D(expected)


# ------------------------------------------------------------------------------------- package

PACKAGE = [
    (CM + "package_service_spec.rb", "applies the package size to the value",
     {"amount": "100", "package_size": 10, "free_units": 0}, 121, "1300"),
    (CM + "package_service_spec.rb", "with free_units / substracts the free units from the value",
     {"amount": "100", "package_size": 10, "free_units": 10}, 121, "1200"),
    (CM + "package_service_spec.rb", "when free units is higher than the value (boundary)",
     {"amount": "100", "package_size": 10, "free_units": 200}, 121, "0"),
    ("spec/services/fees/charge_service_spec.rb", "with package charge and presence of filters / count_agg (europe)",
     {"amount": "100", "package_size": 8, "free_units": 1}, 2, "100"),
    ("spec/services/fees/charge_service_spec.rb", "with package charge and presence of filters / count_agg (usa)",
     {"amount": "50", "package_size": 10, "free_units": 0}, 1, "50"),
    ("spec/services/fees/charge_service_spec.rb", "with package charge and presence of filters / count_agg (france)",
     {"amount": "40", "package_size": 5, "free_units": 1}, 1, "0"),
    ("boundary", "0 units", {"amount": "100", "package_size": 10, "free_units": 0}, 0, "0"),
    ("boundary", "exactly one package", {"amount": "100", "package_size": 10, "free_units": 0}, 10, "100"),
]


@pytest.mark.parametrize(("spec", "example", "props", "units", "expected"), PACKAGE)
def test_package(spec, example, props, units, expected):
    assert amount("package", props, units) == D(expected)


# ---------------------------------------------------------------------------------- percentage

# percentage_service_spec.rb injects count 4 and running_total [50, 150, 400] for 800 units: the
# events 50, 100, 250, 400 (in that order) give exactly that aggregation
EVENTS_800 = [50, 100, 250, 400]


def pct(rate="1.3", fixed="2.0", per_events=3, per_total="250.0", **extra):
    props = {"rate": rate}
    if fixed is not None:
        props["fixed_amount"] = fixed
    if per_events:
        props["free_units_per_events"] = per_events
    if per_total not in (None, "0"):
        props["free_units_per_total_aggregation"] = per_total
    props.update(extra)
    return props


PERCENTAGE = [
    ("when aggregation value is 0", pct(), 0, 4, EVENTS_800, False, "0"),
    ("when fixed amount value is 0 (free units per total and per events)", pct(), 800, 4, EVENTS_800, False, "11.15"),
    ("with small units amount", pct(rate="2.9", fixed=None, per_events=None, per_total=None), 4, 4, None, False,
     "0.116"),
    ("when rate is 0", pct(rate="0", per_events=None, per_total=None), 800, 4, None, False, "8"),
    ("when free_units_per_events is nil", pct(per_events=None), 800, 4, EVENTS_800, False, "11.15"),
    ("when free_units_per_total_aggregation is nil", pct(per_total=None), 800, 4, EVENTS_800, False, "7.2"),
    ("when free units are not set", pct(per_events=None, per_total=None), 800, 4, None, False, "18.4"),
    ("when free_units_per_total_aggregation > last running total", pct(per_total="500.0"), 800, 4, EVENTS_800,
     False, "7.2"),
    ("when free_units_count > number of events (boundary: free units larger than usage)",
     pct(per_events=5, per_total=None), 400, 4, [50, 100, 250, 0], False, "0"),
    ("min/max per transaction / does not apply max and min if not premium",
     pct(rate="2.99", fixed="0", per_events=None, per_total=None, per_transaction_max_amount="12",
         per_transaction_min_amount="1.75"), 10090, 3, [10, 80, 10000], False, "301.691"),
    ("min/max per transaction / when premium / applies the min and max per transaction",
     pct(rate="2.99", fixed="0", per_events=None, per_total=None, per_transaction_max_amount="12",
         per_transaction_min_amount="1.75"), 10090, 3, [10, 80, 10000], True, "16.142"),
    ("min/max per transaction / when premium / with fixed_amount",
     pct(rate="2.99", fixed="2.0", per_events=None, per_total=None, per_transaction_max_amount="12",
         per_transaction_min_amount="1.75"), 10090, 3, [10, 80, 10000], True, "18.691"),
    ("min/max per transaction / when premium / with free units per events",
     pct(rate="2.99", fixed="0", per_events=2, per_total=None, per_transaction_max_amount="12",
         per_transaction_min_amount="1.75"), 10090, 3, [10, 80, 10000], True, "12"),
    ("min/max per transaction / when premium / with free units per total aggregation",
     pct(rate="2.99", fixed="0", per_events=None, per_total="30", per_transaction_max_amount="12",
         per_transaction_min_amount="1.75"), 10090, 3, [10, 80, 10000], True, "13.794"),
    ("min/max per transaction / when premium / both free units per events and per total aggregation",
     pct(rate="2.99", fixed="0", per_events=3, per_total="10000", per_transaction_max_amount="12",
         per_transaction_min_amount="1.75"), 10090, 3, [10, 80, 10000], True, "2.691"),
]


@pytest.mark.parametrize(("example", "props", "units", "count", "values", "premium", "expected"), PERCENTAGE)
def test_percentage(example, props, units, count, values, premium, expected):
    # spec/services/charge_models/percentage_service_spec.rb
    assert amount("percentage", props, units, count=count, values=values, premium=premium) == D(expected)


def test_percentage_with_filters_fee_spec():
    # spec/services/fees/charge_service_spec.rb "with percentage charge and presence of filters",
    # count_agg: europe 2 events at 2% + 1 each -> 204 cents, usa 1 event at 1% -> 1, france 1 event 5% + 1 -> 105
    assert amount("percentage", {"rate": "2", "fixed_amount": "1"}, 2, count_metric=True) * 100 == D("204")
    assert amount("percentage", {"rate": "1", "fixed_amount": "0"}, 1, count_metric=True) * 100 == D("1")
    assert amount("percentage", {"rate": "5", "fixed_amount": "1"}, 1, count_metric=True) * 100 == D("105")


def test_percentage_needs_event_values_for_free_units():
    with pytest.raises(PricingInputError, match="value of each event"):
        amount("percentage", pct(), 800, count=4)


# ------------------------------------------------------------------------ graduated percentage

GP = {"graduated_percentage_ranges": [
    {"from_value": 0, "to_value": 10, "flat_amount": "200", "rate": "1"},
    {"from_value": 11, "to_value": 20, "flat_amount": "300", "rate": "2"},
    {"from_value": 21, "to_value": None, "flat_amount": "400", "rate": "3"}]}
GP_ZERO_FIRST = {"graduated_percentage_ranges": [
    {"from_value": 0, "to_value": "0.01", "flat_amount": "0", "rate": "0"},
    {"from_value": "0.01", "to_value": 10, "flat_amount": "200", "rate": "1"},
    {"from_value": 11, "to_value": None, "flat_amount": "300", "rate": "2"}]}

GRADUATED_PERCENTAGE = [
    ("when aggregation is 0 / applies the flat amount from the first tier (boundary: 0 units)", GP, 0, "200"),
    ("when aggregation is 0 / when first tier flat amount is zero", GP_ZERO_FIRST, 0, "0"),
    ("when aggregation is 1", GP, 1, "200.01"),
    ("when aggregation is 10 (boundary: range edge)", GP, 10, "200.1"),
    ("when aggregation is 11", GP, 11, "500.12"),
    ("when aggregation is 12", GP, 12, "500.14"),
    ("when aggregation is 21 (boundary: open last range)", GP, 21, "900.33"),
]


@pytest.mark.parametrize(("example", "props", "units", "expected"), GRADUATED_PERCENTAGE)
def test_graduated_percentage(example, props, units, expected):
    # spec/services/charge_models/graduated_percentage_service_spec.rb (premium)
    assert amount("graduated_percentage", props, units) == D(expected)


# ------------------------------------------------------------------------------------- dynamic

DYNAMIC = [
    (CM + "dynamic_service_spec.rb", "applies the model to the values", 20, "40.2", "0.402"),
    (CM + "dynamic_service_spec.rb", "when aggregation is zero (boundary: 0 units)", 0, "40.2", "0"),
    (CM + "grouped_service_spec.rb", "with dynamic charge model (group cloud=aws)", 10, "12", "0.12"),
    (CM + "grouped_service_spec.rb", "with dynamic charge model (group cloud=gcp)", 20, "9", "0.09"),
    ("spec/services/fees/estimate_pay_in_advance_service_spec.rb", "when charge model is dynamic", 10, "12000",
     "120"),
    ("spec/services/billable_metrics/aggregations/sum_service_spec.rb",
     "when charge is dynamic / with events that specify a precise_total_amount_cents", 48, "40", "0.4"),
    ("spec/services/billable_metrics/aggregations/sum_service_spec.rb",
     "when charge is dynamic / when filters are given", 20, "12", "0.12"),
]


@pytest.mark.parametrize(("spec", "example", "units", "precise", "expected"), DYNAMIC)
def test_dynamic(spec, example, units, precise, expected):
    assert amount("dynamic", {}, units, precise=precise) == D(expected)


# --------------------------------------------------------------- fees: filters, rounding, true-up

PLAN_EUR = {"code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR", "trial_period": "0",
            "pay_in_advance": False, "bill_charges_monthly": None, "tax_codes": [], "fixed_charges": {}}


def charge(code, model, props, filters=(), **extra):
    return {"code": code, "billable_metric_code": code, "charge_model": model, "pay_in_advance": False,
            "prorated": False, "min_amount_cents": 0, "properties": props, "filters": list(filters),
            "tax_codes": [], **extra}


def flt(props, **values):
    return {"invoice_display_name": None, "properties": props, "values": {k: [v] for k, v in values.items()}}


REGION_COUNTRY = {"region": ["europe", "usa"], "country": ["france"]}
# the five events of charge_service_spec.rb's filter examples: {}, usa, europe x2, france
EVENTS = [({}, 12), ({"region": "usa"}, 12), ({"region": "europe"}, 10), ({"region": "europe"}, 5),
          ({"country": "france"}, 5)]


def filter_fees(model, default_props, filters, aggregation):
    metric = {"code": "m", "aggregation_type": aggregation, "filters": REGION_COUNTRY}
    usage = [UsageEntry(units=D(1) if aggregation == "count_agg" else D(v), values=vals, events=1)
             for vals, v in EVENTS]
    plan = dict(PLAN_EUR, charges={"m": charge("m", model, default_props, filters)})
    result = price_period(PricingInput(plan=plan, usage={"m": usage}, metrics={"m": metric}))
    return {f.filter: f for f in result.fees if f.kind == "charge"}


def test_standard_filters_count_agg():
    # spec/services/fees/charge_service_spec.rb "with standard charge, all types of aggregation and presence of
    # filter" / "creates expected fees for count_agg aggregation type"
    fees = filter_fees("standard", {"amount": "10.12345"}, [
        flt({"amount": "20"}, region="europe"), flt({"amount": "50"}, region="usa"),
        flt({"amount": "10.12345"}, country="france")], "count_agg")
    assert (fees["region: europe"].units, fees["region: europe"].amount_cents) == (2, 4000)
    assert (fees["region: usa"].units, fees["region: usa"].amount_cents) == (1, 5000)
    assert (fees["country: france"].units, fees["country: france"].amount_cents) == (1, 1012)  # 1012.345
    assert fees[None].units == 1  # the event with neither key: default properties


def test_standard_filters_sum_agg_rounds_half_up():
    # same describe / "creates expected fees for sum_agg aggregation type": 5 x 10.12345 = 50.61725 -> 5062
    fees = filter_fees("standard", {"amount": "10.12345"}, [
        flt({"amount": "20"}, region="europe"), flt({"amount": "50"}, region="usa"),
        flt({"amount": "10.12345"}, country="france")], "sum_agg")
    assert (fees["region: europe"].units, fees["region: europe"].amount_cents) == (15, 30000)
    assert (fees["region: usa"].units, fees["region: usa"].amount_cents) == (12, 60000)
    assert (fees["country: france"].units, fees["country: france"].amount_cents) == (5, 5062)


def test_package_filters():
    # spec/services/fees/charge_service_spec.rb "with package charge and presence of filters"
    fees = filter_fees("package", {"amount": "0", "free_units": 0, "package_size": 1}, [
        flt({"amount": "100", "free_units": 1, "package_size": 8}, region="europe"),
        flt({"amount": "50", "free_units": 0, "package_size": 10}, region="usa"),
        flt({"amount": "40", "free_units": 1, "package_size": 5}, country="france")], "count_agg")
    assert [fees[k].amount_cents for k in ("region: europe", "region: usa", "country: france")] == [10000, 5000, 0]


def test_graduated_volume_and_graduated_percentage_filters():
    # spec/services/fees/charge_service_spec.rb "with graduated charge and presence of filters" (3 and 4 cents),
    # "with volume charge and presence of filters" (1400, 1100), "with graduated percentage charge and presence of
    # filters" (5 and 4 cents)
    def open_range(key, **amounts):
        return {key: [{"from_value": 0, "to_value": None, **amounts}]}

    grad = filter_fees("graduated", open_range("graduated_ranges", per_unit_amount="0", flat_amount="0"), [
        flt(open_range("graduated_ranges", per_unit_amount="0.01", flat_amount="0.01"), region="europe"),
        flt(open_range("graduated_ranges", per_unit_amount="0.03", flat_amount="0.01"), region="usa")], "count_agg")
    assert (grad["region: europe"].amount_cents, grad["region: usa"].amount_cents) == (3, 4)
    vol = filter_fees("volume", open_range("volume_ranges", per_unit_amount="0", flat_amount="0"), [
        flt(open_range("volume_ranges", per_unit_amount="2", flat_amount="10"), region="europe"),
        flt(open_range("volume_ranges", per_unit_amount="1", flat_amount="10"), region="usa")], "count_agg")
    assert (vol["region: europe"].amount_cents, vol["region: usa"].amount_cents) == (1400, 1100)
    gp = filter_fees("graduated_percentage", open_range("graduated_percentage_ranges", rate="0", flat_amount="1"), [
        flt(open_range("graduated_percentage_ranges", rate="2", flat_amount="0.01"), region="europe"),
        flt(open_range("graduated_percentage_ranges", rate="3", flat_amount="0.01"), region="usa")], "count_agg")
    assert (gp["region: europe"].amount_cents, gp["region: usa"].amount_cents) == (5, 4)


@pytest.mark.parametrize(("used_cents", "expected_true_up"), [(700, 300), (1500, None)])
def test_min_amount_true_up(used_cents, expected_true_up):
    # spec/services/fees/create_true_up_service_spec.rb "instantiates a true-up fee" (700 used of 1000 over the
    # full 31-day period -> 300) and "when min_amount_cents is lower than the fee amount_cents" (1500 -> none)
    plan = dict(PLAN_EUR, charges={"m": charge("m", "standard", {"amount": "1"}, min_amount_cents=1000)})
    usage = {"m": [UsageEntry(units=D(used_cents) / 100, events=1)]}
    result = price_period(PricingInput(plan=plan, usage=usage, premium=True))
    true_ups = [f.amount_cents for f in result.fees if f.kind == "true_up"]
    assert true_ups == ([] if expected_true_up is None else [expected_true_up])
    assert result.charge_cents("m") == max(used_cents, 1000)
    without = price_period(PricingInput(plan=plan, usage=usage, premium=False))
    assert without.charge_cents("m") == used_cents  # a Lago without a license drops min_amount_cents


# ----------------------------------------------------------------------------------------- coupons

AS = "spec/services/applied_coupons/amount_service_spec.rb"


def coupon(kind="fixed_amount", frequency="once", **extra):
    return {"code": "c", "coupon_type": kind, "amount_cents": 12 if kind == "fixed_amount" else None,
            "amount_currency": "EUR" if kind == "fixed_amount" else None, "percentage_rate": extra.pop("rate", None),
            "frequency": frequency, "frequency_duration": extra.pop("duration", None),
            "applies_to": {"plan_codes": [], "billable_metric_codes": []}, **extra}


COUPON_AMOUNTS = [
    ("calculates amount", AppliedCoupon(coupon(), amount_cents=12), 300, 12),
    ("when base_amount_cents is equal to 0", AppliedCoupon(coupon(), amount_cents=12), 0, 0),
    ("when coupon amount is higher than invoice amount", AppliedCoupon(coupon(), amount_cents=12), 6, 6),
    ("when coupon is partially used", AppliedCoupon(coupon(), amount_cents=12, remaining_amount_cents=6), 300, 6),
    ("when coupon is percentage (applied rate 20 over the coupon's 10)",
     AppliedCoupon(coupon("percentage", rate="10"), percentage_rate="20"), 300, 60),
    ("when coupon is recurring and fixed amount", AppliedCoupon(coupon(frequency="recurring", duration=3),
                                                                 amount_cents=12), 300, 12),
    ("when coupon is recurring and fixed amount / higher than invoice amount",
     AppliedCoupon(coupon(frequency="recurring", duration=3), amount_cents=12), 6, 6),
    ("when coupon is forever and fixed amount", AppliedCoupon(coupon(frequency="forever"), amount_cents=12), 300, 12),
    ("when coupon is forever and fixed amount / higher than invoice amount",
     AppliedCoupon(coupon(frequency="forever"), amount_cents=12), 6, 6),
    ("when coupon is recurring and percentage",
     AppliedCoupon(coupon("percentage", "recurring", rate="10", duration=3), percentage_rate="20"), 300, 60),
]


@pytest.mark.parametrize(("example", "applied", "base", "expected"), COUPON_AMOUNTS)
def test_coupon_amount(example, applied, base, expected):
    assert coupon_amount(applied, D(base))[0] == expected


def two_fee_invoice(applied, base=300, limited_plan=None):
    # spec/services/credits/applied_coupon_service_spec.rb: fee1 = base / 3 * 2, fee2 = base / 3
    plan = dict(PLAN_EUR, amount_cents=base // 3 * 2,
                charges={"m": charge("m", "standard", {"amount": "1"})})
    return price_period(PricingInput(plan=plan, usage={"m": [UsageEntry(units=D(base // 3) / 100)]},
                                     coupons=[applied]))


@pytest.mark.parametrize(("example", "applied", "base", "credit", "shares"), [
    ("creates a credit", AppliedCoupon(coupon(), amount_cents=12), 300, 12, [8, 4]),
    ("when coupon amount is higher than invoice amount", AppliedCoupon(coupon(), amount_cents=12), 6, 6, [4, 2]),
    ("when coupon is partially used", AppliedCoupon(coupon(), amount_cents=12, remaining_amount_cents=6), 300, 6,
     [4, 2]),
    ("when coupon is percentage", AppliedCoupon(coupon("percentage", rate="10"), percentage_rate="20"), 300, 60,
     [40, 20]),
    ("when coupon is recurring and fixed amount", AppliedCoupon(coupon(frequency="recurring", duration=3),
                                                                 amount_cents=12), 300, 12, [8, 4]),
])
def test_coupon_spread_over_fees(example, applied, base, credit, shares):
    result = two_fee_invoice(applied, base)
    assert [c.amount_cents for c in result.coupons] == [credit]
    assert [f.coupons_cents for f in result.fees] == [D(s) for s in shares]
    assert result.sub_total_excluding_taxes_cents == base - credit


def test_coupon_in_another_currency_is_skipped():
    # spec/services/credits/applied_coupon_service_spec.rb "when currencies does not match"
    result = two_fee_invoice(AppliedCoupon(coupon(), amount_cents=10, amount_currency="USD"))
    assert result.coupons == [] and result.coupons_amount_cents == 0


def test_coupon_plan_and_metric_limits():
    # spec/services/credits/applied_coupon_service_spec.rb "when coupon have plan limitations" and "... billable
    # metric limitations": a plan-limited coupon covers the plan's fees, a metric-limited one only its charges
    limited = coupon(applies_to={"plan_codes": ["other"], "billable_metric_codes": []})
    assert two_fee_invoice(AppliedCoupon(limited, amount_cents=12)).coupons == []
    on_metric = coupon(applies_to={"plan_codes": [], "billable_metric_codes": ["m"]})
    result = two_fee_invoice(AppliedCoupon(on_metric, amount_cents=12))
    assert [f.coupons_cents for f in result.fees] == [D(0), D(12)]


def test_coupon_used_up_no_longer_applies():
    once_pct = AppliedCoupon(coupon("percentage", rate="10"), percentage_rate="20", periods_applied=1)
    recurring = AppliedCoupon(coupon(frequency="recurring", duration=3), amount_cents=12, periods_applied=3)
    for applied in (once_pct, recurring):
        assert two_fee_invoice(applied).coupons == []


# ------------------------------------------------------------------------------------------- taxes

TAXES = {"tax1": {"code": "tax1", "rate": "10", "applied_to_organization": False},
         "tax2": {"code": "tax2", "rate": "12", "applied_to_organization": False},
         "tax3": {"code": "tax3", "rate": "5", "applied_to_organization": True}}


def taxed(plan_taxes=(), charge_taxes=(), customer=(), coupons=()):
    plan = dict(PLAN_EUR, amount_cents=0, tax_codes=list(plan_taxes),
                charges={"m": charge("m", "standard", {"amount": "10"}, tax_codes=list(charge_taxes))})
    return price_period(PricingInput(plan=plan, usage={"m": [UsageEntry(units=D(1))]}, taxes=TAXES,
                                     customer_tax_codes=list(customer), coupons=list(coupons)))


def charge_fee(result):
    return next(f for f in result.fees if f.kind == "charge")


@pytest.mark.parametrize(("example", "kwargs", "codes", "taxes_cents"), [
    ("when fee is a charge type with taxes applied to the plan", {"plan_taxes": ["tax1"]}, ["tax1"], 100),
    ("... / when taxes are applied to the charge", {"plan_taxes": ["tax1"], "charge_taxes": ["tax2"]}, ["tax2"], 120),
    ("when customer has applied_taxes", {"customer": ["tax1", "tax2"]}, ["tax1", "tax2"], 220),
    ("creates applied_taxes based on the billing entity taxes", {}, ["tax3"], 50),
])
def test_tax_precedence(example, kwargs, codes, taxes_cents):
    # spec/services/fees/apply_taxes_service_spec.rb: a 1000-cent fee
    fee = charge_fee(taxed(**kwargs))
    assert (fee.tax_codes, fee.taxes_cents) == (codes, taxes_cents)


def test_tax_after_coupon():
    # spec/services/fees/apply_taxes_service_spec.rb "when a coupon amount is applied to the fee":
    # (1000 - 100) * 5 / 100 = 45
    result = taxed(coupons=[AppliedCoupon(coupon(amount_cents=100), amount_cents=100)])
    fee = charge_fee(result)
    assert (fee.coupons_cents, fee.taxes_cents) == (D(100), 45)
    assert result.taxes_amount_cents == 45 and result.total_amount_cents == 900 + 45


def test_invoice_totals_and_json():
    result = taxed(plan_taxes=["tax1"])
    doc = result.to_dict()
    assert (doc["fees_amount_cents"], doc["taxes_amount_cents"], doc["total_amount_cents"]) == (1000, 100, 1100)
    assert doc["total"] == "11.00" and doc["taxes"][0]["code"] == "tax1"
    assert all(not isinstance(v, float) for v in _walk(doc))


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


# ------------------------------------------------------------------------- exact, never guessed


def test_floats_are_refused():
    with pytest.raises(TypeError):
        amount("standard", {"amount": 0.1}, 1)


def test_zero_decimal_currency_rounds_to_whole_units():
    plan = dict(PLAN_EUR, amount_currency="JPY", charges={"m": charge("m", "standard", {"amount": "0.5"})})
    result = price_period(PricingInput(plan=plan, usage={"m": [UsageEntry(units=D(3))]}))
    assert result.charge_cents("m") == 2  # 1.5 yen rounds half up to 2


def test_what_is_not_modelled_is_said():
    plan = dict(PLAN_EUR, trial_period="14", charges={
        "m": charge("m", "standard", {"amount": "1"}, pay_in_advance=True),
        "c": charge("c", "custom", {})})
    result = price_period(PricingInput(plan=plan, usage={"m": [UsageEntry(units=D(1))]}))
    text = " ".join(result.not_modelled)
    assert "trial period" in text and "paid in advance" in text and "custom charge model" in text
