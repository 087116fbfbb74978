"""The one module that knows the pipeline's Celery task names and queues.

Stages and services ask for work "after commit"; nothing else sends tasks, and no stage imports
jobs.tasks. A send that fails (the broker is down) is logged and otherwise ignored: the take's
`wake_at` is committed already, so recovery sends the stage again once the broker is back.
"""

import logging
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

from jobs.states import Stage

logger = logging.getLogger(__name__)

TASK_FOR_STAGE = {
    Stage.SUBMIT: "jobs.take_submit",
    Stage.POLL: "jobs.take_poll",
    Stage.DOWNLOAD: "jobs.take_download",
    Stage.EVALUATE: "jobs.take_evaluate",
}
TAKE_EXPORT_TASK = "jobs.take_export"


def stage_queue(stage: str) -> str:
    """Evaluations have a queue (and workers) of their own, so a slow one never holds up submissions."""
    return settings.EVALUATION_QUEUE if stage == Stage.EVALUATE else settings.CELERY_TASK_DEFAULT_QUEUE


def take_stage_enqueue_on_commit(take_id: int, stage: str, *, countdown: float = 0.0, **options) -> None:
    transaction.on_commit(partial(take_stage_send, take_id, stage, countdown=countdown, **options))


def take_stage_send(take_id: int, stage: str, *, countdown: float = 0.0, **options) -> bool:
    """Send a take's stage task now; False when the broker could not be reached."""
    return _send(TASK_FOR_STAGE[stage], take_id, queue=stage_queue(stage), countdown=countdown, **options)


def take_poll_now_task(take_id: int) -> dict:
    """The task our own render service sends when a take's job ends: an urgent poll (plain data,
    stored with the job, so the service needs no knowledge of jobs)."""
    return {"name": TASK_FOR_STAGE[Stage.POLL], "args": [take_id], "kwargs": {"urgent": True},
            "queue": stage_queue(Stage.POLL)}


def take_export_enqueue_on_commit(take_id: int) -> None:
    transaction.on_commit(partial(_send, TAKE_EXPORT_TASK, take_id, queue=settings.CELERY_TASK_DEFAULT_QUEUE))


def _send(task_name: str, take_id: int, *, queue: str, countdown: float = 0.0, **options) -> bool:
    try:
        current_app.send_task(task_name, args=(take_id,), kwargs=options or None, queue=queue, countdown=countdown or None)
    except Exception as error:  # broken broker of any kind: the database still knows what is due
        logger.warning("could not send %s for take %s (%s); recovery will send it again", task_name, take_id, error)
        return False
    return True
