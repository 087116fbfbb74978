"""A Hypothesis state machine drives the real billing services against the real database and
checks the ledger's invariants after every step."""

import itertools
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from billing.exceptions import BillingError, InsufficientCredits
from billing.models import CreditAccount, CreditPack, LedgerEntry, Plan, Reservation
from billing.purchases import purchase_test_checkout
from billing.selectors import credit_accounts_out_of_balance
from billing.services import (
    credit_account_plan_set,
    credits_capture,
    credits_grant,
    credits_refund,
    credits_release,
    credits_reserve,
)

_users = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")
    captured = Bundle("captured")

    def __init__(self):
        super().__init__()
        self.user = get_user_model().objects.create_user(username=f"machine-{next(_users)}")
        # Plan limits are tested on their own; here only the ledger's arithmetic is under test.
        unlimited, _ = Plan.objects.get_or_create(slug="machine", defaults=dict(
            name="Machine", markup_draft=Decimal(3), markup_final=Decimal(3)))
        credit_account_plan_set(user=self.user, plan=unlimited)
        self.pack = CreditPack.objects.order_by("price_cents").first()
        self.expected_balance = 0
        self.resolutions: dict[int, int] = {}

    def account(self) -> CreditAccount:
        return CreditAccount.objects.get(user=self.user)

    @rule(amount=st.integers(1, 500))
    def grant(self, amount):
        credits_grant(user=self.user, amount=amount, reason="machine")
        self.expected_balance += amount

    @rule()
    def purchase(self):
        purchase_test_checkout(user=self.user, pack=self.pack)
        self.expected_balance += self.pack.credits

    @rule(target=reservations, amount=st.integers(1, 800))
    def reserve(self, amount):
        available = self.account().available if CreditAccount.objects.filter(user=self.user).exists() else 0
        try:
            with transaction.atomic():
                reference = f"r:{self.user.pk}:{Reservation.objects.count()}"
                reservation = credits_reserve(user_id=self.user.pk, amount=amount, reference=reference)
        except InsufficientCredits:
            assert amount > available
            return None
        assert amount <= available
        return reservation.pk

    @rule(target=captured, reservation_id=consumes(reservations), fraction=st.integers(0, 100))
    def capture(self, reservation_id, fraction):
        if reservation_id is None:
            return None
        reservation = Reservation.objects.get(pk=reservation_id)
        amount = reservation.amount * fraction // 100
        entry = credits_capture(reservation_id=reservation_id, amount=amount)
        assert entry is not None and entry.amount == -amount
        self.expected_balance -= amount
        self.resolutions[reservation_id] = self.resolutions.get(reservation_id, 0) + 1
        assert credits_capture(reservation_id=reservation_id, amount=amount) is None  # a repeat is a no-op
        assert credits_release(reservation_id=reservation_id) is None
        return reservation_id

    @rule(reservation_id=consumes(reservations))
    def release(self, reservation_id):
        if reservation_id is None:
            return
        assert credits_release(reservation_id=reservation_id) is not None
        self.resolutions[reservation_id] = self.resolutions.get(reservation_id, 0) + 1
        assert credits_release(reservation_id=reservation_id) is None

    @rule(reservation_id=captured)  # not consumed: refunding twice must be a no-op
    def refund(self, reservation_id):
        if reservation_id is None:
            return
        reservation = Reservation.objects.get(pk=reservation_id)
        already = hasattr(reservation, "refund")
        refund = credits_refund(reservation_id=reservation_id, reason="broken_output")
        if already or not reservation.captured_amount:
            assert refund is None
        else:
            assert refund.amount == reservation.captured_amount
            self.expected_balance += refund.amount

    @rule(amount=st.integers(1, 10_000))
    def overdraw(self, amount):
        """Reserving more than available never succeeds and changes nothing."""
        before = self.account_state()
        available = before[0] - before[1]
        if amount <= available:
            return
        with pytest.raises(BillingError), transaction.atomic():
            credits_reserve(user_id=self.user.pk, amount=amount, reference=f"over:{self.user.pk}")
        assert self.account_state() == before

    def account_state(self) -> tuple[int, int]:
        account = CreditAccount.objects.filter(user=self.user).first()
        return (account.balance, account.held) if account else (0, 0)

    @invariant()
    def entries_sum_to_the_balance(self):
        balance, held = self.account_state()
        sums = [(e.amount, e.held) for e in LedgerEntry.objects.filter(account__user=self.user)]
        assert balance == sum(a for a, _ in sums) == self.expected_balance
        assert held == sum(h for _, h in sums)
        open_held = sum(Reservation.objects.filter(account__user=self.user, state="open").values_list("amount", flat=True))
        assert held == open_held

    @invariant()
    def available_is_never_negative(self):
        balance, held = self.account_state()
        assert balance >= 0 and 0 <= held <= balance

    @invariant()
    def each_reservation_resolves_at_most_once_and_captures_within_its_amount(self):
        assert all(count == 1 for count in self.resolutions.values())
        for reservation in Reservation.objects.filter(account__user=self.user):
            resolving = reservation.entries.exclude(kind__in=["reserve", "refund"]).count()
            assert resolving == (0 if reservation.state == "open" else 1)
            assert reservation.entries.filter(kind="refund").count() <= 1
            if reservation.captured_amount is not None:
                assert 0 <= reservation.captured_amount <= reservation.amount

    def teardown(self):
        assert credit_accounts_out_of_balance() == []


@pytest.mark.django_db
def test_ledger_state_machine():
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=40, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    ))
