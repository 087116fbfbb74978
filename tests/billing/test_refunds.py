import pytest
from django.db import IntegrityError, transaction

from billing.exceptions import BillingError
from billing.models import CreditAccount, LedgerEntry, Refund
from billing.selectors import credit_accounts_out_of_balance
from billing.services import (
    credits_capture,
    credits_refund,
    credits_refund_broken_output,
    credits_refund_safety_blocked,
    credits_reserve,
)
from tests.factories import creator_create

pytestmark = pytest.mark.django_db


def captured(user, amount=40, charge=30, reference="take:1"):
    with transaction.atomic():
        reservation = credits_reserve(user_id=user.pk, amount=amount, reference=reference)
    credits_capture(reservation_id=reservation.pk, amount=charge)
    return reservation


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def test_a_safety_blocked_take_is_refunded_once():
    user = creator_create(credits=100)
    reservation = captured(user)
    refund = credits_refund_safety_blocked(reservation_id=reservation.pk, detail="moderation: violence")
    assert (refund.amount, refund.reason, balance(user)) == (30, "safety_blocked", 100)
    assert credits_refund_safety_blocked(reservation_id=reservation.pk) is None
    assert credits_refund(reservation_id=reservation.pk, reason="goodwill") is None
    assert balance(user) == 100
    assert list(LedgerEntry.objects.order_by("id").values_list("kind", "amount", "held")) == [
        ("grant", 100, 0), ("reserve", 0, 40), ("capture", -30, -40), ("refund", 30, 0),
    ]
    assert credit_accounts_out_of_balance() == []


def test_broken_output_refunds_follow_the_setting(settings):
    user = creator_create(credits=100)
    settings.BILLING_REFUND_BROKEN_OUTPUTS = False
    reservation = captured(user)
    assert credits_refund_broken_output(reservation_id=reservation.pk) is None
    assert balance(user) == 70
    settings.BILLING_REFUND_BROKEN_OUTPUTS = True
    assert credits_refund_broken_output(reservation_id=reservation.pk, detail="0 frames").amount == 30
    assert balance(user) == 100


def test_only_captured_reservations_can_be_refunded():
    user = creator_create(credits=100)
    with transaction.atomic():
        reservation = credits_reserve(user_id=user.pk, amount=10, reference="take:open")
    with pytest.raises(BillingError, match="released instead"):
        credits_refund(reservation_id=reservation.pk, reason="broken_output")
    with pytest.raises(BillingError, match="Unknown refund reason"):
        credits_refund(reservation_id=reservation.pk, reason="because")


def test_a_free_capture_has_nothing_to_refund():
    user = creator_create(credits=100)
    reservation = captured(user, charge=0)
    assert credits_refund(reservation_id=reservation.pk, reason="broken_output") is None
    assert Refund.objects.count() == 0


def test_the_database_refuses_a_second_refund_row():
    user = creator_create(credits=100)
    reservation = captured(user)
    refund = credits_refund(reservation_id=reservation.pk, reason="goodwill")
    with pytest.raises(IntegrityError), transaction.atomic():
        Refund.objects.create(reservation=reservation, amount=30, reason="goodwill", entry=refund.entry)
