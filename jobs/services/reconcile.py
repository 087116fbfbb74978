"""Re-drive takes whose next step was lost (a worker died, a message vanished).

Every step is idempotent, so asking again is always safe: a take waiting at a provider gets a
fresh poll, a take that never left the queue is enqueued again. Takes that stay silent far
longer than that are failed by takes_reap_stalled.
"""

from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from jobs.models import Generation
from jobs.services.requests import take_queue_for
from jobs.states import TakeState

QUIET_SECONDS = 90  # longer than any poll interval (30 s) plus a slow submit


def takes_reconcile(*, now=None) -> dict[str, int]:
    cutoff = (now or timezone.now()) - timedelta(seconds=QUIET_SECONDS)
    quiet = Generation.objects.filter(heartbeat_at__lt=cutoff).select_related("provider_model")
    polled = requeued = 0
    for take in quiet.filter(state=TakeState.GENERATING).exclude(provider_model__api_family__in=["local_animatic", "self_hosted"]):
        transaction.on_commit(partial(_poll, take.pk))
        polled += 1
    for take in quiet.filter(state__in=[TakeState.QUEUED, TakeState.ROUTING, TakeState.SUBMITTING]):
        transaction.on_commit(partial(_run, take.pk, take_queue_for(take.provider_model.api_family)))
        requeued += 1
    return {"polled": polled, "requeued": requeued}


def _poll(take_id: int) -> None:
    from jobs.tasks import take_poll_task

    take_poll_task.delay(take_id)


def _run(take_id: int, queue: str) -> None:
    from jobs.tasks import take_run_task

    take_run_task.apply_async((take_id,), queue=queue)
