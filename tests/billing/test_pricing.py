from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing import provider_cost_usd_micros, take_price_credits

PRICE = dict(markup=Decimal("3"), credit_value_usd=Decimal("0.01"), minimum_credits=1)


@pytest.mark.parametrize(
    ("micros_per_second", "seconds", "expected"),
    [
        (10_000, 5, 15),  # $0.01/s × 5 s × 3 = $0.15 = 15 credits
        (50_000, 10, 150),  # Gen-4.5 Turbo: $0.05/s × 10 s × 3 = $1.50
        (1, 1, 1),  # a fraction of a credit rounds up, never down
        (0, 5, 1),  # free to us still costs the minimum charge
        (3_333, 3, 3),  # $0.009999 × 3 = $0.029997 → 2.9997 credits → 3
    ],
)
def test_price_is_cost_times_markup_rounded_up(micros_per_second, seconds, expected):
    assert take_price_credits(usd_micros_per_second=micros_per_second, duration_seconds=seconds, **PRICE) == expected


def test_minimum_charge_applies():
    assert take_price_credits(usd_micros_per_second=0, duration_seconds=1, markup=Decimal("3"),
                              credit_value_usd=Decimal("0.01"), minimum_credits=5) == 5


@pytest.mark.parametrize("bad", [dict(duration_seconds=0), dict(markup=Decimal("0")), dict(credit_value_usd=Decimal("-1"))])
def test_nonsense_inputs_are_refused(bad):
    args = dict(usd_micros_per_second=10_000, duration_seconds=5, **PRICE) | bad
    with pytest.raises(ValueError):
        take_price_credits(**args)


@given(micros=st.integers(0, 2_000_000), seconds=st.integers(1, 60))
def test_price_never_undercharges_the_markup(micros, seconds):
    credits = take_price_credits(usd_micros_per_second=micros, duration_seconds=seconds, **PRICE)
    charged_micros = credits * 10_000  # one credit is $0.01
    assert charged_micros >= 3 * provider_cost_usd_micros(usd_micros_per_second=micros, duration_seconds=seconds)
    assert charged_micros - 3 * micros * seconds < 10_000 or credits == 1  # less than one credit of rounding
