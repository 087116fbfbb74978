"""Celery entry points: take ids in, one service call, no business logic here."""

from celery import shared_task


@shared_task(name="jobs.take_run", acks_late=True)
def take_run_task(take_id: int) -> None:
    from jobs.services.pipeline import take_run

    take_run(take_id=take_id)


@shared_task(name="jobs.tasks.takes_reap_stalled")
def takes_reap_stalled_task() -> int:
    from jobs.services.pipeline import takes_reap_stalled

    return takes_reap_stalled()
