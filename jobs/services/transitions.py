"""The only code that changes a take's state."""

from django.db import transaction
from django.utils import timezone

from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IllegalTransition
from jobs.models import Generation, GenerationEvent
from jobs.states import TERMINAL_STATES, TakeState, is_allowed

# The happy path in order, so a re-run task can tell which steps are already behind a take.
HAPPY_PATH = [
    TakeState.QUEUED, TakeState.ROUTING, TakeState.SUBMITTING, TakeState.GENERATING,
    TakeState.DOWNLOADING, TakeState.EVALUATING, TakeState.READY,
]


def is_past(state: str, step: str) -> bool:
    """True when `state` is `step` or a later happy-path state."""
    return state in HAPPY_PATH and HAPPY_PATH.index(state) >= HAPPY_PATH.index(step)


@transaction.atomic
def take_transition(*, take_id: int, to_state: str, detail: str = "", **fields) -> Generation:
    """Move a take to `to_state` under a row lock. A repeat is a no-op; an illegal move raises."""
    take = Generation.objects.select_for_update().get(pk=take_id)
    if take.state == to_state:
        return take
    if not is_allowed(take.state, to_state):
        raise IllegalTransition(f"Take {take_id} cannot go from {take.state} to {to_state}.")
    now = timezone.now()
    from_state = take.state
    take.state = to_state
    take.heartbeat_at = now
    if to_state in TERMINAL_STATES:
        take.finished_at = now
    for name, value in fields.items():
        setattr(take, name, value)
    take.save(update_fields=["state", "heartbeat_at", "finished_at", "updated_at", *fields])
    GenerationEvent.objects.create(generation=take, from_state=from_state, to_state=to_state, detail=detail[:500])
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    return take


def take_progress_report(*, take_id: int, percent: int) -> None:
    """Record rendering progress; it only ever moves forward and doubles as a heartbeat."""
    percent = max(0, min(100, int(percent)))
    updated = Generation.objects.filter(pk=take_id, state=TakeState.GENERATING, progress__lt=percent).update(
        progress=percent, heartbeat_at=timezone.now()
    )
    if updated:
        group = Generation.objects.values_list("notify_group", flat=True).get(pk=take_id)
        take_changed_publish_on_commit(group=group, take_id=take_id)
