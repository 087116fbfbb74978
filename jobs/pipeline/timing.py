"""Media work per stage (render, download, store, evaluate, previews), in wall and CPU seconds.

Kept on the take (`stage_seconds`) so the admin and the benchmark can tell the pipeline's own
overhead from the work on the video itself.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from jobs.models import Take


@contextmanager
def media_work_timed(take_id: int, stage: str) -> Iterator[None]:
    started_wall, started_cpu = time.perf_counter(), time.thread_time()
    yield
    stage_seconds_record(take_id=take_id, stage=stage, wall=time.perf_counter() - started_wall,
                         cpu=time.thread_time() - started_cpu)


@transaction.atomic
def stage_seconds_record(*, take_id: int, stage: str, wall: float, cpu: float) -> None:
    take = Take.objects.select_for_update().only("stage_seconds").get(pk=take_id)
    take.stage_seconds = {**take.stage_seconds, stage: {"wall": round(wall, 4), "cpu": round(cpu, 4)}}
    Take.objects.filter(pk=take_id).update(stage_seconds=take.stage_seconds)
