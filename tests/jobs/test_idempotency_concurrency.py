"""One Idempotency-Key sent by many threads at once: one take, one reservation, and every other
request either gets that take or is told (409) that the first is still in progress."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier, Event

import pytest
from django.db import connection, connections

from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.exceptions import IdempotencyKeyInProgress, NoProviderAvailable
from jobs.models import Take
from jobs.pipeline import request as take_requests
from providers.models import ProviderModel
from studio.services.takes import shot_take_request

THREADS = 24

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite serialises writers on one file lock, so requests cannot overlap",
)


def _request(user, shot, barrier: Barrier) -> int | str:
    try:
        barrier.wait(timeout=30)
        return shot_take_request(user=user, shot=shot, idempotency_key="double-click").pk
    except IdempotencyKeyInProgress:
        return "in progress"
    finally:
        connections.close_all()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_many_threads_with_one_key_make_one_take_and_one_reservation(catalog, creator, shot):
    barrier = Barrier(THREADS)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(lambda _: _request(creator, shot, barrier), range(THREADS)))

    take = Take.objects.get()
    assert set(outcomes) <= {take.pk, "in progress"}
    assert outcomes.count(take.pk) >= 1
    assert Reservation.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="reserve").count() == 1
    assert CreditAccount.objects.get(user=creator).available == 500 - take.reservation.amount
    assert credit_accounts_out_of_balance() == []
    # Once the first request is done, a retry with the key gets its take.
    assert shot_take_request(user=creator, shot=shot, idempotency_key="double-click").pk == take.pk


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_key_still_being_carried_out_answers_in_progress_and_changes_nothing(catalog, creator, shot, monkeypatch):
    """Holds the first request open inside its creation, then sends the same key again."""
    inside, release = Event(), Event()
    real_create = take_requests._take_create

    def slow_create(**kwargs):
        inside.set()
        assert release.wait(timeout=30)
        return real_create(**kwargs)

    monkeypatch.setattr(take_requests, "_take_create", slow_create)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(lambda: _request(creator, shot, Barrier(1)))
        assert inside.wait(timeout=30)
        with pytest.raises(IdempotencyKeyInProgress):
            shot_take_request(user=creator, shot=shot, idempotency_key="double-click")
        assert Take.objects.count() == 0
        release.set()
        take_id = first.result(timeout=30)

    assert Take.objects.get().pk == take_id
    assert Reservation.objects.count() == 1


def test_a_failed_request_frees_its_key(catalog, creator, shot):
    """A refused first attempt (no provider) must not leave the key claimed for a minute."""
    ProviderModel.objects.update(enabled=False)
    with pytest.raises(NoProviderAvailable):
        shot_take_request(user=creator, shot=shot, idempotency_key="retry-me")
    ProviderModel.objects.update(enabled=True)
    assert shot_take_request(user=creator, shot=shot, idempotency_key="retry-me").state == "queued"
