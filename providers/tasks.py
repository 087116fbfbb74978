"""Celery entry points of the providers app: the local render service's workers."""

from celery import shared_task

from providers.local.renders import RENDER_TASK, local_renders_sweep, render_run


@shared_task(name=RENDER_TASK, acks_late=True, soft_time_limit=3300, time_limit=3600)
def local_render_task(job_id: str) -> None:
    """Render one local job (animatic or a self-hosted model); a repeat does nothing."""
    render_run(job_id=job_id)


@shared_task(name="providers.local_renders_sweep", soft_time_limit=600, time_limit=660)
def local_renders_sweep_task() -> int:
    """Delete finished local renders' files a day on: their takes keep copies of their own."""
    return local_renders_sweep(older_than_seconds=24 * 3600)
