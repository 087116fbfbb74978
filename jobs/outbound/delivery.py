"""Delivering one (event, endpoint): claim it under its row lock, POST outside any transaction,
record the outcome; retry, dead-letter, or disable an endpoint that has failed for days.

At least once: a worker killed between the POST and the record leaves the delivery `sending` with
a lease; once the lease runs out the dispatcher sends it again with the same `webhook-id`, which
receivers use to drop the repeat.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.outbound.enqueue import deliveries_send
from jobs.outbound.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from jobs.outbound.notify import endpoint_disabled_notify
from jobs.outbound.schedule import is_retryable, next_attempt_delay, retry_after_seconds
from jobs.outbound.sending import SendOutcome, webhook_post
from jobs.outbound.signing import signed_headers

logger = logging.getLogger(__name__)
State = WebhookDelivery.State
DISPATCH_BATCH = 500


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    number: int
    url: str
    body: bytes
    headers: dict


def webhook_delivery_attempt(*, delivery_id: int) -> str | None:
    """Try one delivery if it is due; the state it was left in, or None when not ours to send now."""
    claimed = _delivery_claim(delivery_id)
    if claimed is None:
        return None
    outcome = webhook_post(url=claimed.url, body=claimed.body, headers=claimed.headers)
    return _outcome_record(claimed, outcome)


@transaction.atomic
def _delivery_claim(delivery_id: int) -> _Claimed | None:
    now = timezone.now()
    delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("event", "endpoint").filter(pk=delivery_id).filter(_due(now)).first())
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        delivery.state, delivery.last_error = State.DEAD, "The endpoint is disabled."
        delivery.save(update_fields=["state", "last_error", "updated_at"])
        return None
    delivery.state, delivery.attempts = State.SENDING, delivery.attempts + 1
    delivery.lease_until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LEASE_GRACE_SECONDS)
    delivery.save(update_fields=["state", "attempts", "lease_until", "updated_at"])
    body = json.dumps(delivery.event.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = signed_headers(message_id=delivery.event.message_id, timestamp=now, body=body,
                             secrets_in_force=_secrets_in_force(endpoint, now))
    return _Claimed(delivery.pk, delivery.attempts, endpoint.url, body, headers)


def _due(now) -> Q:
    return Q(state=State.PENDING, next_attempt_at__lte=now) | Q(state=State.SENDING, lease_until__lt=now)


def _secrets_in_force(endpoint: WebhookEndpoint, now) -> list[str]:
    overlap = endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now
    return [endpoint.secret, endpoint.previous_secret] if overlap else [endpoint.secret]


@transaction.atomic
def _outcome_record(claimed: _Claimed, outcome: SendOutcome) -> str | None:
    delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=claimed.delivery_id)
    if delivery.state != State.SENDING or delivery.attempts != claimed.number:
        return None  # our lease ran out and another worker took it over: its record wins
    now = timezone.now()
    WebhookAttempt.objects.create(delivery=delivery, number=claimed.number, status_code=outcome.status_code,
                                  error=outcome.error[:500], response_excerpt=outcome.response_excerpt,
                                  duration_ms=outcome.duration_ms)
    delivery.last_status_code, delivery.last_error, delivery.lease_until = outcome.status_code, outcome.error[:500], None
    if outcome.succeeded:
        delivery.state, delivery.delivered_at = State.SUCCEEDED, now
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(failing_since=None)
    else:
        _failure_schedule(delivery, outcome, now)
        _endpoint_failure_note(delivery.endpoint, now)
    delivery.save(update_fields=["state", "delivered_at", "next_attempt_at", "last_status_code", "last_error",
                                 "lease_until", "updated_at"])
    logger.info("webhook delivery %s attempt %s: %s %s", delivery.pk, claimed.number, outcome.status_code or "-",
                delivery.state, extra={"delivery_id": delivery.pk, "endpoint_id": delivery.endpoint_id})
    return delivery.state


def _failure_schedule(delivery: WebhookDelivery, outcome: SendOutcome, now) -> None:
    if outcome.refused or not is_retryable(outcome.status_code):
        delivery.state = State.DEAD
        return
    delay = next_attempt_delay(attempts=delivery.attempts,
                               retry_after=retry_after_seconds(outcome.retry_after, now=now))
    next_at = now + timedelta(seconds=delay)
    if next_at > delivery.give_up_at:
        delivery.state = State.DEAD
        delivery.last_error = f"{delivery.last_error} Gave up after {delivery.attempts} attempts.".strip()[:500]
        return
    delivery.state, delivery.next_attempt_at = State.PENDING, next_at
    if delay <= settings.WEBHOOK_RETRY_COUNTDOWN_MAX_SECONDS:  # longer waits are the dispatcher's
        transaction.on_commit(partial(deliveries_send, [delivery.pk], countdown=delay))


def _endpoint_failure_note(endpoint: WebhookEndpoint, now) -> None:
    """An endpoint that has failed without a single success for WEBHOOK_DISABLE_AFTER_SECONDS is
    disabled and its creator told; re-enabling it is one click (or one API call)."""
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        return
    if endpoint.enabled and now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        reason = f"Disabled on {now:%Y-%m-%d}: every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=reason)
        transaction.on_commit(partial(endpoint_disabled_notify, endpoint_id=endpoint.pk))


def webhook_deliveries_dispatch() -> int:
    """Beat: send every due delivery (retries waiting longer than a countdown, sends lost with the
    broker, deliveries whose worker died mid-send). A duplicate send finds it claimed and does nothing."""
    due = list(WebhookDelivery.objects.filter(_due(timezone.now())).order_by("next_attempt_at")
               .values_list("pk", flat=True)[:DISPATCH_BATCH])
    deliveries_send(due)
    return len(due)
