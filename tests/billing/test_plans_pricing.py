"""Plan markups per tier, the pure price function's properties, and the limits checked on reserve."""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from billing.exceptions import BudgetExceeded, ConcurrencyLimitReached, DailySpendCapReached, InsufficientCredits
from billing.models import CreditAccount, Plan, Reservation
from billing.plans import plan_markup
from billing.pricing import take_price_credits
from billing.selectors import credit_account_summary
from billing.services import (
    credit_account_plan_set,
    credits_capture,
    credits_release,
    credits_reserve,
    spend_budget_set,
)
from jobs.pipeline.quote import take_credits_for_cost
from tests.factories import creator_create

CENT = Decimal("0.01")


def reserve(user, amount, reference, budget_key=""):
    with transaction.atomic():
        return credits_reserve(user_id=user.pk, amount=amount, reference=reference, budget_key=budget_key)


# --- the pure function -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("micros", "seconds", "markup", "credit_value", "minimum", "expected"),
    [
        (10_000, 5, Decimal("3"), CENT, 1, 15),
        (10_000, 5, Decimal("2.75"), CENT, 1, 14),  # 13.75 → 14
        (10_000, 5, Decimal("2.4"), CENT, 1, 12),  # exact: no rounding up of a whole number
        (50_000, 10, Decimal("2.9"), CENT, 1, 145),
        (50_000, 10, Decimal("2.6"), Decimal("0.05"), 1, 26),  # a credit worth 5 cents
        (1, 1, Decimal("0.001"), CENT, 0, 1),  # any positive cost is at least one credit
        (0, 60, Decimal("3"), CENT, 0, 0),  # free to us and no minimum: free to the creator
        (0, 60, Decimal("3"), CENT, 7, 7),
        (2_000_000, 60, Decimal("3"), CENT, 1, 36_000),
        (333_333, 3, Decimal("3"), CENT, 1, 300),  # 299.9997 → 300
    ],
)
def test_price_table(micros, seconds, markup, credit_value, minimum, expected):
    assert take_price_credits(usd_micros_per_second=micros, duration_seconds=seconds, markup=markup,
                              credit_value_usd=credit_value, minimum_credits=minimum) == expected


@pytest.mark.parametrize("bad", [
    dict(markup=3.0), dict(credit_value_usd=0.01), dict(usd_micros_per_second=1.5), dict(duration_seconds=True),
    dict(markup=Decimal("NaN")), dict(markup=Decimal("Infinity")),
])
def test_floats_and_non_numbers_are_refused(bad):
    args = dict(usd_micros_per_second=10_000, duration_seconds=5, markup=Decimal("3"), credit_value_usd=CENT,
                minimum_credits=1) | bad
    with pytest.raises((TypeError, ValueError)):
        take_price_credits(**args)


markups = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("20"), places=3)
credit_values = st.sampled_from([Decimal("0.001"), CENT, Decimal("0.05"), Decimal("0.1"), Decimal("1")])


@given(micros=st.integers(0, 5_000_000), seconds=st.integers(1, 120), markup=markups, value=credit_values,
       minimum=st.integers(0, 10))
def test_price_is_the_exact_ceiling_of_cost_times_markup(micros, seconds, markup, value, minimum):
    credits = take_price_credits(usd_micros_per_second=micros, duration_seconds=seconds, markup=markup,
                                 credit_value_usd=value, minimum_credits=minimum)
    # Exact rational arithmetic: charged ≥ cost × markup, and one credit less would undercharge.
    owed = Decimal(micros * seconds) * markup
    charged = Decimal(credits) * value * 1_000_000
    assert isinstance(credits, int) and credits >= minimum
    assert charged >= owed
    if credits > minimum:
        assert Decimal(credits - 1) * value * 1_000_000 < owed


@given(micros=st.integers(0, 1_000_000), extra=st.integers(0, 1_000_000), seconds=st.integers(1, 60),
       low=markups, high=markups)
def test_price_grows_with_cost_and_markup(micros, extra, seconds, low, high):
    low, high = sorted((low, high))
    price = lambda m, k: take_price_credits(usd_micros_per_second=m, duration_seconds=seconds, markup=k,  # noqa: E731
                                            credit_value_usd=CENT, minimum_credits=1)
    assert price(micros, low) <= price(micros + extra, low) <= price(micros + extra, high)


# --- plans -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_seeded_plans_and_free_by_default():
    assert list(Plan.objects.order_by("slug").values_list("slug", flat=True)) == ["creator", "free", "studio"]
    user = creator_create(credits=100)
    assert CreditAccount.objects.get(user=user).plan is None
    assert plan_markup(user_id=user.pk, tier="draft") == Decimal("3.000")


@pytest.mark.django_db
def test_take_price_uses_the_creators_plan_and_the_takes_tier():
    user = creator_create(credits=100)
    cost = dict(usd_micros_per_second=50_000, duration_seconds=10)
    assert take_credits_for_cost(**cost, owner_id=user.pk, tier="final") == 150  # Free: 3×
    credit_account_plan_set(user=user, plan=Plan.objects.get(slug="studio"))
    assert take_credits_for_cost(**cost, owner_id=user.pk, tier="draft") == 120  # 2.4×
    assert take_credits_for_cost(**cost, owner_id=user.pk, tier="final") == 130  # 2.6×
    Plan.objects.filter(slug="studio").update(markup_final=Decimal("2.001"))  # ops edit the plan
    assert take_credits_for_cost(**cost, owner_id=user.pk, tier="final") == 101  # 100.05 → 101
    assert take_credits_for_cost(**cost) == 150  # no owner: Free


# --- limits on reserve -------------------------------------------------------------------------

@pytest.mark.django_db
def test_concurrency_limit_counts_open_reservations():
    user = creator_create(credits=1_000)
    Plan.objects.filter(slug="free").update(concurrency_limit=2)
    first = reserve(user, 10, "take:1")
    reserve(user, 10, "take:2")
    with pytest.raises(ConcurrencyLimitReached, match="at most 2 takes at once"):
        reserve(user, 10, "take:3")
    credits_capture(reservation_id=first.pk, amount=10)
    reserve(user, 10, "take:3")


@pytest.mark.django_db
def test_daily_cap_counts_held_and_charged_but_not_released():
    user = creator_create(credits=1_000)
    Plan.objects.filter(slug="free").update(daily_spend_cap_credits=100, concurrency_limit=None)
    charged = reserve(user, 60, "take:1")
    credits_capture(reservation_id=charged.pk, amount=50)  # 50 spent
    released = reserve(user, 40, "take:2")
    credits_release(reservation_id=released.pk)  # 0 spent
    reserve(user, 30, "take:3")  # 30 held → 80 today
    with pytest.raises(DailySpendCapReached) as caught:
        reserve(user, 21, "take:4")
    assert (caught.value.spent, caught.value.needed, caught.value.cap) == (80, 21, 100)
    assert "at most 100 credits a day" in str(caught.value)
    reserve(user, 20, "take:4")
    assert Reservation.objects.filter(state="open").count() == 2


@pytest.mark.django_db
def test_project_budget_caps_only_its_own_reservations():
    user = creator_create(credits=1_000)
    spend_budget_set(user=user, key="project:1", cap_credits=50)
    reserve(user, 40, "take:1", budget_key="project:1")
    reserve(user, 500, "take:2", budget_key="project:2")  # another project, no budget
    with pytest.raises(BudgetExceeded, match="budget is 50 credits"):
        reserve(user, 11, "take:3", budget_key="project:1")
    spend_budget_set(user=user, key="project:1", cap_credits=None)
    reserve(user, 11, "take:3", budget_key="project:1")


@pytest.mark.django_db
def test_insufficient_credits_is_checked_before_limits():
    user = creator_create(credits=5)
    with pytest.raises(InsufficientCredits):
        reserve(user, 6, "take:1")


@pytest.mark.django_db
def test_low_balance_flag(settings):
    settings.BILLING_LOW_BALANCE_CREDITS = 100
    user = creator_create(credits=150)
    assert credit_account_summary(user_id=user.pk).low_balance is False
    reserve(user, 60, "take:1")
    summary = credit_account_summary(user_id=user.pk)
    assert (summary.balance, summary.held, summary.available, summary.low_balance) == (150, 60, 90, True)
    assert summary.plan.slug == "free"
