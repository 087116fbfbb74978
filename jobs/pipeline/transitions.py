"""The only code that changes a take's state, and the notes that explain a wait without changing it."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IllegalTransition, LeaseLost
from jobs.models import Take, TakeEvent
from jobs.outbound.record import take_event_record
from jobs.pipeline.leases import Lease, handover_seconds, lease_check, lease_seconds
from jobs.pipeline.timing import media_work_gathered
from jobs.states import TERMINAL_STATES, is_allowed

NOTE_MAX_LENGTH = 500


@transaction.atomic
def take_transition(*, take_id: int, to_state: str, detail: str = "", lease: Lease | None = None, **fields) -> Take:
    """Move a take to `to_state` under its row lock. A repeat is a no-op; an illegal move raises.

    A stage passes its `lease` and keeps it (and so its work) across the move; a move from
    outside any stage (a cancel, the reaper) ends whatever lease a worker held.
    """
    take = Take.objects.select_for_update().get(pk=take_id)
    if take.state == to_state:
        return take
    if not is_allowed(take.state, to_state):
        raise IllegalTransition(f"Take {take_id} cannot go from {take.state} to {to_state}.")
    if not lease_check(take, lease):
        raise LeaseLost(f"Take {take_id}'s stage was taken over by another worker.")
    now = timezone.now()
    from_state, take.state = take.state, to_state
    take.heartbeat_at = now
    take.recoveries = take.deliveries = 0
    if to_state in TERMINAL_STATES:
        take.finished_at, take.wake_at, take.lease_token, take.throttled_since = now, None, "", None
    elif lease is None:
        take.lease_token, take.wake_at = "", now + timedelta(seconds=handover_seconds())
    else:
        take.wake_at = now + timedelta(seconds=lease_seconds())
    for name, value in fields.items():
        setattr(take, name, value)
    take.stage_seconds = {**take.stage_seconds, **media_work_gathered(take.pk)}
    take.save(update_fields=["state", "heartbeat_at", "recoveries", "deliveries", "finished_at", "wake_at",
                             "lease_token", "throttled_since", "stage_seconds", "updated_at", *fields])
    TakeEvent.objects.create(take=take, from_state=from_state, to_state=to_state, detail=detail[:NOTE_MAX_LENGTH])
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    take_event_record(take=take, from_state=from_state)  # creators' endpoints: in this transaction (the outbox)
    return take


def take_note(take: Take, detail: str) -> None:
    """Tell the page (and the take's history) why a take waits or what happened, without a state change."""
    TakeEvent.objects.create(take=take, from_state=take.state, to_state=take.state, detail=detail[:NOTE_MAX_LENGTH])
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)


def take_progress_report(*, take_id: int, percent: int) -> None:
    """Record rendering progress; it only ever moves forward and doubles as a sign of life."""
    percent = max(0, min(100, int(percent)))
    updated = Take.objects.filter(pk=take_id, state="generating", progress__lt=percent).update(
        progress=percent, heartbeat_at=timezone.now()
    )
    if updated:
        group = Take.objects.values_list("notify_group", flat=True).get(pk=take_id)
        take_changed_publish_on_commit(group=group, take_id=take_id)
