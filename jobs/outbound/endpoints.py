"""Creators' endpoints: register, change, rotate the secret, remove; resend a delivery."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from jobs.outbound.enqueue import deliveries_send_on_commit
from jobs.outbound.exceptions import OutboundError
from jobs.outbound.kinds import EVENT_KINDS
from jobs.outbound.models import WebhookDelivery, WebhookEndpoint
from jobs.outbound.policy import webhook_url_check
from jobs.outbound.schedule import retry_window_end
from jobs.outbound.signing import secret_new

MAX_ENDPOINTS_PER_CREATOR = 20


@dataclass(frozen=True)
class EndpointWithSecret:
    """The only time a secret leaves the server: right after creation or rotation."""

    endpoint: WebhookEndpoint
    secret: str


def endpoint_get_for_user(*, user, endpoint_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(public_id=endpoint_id, owner_id=user.pk).first() if user.is_authenticated else None
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def delivery_get_for_user(*, user, delivery_id: int) -> WebhookDelivery:
    delivery = (WebhookDelivery.objects.select_related("event", "endpoint")
                .filter(pk=delivery_id, endpoint__owner_id=user.pk).first() if user.is_authenticated else None)
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def _kinds_clean(event_kinds: list[str]) -> list[str]:
    unknown = sorted(set(event_kinds) - set(EVENT_KINDS))
    if unknown:
        raise OutboundError(f"Unknown event kinds: {', '.join(unknown)}.")
    if not event_kinds:
        raise OutboundError("Pick at least one event.")
    return [kind for kind in EVENT_KINDS if kind in event_kinds]


@transaction.atomic
def webhook_endpoint_create(*, owner, url: str, event_kinds: list[str], description: str = "") -> EndpointWithSecret:
    webhook_url_check(url)
    kinds = _kinds_clean(event_kinds)
    if WebhookEndpoint.objects.filter(owner=owner).count() >= MAX_ENDPOINTS_PER_CREATOR:
        raise OutboundError(f"A creator may register at most {MAX_ENDPOINTS_PER_CREATOR} endpoints.")
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(owner=owner, url=url, event_kinds=kinds, description=description[:200],
                                              secret=secret)
    return EndpointWithSecret(endpoint, secret)


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, url: str | None = None, event_kinds: list[str] | None = None,
                            description: str | None = None, enabled: bool | None = None) -> WebhookEndpoint:
    if url is not None and url != endpoint.url:
        webhook_url_check(url)
        endpoint.url = url
    if event_kinds is not None:
        endpoint.event_kinds = _kinds_clean(event_kinds)
    if description is not None:
        endpoint.description = description[:200]
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:  # a fresh start: the old failures no longer count towards disabling it
            endpoint.disabled_reason, endpoint.failing_since = "", None
        else:
            endpoint.disabled_reason = "Disabled by its owner."
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """A new secret signs from now on; the old one signs beside it for WEBHOOK_SECRET_OVERLAP_SECONDS,
    so receivers can switch without dropping a message."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = secret_new()
    endpoint.previous_secret, endpoint.secret = endpoint.secret, secret
    endpoint.previous_secret_until = timezone.now() + timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_SECONDS)
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    return EndpointWithSecret(endpoint, secret)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now with a new retry window; the same webhook-id, so a receiver that
    already has it can tell. A delivery being sent right now is left alone."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state == WebhookDelivery.State.SENDING:
        raise OutboundError("This delivery is being sent right now.")
    now = timezone.now()
    delivery.state, delivery.next_attempt_at, delivery.give_up_at = WebhookDelivery.State.PENDING, now, retry_window_end(now)
    delivery.save(update_fields=["state", "next_attempt_at", "give_up_at", "updated_at"])
    deliveries_send_on_commit([delivery.pk])
    return delivery


def webhook_secrets_reseal() -> int:
    """Seal every stored endpoint secret under the current SECRET_KEY, after a rotation put the old
    key in SECRET_KEY_FALLBACKS (the field opens with any key and seals with the first); the count."""
    resealed = 0
    for endpoint_id in WebhookEndpoint.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
            if endpoint is not None:
                endpoint.save(update_fields=["secret", "previous_secret"])
                resealed += 1
    return resealed
