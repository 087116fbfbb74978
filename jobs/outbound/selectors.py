"""Reads for the delivery log."""

from django.db.models import Prefetch, QuerySet

from jobs.outbound.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def endpoints_for_user(*, user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner_id=user.pk)


def deliveries_for_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return (WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
            .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-number"))))
