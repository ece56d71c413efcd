"""Currencies and rounding as Lago applies them (lago-behaviour#pricing-rounding).

Lago keeps money through the Money gem: an amount in a currency's units is rounded to the
currency's exponent (half up) and multiplied by its ``subunit_to_unit`` to give the integer
``amount_cents`` every fee, credit and invoice stores. Nothing here touches a float.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["UnknownCurrency", "cents", "dec", "exponent", "fraction_is_half", "round_half_up",
           "subunit_to_unit", "units_text"]

# subunit_to_unit of the currencies Lago accepts whose subunit is not 1/100 (Money gem 7.0.2, the
# version lago-api v1.51.0 locks; lago-behaviour#pricing-currencies). Every other accepted currency
# has 100.
_SUBUNITS = {
    "BHD": 1000, "JOD": 1000, "KWD": 1000, "CLF": 10000,
    "BIF": 1, "CLP": 1, "DJF": 1, "GNF": 1, "HUF": 1, "ISK": 1, "JPY": 1, "KMF": 1, "KRW": 1, "MGA": 1,
    "PYG": 1, "RWF": 1, "UGX": 1, "VND": 1, "VUV": 1, "XAF": 1, "XOF": 1, "XPF": 1,
}
# accepted by Lago but unknown to the Money gem version it runs: Lago cannot bill in them
_NO_MONEY_ENTRY = frozenset({"HRK", "MRO"})


class UnknownCurrency(ValueError):
    """A currency the engine cannot round for (Lago's Money table has no entry for it)."""


def subunit_to_unit(currency: str) -> int:
    code = str(currency or "").upper()
    if code in _NO_MONEY_ENTRY:
        raise UnknownCurrency(code)
    return _SUBUNITS.get(code, 100)


def exponent(currency: str) -> int:
    """Decimal places of the currency's units (2 for USD, 0 for JPY, 3 for KWD, 4 for CLF)."""
    return len(str(subunit_to_unit(currency))) - 1


def dec(value: Any, what: str = "value") -> Decimal:
    """A Decimal from an int, a decimal string or a Decimal; a float or a bool is refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what}: {value!r} is not an exact number (write an integer or a decimal string)")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except ArithmeticError:
            raise ValueError(f"{what}: {value!r} is not a decimal number") from None
        if not result.is_finite():
            raise ValueError(f"{what}: {value!r} is not a finite number")
        return result
    raise TypeError(f"{what}: expected a number, got {type(value).__name__}")


def round_half_up(value: Decimal, places: int = 0) -> Decimal:
    """Ruby's BigDecimal#round(places): half away from zero (its default mode)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def ceil_to(value: Decimal, places: int = 0) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)


def floor_to(value: Decimal, places: int = 0) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)


def cents(amount: Decimal, currency: str) -> int:
    """A fee's ``amount_cents``: the amount in units rounded to the currency's exponent (half up),
    in subunits (lago-behaviour#pricing-rounding)."""
    return int(round_half_up(amount, exponent(currency)) * subunit_to_unit(currency))


def fraction_is_half(value: Decimal) -> bool:
    """True when ``value`` lies exactly half way between two integers (a rounding tie)."""
    return (value - value.to_integral_value(rounding=ROUND_FLOOR)) == Decimal("0.5")


def units_text(amount_cents: int | Decimal, currency: str) -> str:
    """``7340`` USD -> ``"73.40"``: integer subunits as a decimal string in the currency's units."""
    places = exponent(currency)
    value = Decimal(amount_cents) / subunit_to_unit(currency)
    if isinstance(amount_cents, int) or value == value.quantize(Decimal(1).scaleb(-places)):
        return f"{value.quantize(Decimal(1).scaleb(-places)):f}"
    return f"{value.normalize():f}"
