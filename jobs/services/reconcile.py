"""Re-drive takes whose next step was lost (a worker died, a message vanished).

Every step is idempotent, so asking again is always safe: a take waiting at a provider gets a
fresh poll, a take that never left the queue is enqueued again, a take whose download died gets
its finished video fetched again, and a take left evaluating gets its evaluation queued again.
Takes that stay silent far longer than that are failed by takes_reap_stalled.
"""

from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from jobs.events import take_changed_publish_on_commit
from jobs.models import Generation, GenerationEvent
from jobs.services.pipeline import take_evaluation_enqueue_on_commit
from jobs.services.remote import DOWNLOAD_CLAIM_SECONDS
from jobs.services.requests import take_queue_for
from jobs.states import TakeState
from providers.registry import LOCAL_FAMILIES

QUIET_SECONDS = 90  # longer than any poll interval (30 s) plus a slow submit
# An evaluation waiting its turn on a busy queue is not lost: each time it is queued again its
# heartbeat is renewed, so the reaper leaves it alone, up to EVALUATION_REQUEUES times.
EVALUATION_QUIET_SECONDS = 180
EVALUATION_REQUEUES = 10
# A download holds its claim while it may still be running; past that its worker is gone.
DOWNLOAD_QUIET_SECONDS = DOWNLOAD_CLAIM_SECONDS + 30
DOWNLOAD_RESUMES = 3


def takes_reconcile(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    quiet = Generation.objects.filter(heartbeat_at__lt=now - timedelta(seconds=QUIET_SECONDS)).select_related("provider_model")
    polled = requeued = 0
    for take in quiet.filter(state=TakeState.GENERATING).exclude(provider_model__api_family__in=LOCAL_FAMILIES):
        transaction.on_commit(partial(_poll, take.pk))
        polled += 1
    for take in quiet.filter(state__in=[TakeState.QUEUED, TakeState.ROUTING, TakeState.SUBMITTING]):
        transaction.on_commit(partial(_run, take.pk, take_queue_for(take.provider_model.api_family)))
        requeued += 1
    downloads = Generation.objects.filter(state=TakeState.DOWNLOADING).exclude(provider_model__api_family__in=LOCAL_FAMILIES)
    polled += _quiet_takes_restart(downloads, now=now, quiet_seconds=DOWNLOAD_QUIET_SECONDS, limit=DOWNLOAD_RESUMES,
                                   what="download started again", restart=lambda take: transaction.on_commit(partial(_poll, take.pk)))
    evaluations = Generation.objects.filter(state=TakeState.EVALUATING)
    requeued += _quiet_takes_restart(evaluations, now=now, quiet_seconds=EVALUATION_QUIET_SECONDS, limit=EVALUATION_REQUEUES,
                                     what="evaluation queued again",
                                     restart=lambda take: take_evaluation_enqueue_on_commit(take_id=take.pk))
    return {"polled": polled, "requeued": requeued}


def _quiet_takes_restart(takes, *, now, quiet_seconds: int, limit: int, what: str, restart) -> int:
    """Start the step of takes quiet in it for `quiet_seconds` again, at most `limit` times per take;
    past that the step keeps dying, and the reaper fails the take. A repeat is harmless."""
    restarted = 0
    for take in takes.filter(heartbeat_at__lt=now - timedelta(seconds=quiet_seconds)):
        times = take.events.filter(from_state=take.state, to_state=take.state, detail__startswith=what).count()
        if times < limit:
            _quiet_take_restart(take, now=now, detail=f"{what} ({times + 1} of {limit})", restart=restart)
            restarted += 1
    return restarted


@transaction.atomic
def _quiet_take_restart(take: Generation, *, now, detail: str, restart) -> None:
    # A fresh heartbeat keeps the reaper away while the restarted step runs.
    Generation.objects.filter(pk=take.pk).update(heartbeat_at=now)
    GenerationEvent.objects.create(generation=take, from_state=take.state, to_state=take.state, detail=detail)
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    restart(take)


def _poll(take_id: int) -> None:
    from jobs.tasks import take_poll_task

    take_poll_task.delay(take_id)


def _run(take_id: int, queue: str) -> None:
    from jobs.tasks import take_run_task

    take_run_task.apply_async((take_id,), queue=queue)
