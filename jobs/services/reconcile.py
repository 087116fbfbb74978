"""Re-drive takes whose next step was lost (a worker died, a message vanished).

Every step is idempotent, so asking again is always safe: a take waiting at a provider gets a
fresh poll, a take that never left the queue is enqueued again, and a take left evaluating gets
its evaluation queued again. Takes that stay silent far longer than that are failed by
takes_reap_stalled.
"""

from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from jobs.events import take_changed_publish_on_commit
from jobs.models import Generation, GenerationEvent
from jobs.services.pipeline import take_evaluation_enqueue_on_commit
from jobs.services.requests import take_queue_for
from jobs.states import TakeState

QUIET_SECONDS = 90  # longer than any poll interval (30 s) plus a slow submit
# An evaluation waiting its turn on a busy queue is not lost: each time it is queued again its
# heartbeat is renewed, so the reaper leaves it alone, up to EVALUATION_REQUEUES times.
EVALUATION_QUIET_SECONDS = 180
EVALUATION_REQUEUES = 10


def takes_reconcile(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    quiet = Generation.objects.filter(heartbeat_at__lt=now - timedelta(seconds=QUIET_SECONDS)).select_related("provider_model")
    polled = requeued = 0
    for take in quiet.filter(state=TakeState.GENERATING).exclude(provider_model__api_family__in=["local_animatic", "self_hosted"]):
        transaction.on_commit(partial(_poll, take.pk))
        polled += 1
    for take in quiet.filter(state__in=[TakeState.QUEUED, TakeState.ROUTING, TakeState.SUBMITTING]):
        transaction.on_commit(partial(_run, take.pk, take_queue_for(take.provider_model.api_family)))
        requeued += 1
    requeued += _evaluations_requeue(now=now)
    return {"polled": polled, "requeued": requeued}


def _evaluations_requeue(*, now) -> int:
    """Queue the evaluation of takes evaluating for a while again; a repeat is harmless."""
    quiet = Generation.objects.filter(state=TakeState.EVALUATING,
                                      heartbeat_at__lt=now - timedelta(seconds=EVALUATION_QUIET_SECONDS))
    requeued = 0
    for take in quiet:
        times = take.events.filter(from_state=TakeState.EVALUATING, to_state=TakeState.EVALUATING).count()
        if times < EVALUATION_REQUEUES:  # past that, its evaluation keeps dying: the reaper fails it
            _evaluation_requeue(take, now=now, times=times + 1)
            requeued += 1
    return requeued


@transaction.atomic
def _evaluation_requeue(take: Generation, *, now, times: int) -> None:
    Generation.objects.filter(pk=take.pk).update(heartbeat_at=now)
    GenerationEvent.objects.create(generation=take, from_state=take.state, to_state=take.state,
                                   detail=f"evaluation queued again ({times} of {EVALUATION_REQUEUES})")
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    take_evaluation_enqueue_on_commit(take_id=take.pk)


def _poll(take_id: int) -> None:
    from jobs.tasks import take_poll_task

    take_poll_task.delay(take_id)


def _run(take_id: int, queue: str) -> None:
    from jobs.tasks import take_run_task

    take_run_task.apply_async((take_id,), queue=queue)
