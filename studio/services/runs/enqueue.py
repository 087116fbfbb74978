"""Sending a run's advance to a worker by task name (studio/tasks.py runs it; no service imports tasks)."""

import logging
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

RUN_ADVANCE_TASK = "studio.production_run_advance"


def production_run_advance_enqueue_on_commit(run_id: int) -> None:
    transaction.on_commit(partial(production_run_advance_send, run_id))


def production_run_advance_send(run_id: int) -> bool:
    try:
        current_app.send_task(RUN_ADVANCE_TASK, args=(run_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception as error:  # noqa: BLE001 (the database knows the run is running: beat advances it anyway)
        logger.warning("could not send the advance of run %s (%s); beat will advance it", run_id, error)
        return False
    return True
