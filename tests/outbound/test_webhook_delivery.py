"""Outbound webhooks end to end: events written with the change, delivered by a real Celery worker on
the webhooks queue to loopback receivers, verified with the standardwebhooks library."""

import os
import signal
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from jobs.outbound.delivery import webhook_deliveries_dispatch
from jobs.outbound.endpoints import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_secret_rotate,
)
from jobs.outbound.kinds import EVENT_KINDS
from jobs.outbound.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from jobs.outbound.record import outbound_event_record
from studio.services.takes import shot_take_request
from tests.conftest import purge_test_queue
from tests.outbound.receiver import Answer, LoopbackReceiver, wait_until
from tests.pipeline import take_made_ready
from tests.stack import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

FAST_RETRIES = {"WEBHOOK_RETRY_BASE_SECONDS": "1", "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2"}


@pytest.fixture
def webhook_worker(django_db_setup, tmp_path, settings):
    """A real worker on the webhooks queue only; `start(**env)` starts one (again, after a kill)."""
    from contextlib import ExitStack

    settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 1, 2
    stack = ExitStack()
    purge_test_queue_webhooks(settings)

    def start(name="webhooks", **env):
        return stack.enter_context(celery_worker(tmp_path / f"{name}.log", queues=(settings.WEBHOOK_QUEUE,),
                                                 name=name, **{**FAST_RETRIES, **env}))

    with stack:
        yield start
    purge_test_queue_webhooks(settings)


def purge_test_queue_webhooks(settings):
    from studio.config.celery import app

    purge_test_queue()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(settings.WEBHOOK_QUEUE)


def deliveries(state=None):
    queryset = WebhookDelivery.objects.all()
    return queryset.filter(state=state) if state else queryset


def test_a_creators_endpoint_receives_signed_take_events_that_the_library_verifies(catalog, creator, shot, webhook_worker):
    with LoopbackReceiver() as receiver:
        registered = webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=list(EVENT_KINDS))
        webhook_worker()
        take = shot_take_request(user=creator, shot=shot)
        take_made_ready(take.pk)
        assert wait_until(lambda: deliveries(WebhookDelivery.State.SUCCEEDED).count() == 4), list(deliveries().values())
        events = [Webhook(registered.secret).verify(request.body, request.headers) for request in receiver.received]
    assert sorted(event["type"] for event in events) == ["take.evaluating", "take.generating", "take.queued", "take.ready"]
    ready = next(event for event in events if event["type"] == "take.ready")
    assert ready["version"] == 1 and ready["data"]["take_id"] == str(take.public_id)
    assert ready["data"]["credits_charged"] == take.price_credits
    assert {request.headers["webhook-id"] for request in receiver.received} == set(
        OutboxEvent.objects.values_list("payload__id", flat=True))
    body = b"".join(request.body for request in receiver.received).decode()
    assert registered.secret not in body and "whsec_" not in body


def test_nothing_is_written_for_a_creator_without_endpoints_or_in_a_rolled_back_transaction(creator):
    assert outbound_event_record(owner_id=creator.pk, kind="credits.low", data={}) is None
    webhook_endpoint_create(owner=creator, url="http://127.0.0.1:9/hook", event_kinds=["credits.low"])
    with pytest.raises(RuntimeError), transaction.atomic():
        outbound_event_record(owner_id=creator.pk, kind="credits.low", data={})
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert outbound_event_record(owner_id=creator.pk, kind="take.ready", data={}) is None  # not subscribed


def test_a_receiver_failing_twice_is_retried_with_retry_after_until_it_succeeds(creator, webhook_worker):
    def fail_twice(count, request):
        return Answer(503, {"retry-after": "1"}, b"busy") if count < 2 else Answer(200)

    with LoopbackReceiver(fail_twice) as receiver:
        webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["credits.low"])
        webhook_worker()
        outbound_event_record(owner_id=creator.pk, kind="credits.low", data={"available_credits": 12})
        assert wait_until(lambda: deliveries(WebhookDelivery.State.SUCCEEDED).exists())
    delivery = deliveries().get()
    assert delivery.attempts == 3 and len(set(receiver.message_ids())) == 1
    log = list(delivery.attempt_log.order_by("number").values_list("number", "status_code", "response_excerpt"))
    assert log == [(1, 503, "busy"), (2, 503, "busy"), (3, 200, "ok")]
    gaps = [later.at - earlier.at for earlier, later in pairwise(receiver.received)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # Retry-After: 1 honoured
    assert WebhookEndpoint.objects.get().failing_since is None


def test_a_receiver_that_keeps_failing_is_dead_lettered_at_the_end_of_the_window_and_can_be_resent(
        creator, webhook_worker, settings):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 5
    answers = {"status": 500}
    with LoopbackReceiver(lambda n, r: Answer(answers["status"], body=b"broken")) as receiver:
        webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["purchase.completed"])
        webhook_worker()
        outbound_event_record(owner_id=creator.pk, kind="purchase.completed", data={"purchase_id": 1})
        assert wait_until(lambda: deliveries(WebhookDelivery.State.DEAD).exists())
        delivery = deliveries().get()
        assert delivery.attempts >= 3 and delivery.attempts == len(receiver.received)
        assert "Gave up after" in delivery.last_error
        assert WebhookEndpoint.objects.get().failing_since is not None

        answers["status"] = 200
        webhook_delivery_resend(delivery=delivery)
        assert wait_until(lambda: deliveries(WebhookDelivery.State.SUCCEEDED).exists())
    assert len(set(receiver.message_ids())) == 1


def test_a_refusing_4xx_is_dead_lettered_at_once(creator, webhook_worker):
    with LoopbackReceiver(lambda n, r: Answer(401, body=b"who are you")) as receiver:
        webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["credits.low"])
        webhook_worker()
        outbound_event_record(owner_id=creator.pk, kind="credits.low", data={})
        assert wait_until(lambda: deliveries(WebhookDelivery.State.DEAD).exists())
    assert deliveries().get().attempts == 1 and len(receiver.received) == 1


def test_an_endpoint_failing_for_days_is_disabled_and_its_creator_told(creator, webhook_worker, settings, tmp_path):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 1  # one attempt each
    creator.email = "ada@example.com"
    creator.save()
    mail = tmp_path / "mail"
    with LoopbackReceiver(lambda n, r: Answer(502)) as receiver:
        registered = webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["credits.low"])
        WebhookEndpoint.objects.filter(pk=registered.endpoint.pk).update(
            failing_since=timezone.now() - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS + 60))
        webhook_worker(EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(mail))
        outbound_event_record(owner_id=creator.pk, kind="credits.low", data={})
        assert wait_until(lambda: not WebhookEndpoint.objects.get().enabled)
    endpoint = WebhookEndpoint.objects.get()
    assert "every delivery failed since" in endpoint.disabled_reason
    assert outbound_event_record(owner_id=creator.pk, kind="credits.low", data={}) is None  # no longer sent to
    assert wait_until(lambda: mail.exists() and any(mail.iterdir()))
    letter = next(mail.iterdir()).read_text()
    assert "To: ada@example.com" in letter and receiver.url in letter and "/account/webhooks/" in letter


def test_a_rotated_secret_signs_beside_the_new_one_during_the_overlap(creator, webhook_worker):
    with LoopbackReceiver() as receiver:
        first = webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["credits.low"])
        second = webhook_endpoint_secret_rotate(endpoint=first.endpoint)
        webhook_worker()
        outbound_event_record(owner_id=creator.pk, kind="credits.low", data={})
        assert wait_until(lambda: len(receiver.received) == 1)
    request = receiver.received[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(first.secret).verify(request.body, request.headers)
    Webhook(second.secret).verify(request.body, request.headers)


def test_every_event_is_delivered_under_a_worker_kill_and_repeats_carry_the_same_id(creator, webhook_worker):
    """At least once: a killed worker's deliveries are sent again once their lease runs out; the
    webhook-id lets the receiver drop the repeats, leaving exactly one per event."""
    with LoopbackReceiver(lambda n, r: Answer(delay=0.3)) as receiver:
        webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["credits.low"])
        fast_lease = {"WEBHOOK_TIMEOUT_SECONDS": "2", "WEBHOOK_LEASE_GRACE_SECONDS": "1"}
        doomed = webhook_worker(name="doomed", **fast_lease)
        for number in range(20):
            outbound_event_record(owner_id=creator.pk, kind="credits.low", data={"n": number})
        assert wait_until(lambda: len(receiver.received) >= 3)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
        webhook_worker(name="survivor", **fast_lease)

        def all_delivered():
            webhook_deliveries_dispatch()  # what beat does every few seconds
            return deliveries(WebhookDelivery.State.SUCCEEDED).count() == 20

        assert wait_until(all_delivered, timeout=120, interval=1)
    event_ids = set(OutboxEvent.objects.values_list("payload__id", flat=True))
    assert set(receiver.message_ids()) == event_ids and len(event_ids) == 20
