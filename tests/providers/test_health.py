"""Circuit breakers, rate limits and concurrency slots against the real Redis, shared by processes."""

import multiprocessing
import time
import uuid

import pytest

from providers import health
from providers.router import CIRCUIT_CLOSED, CIRCUIT_HALF_OPEN, CIRCUIT_OPEN


@pytest.fixture
def slug():
    name = f"test-{uuid.uuid4()}"
    yield name
    health.circuit_reset(name)


def test_the_circuit_opens_on_the_failure_share_after_enough_calls(slug):
    for _ in range(4):
        assert not health.circuit_record(slug, success=False)  # fewer than MIN_CALLS: stays closed
    assert health.circuit_state(slug).state == CIRCUIT_CLOSED
    assert health.circuit_record(slug, success=False)
    state = health.circuit_state(slug)
    assert state.state == CIRCUIT_OPEN and 0 < state.retry_in_seconds <= health.COOLDOWN_SECONDS
    assert not health.circuit_allows_call(slug)


def test_successes_keep_the_circuit_closed(slug):
    for index in range(20):
        health.circuit_record(slug, success=index % 3 != 0)  # one failure in three
    assert health.circuit_state(slug).state == CIRCUIT_CLOSED


def test_vendor_credit_exhaustion_opens_at_once_for_longer(slug):
    assert health.circuit_record(slug, success=False, credit_exhausted=True)
    assert health.circuit_state(slug).retry_in_seconds > health.COOLDOWN_SECONDS


def test_half_open_lets_one_probe_through_and_its_result_decides(slug):
    health.circuit_record(slug, success=False, credit_exhausted=True)
    later = time.time() + health.CREDIT_COOLDOWN_SECONDS + 1
    assert health.circuit_state(slug, now=later).state == CIRCUIT_HALF_OPEN
    health.health_redis().set(health._key(slug, "open_until"), 0)  # the cooldown is over
    assert health.circuit_allows_call(slug)
    assert not health.circuit_allows_call(slug)  # only one probe at a time
    health.circuit_record(slug, success=True)
    assert health.circuit_state(slug).state == CIRCUIT_CLOSED
    assert health.circuit_allows_call(slug)


def test_a_failed_probe_reopens_the_circuit(slug):
    health.circuit_record(slug, success=False, credit_exhausted=True)
    health.health_redis().set(health._key(slug, "open_until"), 0)
    assert health.circuit_allows_call(slug)
    assert health.circuit_record(slug, success=False)
    assert health.circuit_state(slug).state == CIRCUIT_OPEN


def _fail_calls(slug: str, count: int, queue) -> None:
    import django

    django.setup()
    from providers import health as shared

    queue.put(sum(shared.circuit_record(slug, success=False) for _ in range(count)))


def _take_tokens(slug: str, count: int, queue) -> None:
    import django

    django.setup()
    from providers import health as shared

    queue.put(sum(1 for _ in range(count) if shared.rate_limit_take(slug, per_minute=30) == 0))


def _run_in_two_workers(target, slug: str, count: int) -> list[int]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=target, args=(slug, count, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return [queue.get(timeout=5) for _ in workers]


def test_two_workers_share_one_circuit(slug):
    opened = _run_in_two_workers(_fail_calls, slug, 6)
    assert sum(opened) >= 1  # whichever worker crossed the threshold opened it
    assert health.circuit_state(slug).state == CIRCUIT_OPEN


def test_two_workers_share_one_token_bucket(slug):
    allowed = _run_in_two_workers(_take_tokens, slug, 40)
    assert 30 <= sum(allowed) <= 32  # the burst capacity, plus what refilled during the run
    wait = health.rate_limit_take(slug, per_minute=30)
    assert 0 < wait <= 2.0 + 0.1  # one token refills every 2 s
    assert health.rate_limited_now(slug, per_minute=30)


def test_no_limit_means_no_waiting(slug):
    assert health.rate_limit_take(slug, per_minute=None) == 0
    assert not health.rate_limited_now(slug, per_minute=None)


def test_concurrency_slots_cap_parallel_jobs_and_free_on_release(slug):
    assert health.concurrency_slot_take(slug, holder="take-1", cap=2)
    assert health.concurrency_slot_take(slug, holder="take-2", cap=2)
    assert health.concurrency_slot_take(slug, holder="take-2", cap=2)  # a holder asking again keeps its slot
    assert not health.concurrency_slot_take(slug, holder="take-3", cap=2)
    health.concurrency_slot_release(slug, holder="take-1")
    assert health.concurrency_slot_take(slug, holder="take-3", cap=2)
    health.health_redis().delete(health._key(slug, "slots"))
