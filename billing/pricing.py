"""What a take costs the creator. Integers and Decimal only: never floats for money."""

from decimal import ROUND_CEILING, Decimal

USD_MICROS = Decimal(1_000_000)


def take_price_credits(
    *,
    usd_micros_per_second: int,
    duration_seconds: int,
    markup: Decimal,
    credit_value_usd: Decimal,
    minimum_credits: int,
) -> int:
    """Provider cost × markup, in whole credits rounded up, never below the minimum charge.

    Floats are refused outright: a binary fraction of a cent is how money leaks.
    """
    for name, value in (("usd_micros_per_second", usd_micros_per_second), ("duration_seconds", duration_seconds),
                        ("minimum_credits", minimum_credits)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int")
    if not isinstance(markup, Decimal) or not isinstance(credit_value_usd, Decimal):
        raise TypeError("markup and credit_value_usd must be Decimal")
    if not markup.is_finite() or not credit_value_usd.is_finite():
        raise ValueError("markup and credit value must be finite")
    if duration_seconds <= 0:
        raise ValueError("duration_seconds must be positive")
    if usd_micros_per_second < 0 or markup <= 0 or credit_value_usd <= 0 or minimum_credits < 0:
        raise ValueError("prices, markup and credit value must be positive")
    cost_usd = Decimal(usd_micros_per_second * duration_seconds) / USD_MICROS
    credits = (cost_usd * markup / credit_value_usd).to_integral_value(rounding=ROUND_CEILING)
    return max(int(credits), minimum_credits)


def provider_cost_usd_micros(*, usd_micros_per_second: int, duration_seconds: int) -> int:
    return usd_micros_per_second * duration_seconds
