"""Celery entry points of the webhooks queue: ids in, one service call."""

from celery import shared_task

from jobs.outbound.delivery import webhook_deliveries_dispatch, webhook_delivery_attempt


@shared_task(name="outbound.webhook_deliver", acks_late=True, soft_time_limit=60, time_limit=90)
def webhook_deliver_task(delivery_id: int) -> str | None:
    return webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="outbound.webhook_deliveries_dispatch", soft_time_limit=60, time_limit=90)
def webhook_deliveries_dispatch_task() -> int:
    return webhook_deliveries_dispatch()
