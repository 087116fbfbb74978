"""Media work per stage (render, download, store, evaluate, previews), in wall and CPU seconds.

Kept on the take (`stage_seconds`) so the admin and the benchmark can tell the pipeline's own
overhead from the work on the video itself. Timings are gathered in memory while a stage works and
written with the stage's next state change (transitions.take_transition), or when the stage gives
its lease back: a write per timing would itself be overhead, and the timings of a take are in the
database by the time it is seen ready.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from jobs.models import Take

_gathered = threading.local()


def _pending() -> dict[int, dict[str, dict[str, float]]]:
    if not hasattr(_gathered, "by_take"):
        _gathered.by_take = {}
    return _gathered.by_take


@contextmanager
def media_work_timed(take_id: int, stage: str) -> Iterator[None]:
    started_wall, started_cpu = time.perf_counter(), time.thread_time()
    yield
    _pending().setdefault(take_id, {})[stage] = {"wall": round(time.perf_counter() - started_wall, 4),
                                                  "cpu": round(time.thread_time() - started_cpu, 4)}


def media_work_gathered(take_id: int) -> dict[str, dict[str, float]]:
    """Take the timings this thread gathered for the take and not yet written (a transition writes them)."""
    return _pending().pop(take_id, None) or {}


def media_work_save(take_id: int) -> None:
    """Write the timings this thread gathered for the take (only its stage's worker writes them)."""
    gathered = media_work_gathered(take_id)
    if not gathered:
        return
    current = Take.objects.filter(pk=take_id).values_list("stage_seconds", flat=True).first()
    if current is not None:
        Take.objects.filter(pk=take_id).update(stage_seconds={**current, **gathered})
