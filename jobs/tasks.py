"""Celery entry points: take ids in, one service call, the retry policy, nothing else.

`RetryLater` from a service means "run the submit step again after N seconds": the take was
throttled, hit a transient error, or moved to its next provider.
"""

from celery import shared_task


@shared_task(bind=True, name="jobs.take_run", acks_late=True, max_retries=None)
def take_run_task(self, take_id: int) -> None:
    from jobs.services.dispatch import take_advance
    from jobs.services.remote import RetryLater

    try:
        first_poll = take_advance(take_id=take_id)
    except RetryLater as later:
        raise self.retry(countdown=later.seconds) from None
    if first_poll is not None:
        take_poll_task.apply_async((take_id,), countdown=first_poll)


@shared_task(name="jobs.take_poll", acks_late=True)
def take_poll_task(take_id: int) -> None:
    from jobs.services.remote import RetryLater, take_poll

    try:
        next_poll = take_poll(take_id=take_id)
    except RetryLater as later:
        take_run_task.apply_async((take_id,), countdown=later.seconds)
        return
    if next_poll is not None:
        take_poll_task.apply_async((take_id,), countdown=next_poll)


@shared_task(name="jobs.take_evaluate", acks_late=True)
def take_evaluate_task(take_id: int) -> None:
    """Routed to settings.EVALUATION_QUEUE; a repeat on a settled take does nothing."""
    from jobs.services.pipeline import take_evaluate

    take_evaluate(take_id=take_id)


@shared_task(name="jobs.take_export", acks_late=True)
def take_export_task(take_id: int) -> None:
    """Export an approved final with its provenance; a repeat on an exported take does nothing."""
    from jobs.services.export import take_export

    take_export(take_id=take_id)


@shared_task(name="jobs.tasks.takes_reap_stalled")
def takes_reap_stalled_task() -> int:
    from jobs.services.pipeline import takes_reap_stalled

    return takes_reap_stalled()


@shared_task(name="jobs.tasks.takes_reconcile")
def takes_reconcile_task() -> dict:
    from jobs.services.reconcile import takes_reconcile

    return takes_reconcile()


@shared_task(name="jobs.tasks.takes_expire_drafts")
def takes_expire_drafts_task() -> int:
    from jobs.retention import takes_expire_drafts

    return takes_expire_drafts()
