"""Circuit breakers, rate limits and concurrency slots against the real Redis, shared by processes."""

import multiprocessing
import time
import uuid

import pytest
import redis
from django.conf import settings

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
    waits = [health.rate_limit_take(slug, per_minute=30) for _ in range(3)]  # a slow machine may refill one meanwhile
    wait = next(wait for wait in waits if wait)
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


class RoundTrips(redis.Connection):
    """A connection that counts what it sends: one send is one round trip (a pipeline sends once)."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        type(self).sent += 1
        return super().send_packed_command(command, check_health=check_health)


def counting_client() -> redis.Redis:
    class Counted(RoundTrips):
        sent = 0

    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(settings.REDIS_URL, connection_class=Counted))
    client.ping()  # the connection's own handshake is not a reading
    Counted.sent = 0
    client.round_trips = Counted
    return client


def test_the_batched_reading_equals_the_per_model_reading_in_one_round_trip():
    slugs = [f"test-{uuid.uuid4()}" for _ in range(5)]
    closed, opened, half_open, throttled, unlimited = slugs
    try:
        health.circuit_record(opened, success=False, credit_exhausted=True)
        health.circuit_record(half_open, success=False, credit_exhausted=True)
        health.health_redis().set(health._key(half_open, "open_until"), 0)
        for _ in range(3):
            health.rate_limit_take(throttled, per_minute=2)
        health.rate_limit_take(closed, per_minute=60)
        limits = {closed: 60, opened: 30, half_open: None, throttled: 2, unlimited: None}
        client = counting_client()

        batched = health.providers_health(limits, client=client)

        assert client.round_trips.sent == 1
        per_model = {slug: health.provider_health(slug, per_minute=limit) for slug, limit in limits.items()}
        assert {slug: (reading.circuit, reading.rate_limited) for slug, reading in batched.items()} == {
            closed: (CIRCUIT_CLOSED, False), opened: (CIRCUIT_OPEN, False), half_open: (CIRCUIT_HALF_OPEN, False),
            throttled: (CIRCUIT_CLOSED, True), unlimited: (CIRCUIT_CLOSED, False)}
        for slug in slugs:
            assert batched[slug].circuit == per_model[slug].circuit
            assert batched[slug].rate_limited == per_model[slug].rate_limited
            assert batched[slug].retry_in_seconds == pytest.approx(per_model[slug].retry_in_seconds, abs=1)
        assert health.providers_health({}, client=client) == {} and client.round_trips.sent == 1
    finally:
        for slug in slugs:
            health.health_forget(slug)
