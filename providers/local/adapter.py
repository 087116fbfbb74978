"""The local renderers behind the interface every vendor adapter implements.

To the pipeline, our animatic and the self-hosted open models are providers like any other:
submit queues a render on the renderer's own queue, status reports its progress and end, a
task it was given says it finished (notify_task), fetch_output hands over the file. See providers/local/renders.py.
"""

from pathlib import Path

from redis.exceptions import RedisError

from providers.base import (
    GenerationRequest,
    JobStatus,
    TransientProviderError,
    VideoAdapter,
)
from providers.local import renders


class LocalRenderAdapter(VideoAdapter):
    deduplicates_submissions = True  # job ids come from the attempt's key
    supports_cancel = True
    notifies_by_task = True

    def __init__(self, *, family: str, queue: str):
        self.family = family
        self.queue = queue

    def submit(self, request: GenerationRequest) -> JobStatus:
        renderer = "animatic" if self.family == "local_animatic" else request.model_id
        with _redis_trouble_is_transient():
            return renders.render_submit(request, renderer=renderer, queue=self.queue)

    def status(self, job_id: str) -> JobStatus:
        with _redis_trouble_is_transient():
            return renders.render_status(job_id)

    def cancel(self, job_id: str) -> bool:
        with _redis_trouble_is_transient():
            return renders.render_cancel(job_id)

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        return renders.render_output_fetch(status.job_id, destination, max_bytes=max_bytes)


class _redis_trouble_is_transient:
    """The render service keeps its job states in Redis: while Redis is away, try again later."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, RedisError):
            raise TransientProviderError(f"The local renderer is unreachable for a moment ({error}).") from error
        return False
