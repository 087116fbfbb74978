"""Celery entry points: a take id in, one stage or service call, the time limits, nothing else.

Task names and queues are known to jobs/pipeline/enqueue.py, which sends them; no service
imports this module. Every stage is safe to run twice (see jobs/pipeline/leases.py), so tasks
are acknowledged late and a lost or duplicated message costs nothing but a little work.
"""

from celery import shared_task

from jobs.export import take_export
from jobs.pipeline.download import take_download
from jobs.pipeline.evaluate import take_evaluate
from jobs.pipeline.poll import take_poll
from jobs.pipeline.recover import takes_recover
from jobs.pipeline.submit import take_submit
from jobs.retention import takes_expire_drafts

# Soft limits raise inside the task (its stage fails the take cleanly); hard limits kill it, and
# recovery restarts the stage once its lease runs out.
VENDOR_CALL_LIMITS = {"soft_time_limit": 120, "time_limit": 150}


@shared_task(name="jobs.take_submit", acks_late=True, **VENDOR_CALL_LIMITS)
def take_submit_task(take_id: int) -> None:
    take_submit(take_id=take_id)


@shared_task(name="jobs.take_poll", acks_late=True, soft_time_limit=660, time_limit=720)
def take_poll_task(take_id: int, urgent: bool = False, tries: int = 0) -> None:
    """A poll that finds the job finished downloads its video too: the longer limit covers that."""
    take_poll(take_id=take_id, urgent=urgent, tries=tries)


@shared_task(name="jobs.take_download", acks_late=True, soft_time_limit=660, time_limit=720)
def take_download_task(take_id: int) -> None:
    take_download(take_id=take_id)


@shared_task(name="jobs.take_evaluate", acks_late=True, soft_time_limit=900, time_limit=960)
def take_evaluate_task(take_id: int) -> None:
    take_evaluate(take_id=take_id)


@shared_task(name="jobs.take_export", acks_late=True, soft_time_limit=600, time_limit=660)
def take_export_task(take_id: int) -> None:
    take_export(take_id=take_id)


@shared_task(name="jobs.takes_recover", soft_time_limit=60, time_limit=90)
def takes_recover_task() -> dict:
    return takes_recover()


@shared_task(name="jobs.takes_expire_drafts", soft_time_limit=1800, time_limit=1900)
def takes_expire_drafts_task() -> int:
    return takes_expire_drafts()
