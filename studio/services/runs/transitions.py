"""The only code that changes a run's or a run shot's state: under a row lock, with a history row,
announced to the project's open pages after commit and recorded for the creator's webhook
endpoints in the same transaction. A repeat is a no-op; an illegal move raises."""

from functools import partial

from django.db import transaction
from django.utils import timezone

from studio.exceptions import StudioError
from studio.models import ProductionRun, RunEvent, RunShot
from studio.run_states import RUN_TERMINAL, run_move_allowed, shot_move_allowed
from studio.services.runs.webhooks import run_event_record, run_shot_event_record

DETAIL_MAX_LENGTH = 500


class IllegalRunTransition(StudioError):
    pass


@transaction.atomic
def run_transition(*, run_id: int, to_state: str, detail: str = "", **fields) -> ProductionRun:
    run = ProductionRun.objects.select_for_update().get(pk=run_id)
    if run.state == to_state:
        return run
    if not run_move_allowed(run.state, to_state):
        raise IllegalRunTransition(f"A {run.state} run cannot become {to_state}.")
    from_state, run.state = run.state, to_state
    if to_state in RUN_TERMINAL:
        run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=["state", "finished_at", "updated_at", *fields])
    RunEvent.objects.create(run=run, from_state=from_state, to_state=to_state, detail=detail[:DETAIL_MAX_LENGTH])
    run_event_record(run=run, from_state=from_state)
    run_changed_publish_on_commit(run)
    return run


@transaction.atomic
def run_shot_transition(*, run_shot_id: int, to_state: str, detail: str = "", **fields) -> RunShot:
    run_shot = RunShot.objects.select_for_update().get(pk=run_shot_id)
    if run_shot.state == to_state:
        return run_shot
    if not shot_move_allowed(run_shot.state, to_state):
        raise IllegalRunTransition(f"A run's shot that is {run_shot.state} cannot become {to_state}.")
    from_state, run_shot.state = run_shot.state, to_state
    for name, value in fields.items():
        setattr(run_shot, name, value)
    run_shot.save(update_fields=["state", "updated_at", *fields])
    RunEvent.objects.create(run_id=run_shot.run_id, run_shot=run_shot, from_state=from_state, to_state=to_state,
                            detail=detail[:DETAIL_MAX_LENGTH])
    run_shot_event_record(run_shot=run_shot, from_state=from_state)
    run_changed_publish_on_commit(run_shot.run)
    return run_shot


def run_changed_publish_on_commit(run: ProductionRun) -> None:
    from studio.live import (
        run_changed_publish,  # rendering needs templates; imported late like jobs.events
    )

    transaction.on_commit(partial(run_changed_publish, run_id=run.pk, group=run.notify_group))
