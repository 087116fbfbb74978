"""What domain services call, inside their own transaction, to tell creators' endpoints.

The event and one delivery per subscribed endpoint are written with the change (the outbox), so a
rollback takes them back and a commit cannot lose them; sending waits for the commit. A creator
with no endpoint for the kind costs one indexed query and writes nothing.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from jobs.outbound.enqueue import deliveries_send_on_commit
from jobs.outbound.kinds import EVENT_KINDS, PAYLOAD_VERSION, take_kind
from jobs.outbound.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from jobs.outbound.schedule import retry_window_end


def outbound_event_record(*, owner_id: int, kind: str, data: dict | Callable[[], dict]) -> OutboxEvent | None:
    """Record `kind` with `data` (ids and figures only: it is sent as is) for the owner's endpoints.

    `data` may be a function, called only when an endpoint hears the kind: a payload that costs a
    query costs nothing for creators without endpoints.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"Unknown outbound event kind {kind!r}; add it to jobs/outbound/kinds.py.")
    endpoint_ids = [pk for pk, kinds in WebhookEndpoint.objects.filter(owner_id=owner_id, enabled=True)
                    .values_list("pk", "event_kinds") if kind in kinds]
    if not endpoint_ids:
        return None
    if callable(data):
        data = data()
    with transaction.atomic():
        now = timezone.now()
        event = OutboxEvent(owner_id=owner_id, kind=kind)
        event.payload = {"type": kind, "version": PAYLOAD_VERSION, "id": event.message_id,
                         "timestamp": now.isoformat(), "data": data}
        event.save()
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(event=event, endpoint_id=endpoint_id, next_attempt_at=now, give_up_at=retry_window_end(now))
            for endpoint_id in endpoint_ids
        )
        deliveries_send_on_commit([delivery.pk for delivery in deliveries])
    return event


def take_event_record(*, take, from_state: str) -> None:
    """A take entered a state creators hear about (called by jobs.pipeline.transitions, under its lock)."""
    kind = take_kind(take.state)
    if kind is None:
        return
    outbound_event_record(owner_id=take.owner_id, kind=kind, data={
        "take_id": str(take.public_id), "shot_id": take.shot_id, "state": take.state, "previous_state": from_state,
        "tier": take.tier, "credits_charged": take.price_credits if take.state == "ready" else 0,
        "failure_reason": take.failure_reason if take.state == "failed" else "",
    })


def billing_event_record(*, user_id: int, kind: str, data: dict) -> None:
    """billing imports no sibling app: it reaches this through settings.BILLING_EVENT_RECORDER."""
    outbound_event_record(owner_id=user_id, kind=kind, data=data)
