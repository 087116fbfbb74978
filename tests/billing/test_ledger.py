import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from billing.exceptions import BillingError, InsufficientCredits
from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from billing.services import credits_capture, credits_grant, credits_release, credits_reserve, credits_starter_grant
from tests.factories import creator_create

pytestmark = pytest.mark.django_db


def reserve(user, amount, reference="take:1"):
    with transaction.atomic():
        return credits_reserve(user_id=user.pk, amount=amount, reference=reference)


def account(user) -> CreditAccount:
    return CreditAccount.objects.get(user=user)


def test_grant_reserve_capture_keeps_ledger_and_balance_equal():
    user = creator_create(credits=100)
    reservation = reserve(user, 40)
    assert (account(user).balance, account(user).held, account(user).available) == (100, 40, 60)
    credits_capture(reservation_id=reservation.pk, amount=30)
    assert (account(user).balance, account(user).held) == (70, 0)
    assert list(LedgerEntry.objects.order_by("id").values_list("kind", "amount", "held")) == [
        ("grant", 100, 0), ("reserve", 0, 40), ("capture", -30, -40),
    ]
    assert credit_accounts_out_of_balance() == []


def test_release_returns_everything_and_a_reservation_resolves_once():
    user = creator_create(credits=100)
    reservation = reserve(user, 40)
    credits_release(reservation_id=reservation.pk, reason="failed")
    assert credits_release(reservation_id=reservation.pk) is None
    assert credits_capture(reservation_id=reservation.pk, amount=40) is None
    assert (account(user).balance, account(user).held) == (100, 0)
    assert Reservation.objects.get().state == Reservation.State.RELEASED
    assert LedgerEntry.objects.count() == 3


def test_reserving_more_than_available_is_refused_and_changes_nothing():
    user = creator_create(credits=50)
    reserve(user, 30, reference="take:a")
    with pytest.raises(InsufficientCredits) as caught:
        reserve(user, 21, reference="take:b")
    assert (caught.value.needed, caught.value.available) == (21, 20)
    assert Reservation.objects.count() == 1
    assert account(user).held == 30


def test_capture_cannot_exceed_the_reservation():
    user = creator_create(credits=50)
    reservation = reserve(user, 10)
    with pytest.raises(BillingError):
        credits_capture(reservation_id=reservation.pk, amount=11)
    assert Reservation.objects.get().state == Reservation.State.OPEN


@pytest.mark.django_db(transaction=True)
def test_reserve_outside_a_transaction_is_refused():
    user = creator_create(credits=50)
    with pytest.raises(BillingError):
        credits_reserve(user_id=user.pk, amount=5, reference="take:x")


def test_the_database_itself_refuses_a_negative_balance_or_overheld_credits():
    user = creator_create(credits=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(user=user).update(balance=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(user=user).update(held=11)


def test_starter_grant_is_given_once():
    user = creator_create(credits=0)
    credits_starter_grant(user=user)
    credits_starter_grant(user=user)
    assert account(user).balance == 500


def test_grants_need_a_positive_amount_and_a_reason():
    user = creator_create(credits=0)
    with pytest.raises(BillingError):
        credits_grant(user=user, amount=0, reason="x")
    with pytest.raises(BillingError):
        credits_grant(user=user, amount=5, reason="  ")
    assert LedgerEntry.objects.count() == 0


def test_credits_check_command_detects_drift():
    user = creator_create(credits=10)
    call_command("credits_check")
    CreditAccount.objects.filter(user=user).update(balance=9)
    with pytest.raises(Exception, match="out of balance"):
        call_command("credits_check")
