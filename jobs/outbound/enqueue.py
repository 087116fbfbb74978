"""The one place that sends outbound tasks, on the webhooks queue, so a slow endpoint never
holds a pipeline worker. A failed send is logged: the dispatcher on beat sends due deliveries again."""

import logging
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

DELIVER_TASK = "outbound.webhook_deliver"


def deliveries_send_on_commit(delivery_ids: list[int]) -> None:
    if delivery_ids:
        transaction.on_commit(partial(deliveries_send, delivery_ids))


def deliveries_send(delivery_ids: list[int], *, countdown: float = 0.0) -> None:
    for delivery_id in delivery_ids:
        try:
            current_app.send_task(DELIVER_TASK, args=[delivery_id], queue=settings.WEBHOOK_QUEUE, countdown=countdown)
        except Exception as error:  # broker away: the dispatcher finds it due and sends it again
            logger.warning("webhook delivery %s not sent to the queue: %s", delivery_id, error)
