"""The pricing engine: what Lago would charge for one billing period of a plan (issue 14).

Pure and exact: canonical plan (lagosync.model) and usage in, a ``PeriodPrice`` breakdown out
(fees, coupons, taxes, total, and what the engine could not model). ``decimal.Decimal`` only.
The rules are entries of docs/lago-behaviour.md ("Pricing").
"""

from .charge_models import Aggregation, PricingInputError, apply_model
from .engine import (
    AppliedCoupon,
    CouponCredit,
    Fee,
    PeriodPrice,
    PricingInput,
    TaxLine,
    UsageEntry,
    coupon_amount,
    price_period,
)

__all__ = [
    "Aggregation",
    "AppliedCoupon",
    "CouponCredit",
    "Fee",
    "PeriodPrice",
    "PricingInput",
    "PricingInputError",
    "TaxLine",
    "UsageEntry",
    "apply_model",
    "coupon_amount",
    "price_period",
]
