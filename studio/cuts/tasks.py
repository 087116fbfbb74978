"""Celery entry point of the cut: a render id in, one service call."""

from celery import shared_task

from studio.cuts.rendering import RENDER_TASK, cut_render_run


@shared_task(name=RENDER_TASK, acks_late=True, soft_time_limit=1800, time_limit=1900)
def cut_render_task(render_id: int) -> None:
    cut_render_run(render_id=render_id)
