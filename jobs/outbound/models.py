"""Endpoints, the outbox, and one delivery row per (event, endpoint) with its attempts."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.outbound.sealing import SealedSecretField


class WebhookEndpoint(models.Model):
    """A creator's URL and the event kinds it hears. Its signing secret is shown once, at creation
    or rotation, and stored sealed; a rotated-out secret keeps signing beside the new one until
    `previous_secret_until`."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_kinds = models.JSONField(default=list, help_text="Kinds from jobs/outbound/kinds.py")
    secret = SealedSecretField(editable=False, help_text="Sealed at rest (jobs/outbound/sealing.py)")
    previous_secret = SealedSecretField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True,
                                         help_text="First failure of the current run of failures; cleared by a success")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "enabled"])]

    def __str__(self) -> str:
        return self.url


class OutboxEvent(models.Model):
    """A domain event, written in the transaction that made the change; its id is the
    `webhook-id` every delivery of it carries, so receivers can drop repeats."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outbox_events")
    kind = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The body sent, ids and a version only: never secrets or signed URLs")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"

    @property
    def message_id(self) -> str:
        return f"msg_{self.public_id.hex}"


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        DEAD = "dead", "Dead-lettered"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    give_up_at = models.DateTimeField(help_text="Retries stop (dead-letter) after this; a resend starts a new window")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds it while sending")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="outbound_one_delivery_per_event_endpoint"),
            models.CheckConstraint(condition=Q(state__in=["pending", "sending", "succeeded", "dead"]),
                                   name="outbound_delivery_state_valid"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event.kind} → {self.endpoint.url}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, kept for the delivery log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="outbound_attempt_number_unique")]
