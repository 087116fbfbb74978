"""Many workers reserving against one balance at once: the row lock and the database's CHECK
constraints keep the balance whole. Needs PostgreSQL (real row locks and many connections)."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier

import pytest
from django.db import connection, connections, transaction

from billing.exceptions import InsufficientCredits
from billing.models import CreditAccount, LedgerEntry, Plan, Reservation
from billing.selectors import credit_accounts_out_of_balance
from billing.services import credit_account_plan_set, credits_reserve
from tests.factories import creator_create

ATTEMPTS, WORKERS, BALANCE = 200, 40, 50

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite serialises writers on one file lock, so it cannot show row-lock races "
           "(run with DATABASE_URL=postgres://…)",
)


def _reserve(user_id: int, number: int, barrier: Barrier) -> str:
    try:
        barrier.wait(timeout=30)
        with transaction.atomic():
            credits_reserve(user_id=user_id, amount=1, reference=f"take:race-{number}")
        return "accepted"
    except InsufficientCredits:
        return "refused"
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_reservations_against_a_balance_for_50_accept_exactly_50():
    user = creator_create(credits=BALANCE)
    unlimited = Plan.objects.create(slug="race", name="Race", markup_draft=Decimal(3), markup_final=Decimal(3))
    credit_account_plan_set(user=user, plan=unlimited)
    barrier = Barrier(WORKERS)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(lambda n: _reserve(user.pk, n, barrier if n < WORKERS else Barrier(1)), range(ATTEMPTS)))

    assert outcomes.count("accepted") == BALANCE
    assert outcomes.count("refused") == ATTEMPTS - BALANCE
    account = CreditAccount.objects.get(user=user)
    assert (account.balance, account.held, account.available) == (BALANCE, BALANCE, 0)
    assert Reservation.objects.filter(account=account, state="open").count() == BALANCE
    assert LedgerEntry.objects.filter(account=account, kind="reserve").count() == BALANCE
    assert credit_accounts_out_of_balance() == []
