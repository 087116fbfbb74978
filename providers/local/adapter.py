"""The local renderers behind the interface every vendor adapter implements.

To the pipeline, our animatic and the self-hosted open models are providers like any other:
submit queues a render on the renderer's own queue, status reports its progress and end, a
callback says it finished, fetch_output hands over the file. See providers/local/renders.py.
"""

import json
from pathlib import Path

from redis.exceptions import RedisError

from providers.base import (
    GenerationRequest,
    JobState,
    JobStatus,
    TransientProviderError,
    VideoAdapter,
    WebhookEvent,
    WebhookRejected,
)
from providers.local import renders


class LocalRenderAdapter(VideoAdapter):
    deduplicates_submissions = True  # job ids come from the attempt's key
    supports_cancel = True
    supports_callbacks = True

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

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Our renderer's own callback; the per-take token in its URL was checked before this."""
        payload = json.loads(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("job_id"), str):
            raise WebhookRejected("a render callback names its job")
        state = payload.get("state")
        if state not in JobState.TERMINAL:
            raise WebhookRejected(f"unknown render state {state!r}")
        return WebhookEvent(event_id=f"{payload['job_id']}:{state}", job_id=payload["job_id"],
                            status=JobStatus(job_id=payload["job_id"], state=state, raw_status=state))

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
