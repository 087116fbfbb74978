"""Our own render service, run like a vendor runs jobs: submit, status, render, notify, fetch — and
kept alive: adopted on a resubmission, restarted when its renderer dies, rebuilt when Redis forgets."""

import json
import time
import uuid

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from providers.base import GenerationRequest, JobState, ProviderError
from providers.health import health_redis
from providers.local import renders
from providers.registry import adapter_for
from studio.config.celery import app


@pytest.fixture
def notify_queue():
    """A queue of this test's own, where the render service's notify task lands."""
    name = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-notify-{uuid.uuid4().hex[:8]}"
    yield name
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(name)


def request_for(notify_queue: str, **overrides) -> GenerationRequest:
    fields = {"model_id": "animatic", "prompt": "A lighthouse at dusk", "negative_prompt": "", "duration_seconds": 1,
              "aspect_ratio": "1:1", "idempotency_key": f"take-{uuid.uuid4()}-1", "seed": 3, "camera": "static",
              "title": "Lighthouse",
              "notify_task": {"name": "jobs.take_poll", "args": [42], "kwargs": {"urgent": True}, "queue": notify_queue}}
    return GenerationRequest(**{**fields, **overrides})


def queued_tasks(queue: str) -> list[dict]:
    with app.connection_for_write() as connection:
        raw = connection.default_channel.client.lrange(queue, 0, -1)
    return [json.loads(message) for message in raw]


def test_a_job_is_queued_rendered_announced_and_fetched(notify_queue, settings, tmp_path):
    adapter = adapter_for("local_animatic")
    submitted = adapter.submit(request_for(notify_queue))
    assert submitted.state == JobState.QUEUED and submitted.poll_after_seconds == renders.POLL_SECONDS
    assert adapter.status(submitted.job_id).state == JobState.QUEUED

    renders.render_run(job_id=submitted.job_id)  # what the render worker does with its task

    done = adapter.status(submitted.job_id)
    assert (done.state, done.progress) == (JobState.SUCCEEDED, 100)
    (announced,) = queued_tasks(notify_queue)
    assert announced["headers"]["task"] == "jobs.take_poll" and announced["headers"]["argsrepr"] == "[42]"
    video = adapter.fetch_output(done, tmp_path / "take.mp4", max_bytes=50_000_000)
    assert video.stat().st_size > 1000
    wall, cpu = renders.render_seconds(submitted.job_id)
    assert 0 < cpu and 0 < wall


def test_the_same_attempt_submitted_again_adopts_its_job(notify_queue):
    adapter = adapter_for("local_animatic")
    request = request_for(notify_queue)
    first = adapter.submit(request)
    again = adapter.submit(request)  # the worker died after our submit, before its caller saved the id
    assert again.job_id == first.job_id
    renders.render_run(job_id=first.job_id)
    renders.render_run(job_id=first.job_id)  # a duplicate render task does nothing
    assert len(queued_tasks(notify_queue)) == 1
    assert adapter.submit(request).state == JobState.SUCCEEDED


def test_a_renderer_that_went_quiet_is_replaced_then_the_job_fails(notify_queue, settings):
    adapter = adapter_for("local_animatic")
    job_id = adapter.submit(request_for(notify_queue)).job_id
    for restart in range(1, renders.RESTARTS_MAX + 1):
        renders._state_write(job_id, state=JobState.RUNNING, heartbeat=time.time() - 60)  # its renderer died
        assert adapter.status(job_id).state == JobState.QUEUED  # queued again for another renderer
        assert renders._state_read(job_id)["restarts"] == str(restart)
    renders._state_write(job_id, state=JobState.RUNNING, heartbeat=time.time() - 60)
    failed = adapter.status(job_id)
    assert failed.state == JobState.FAILED and isinstance(failed.error, ProviderError)
    assert f"stopped {renders.RESTARTS_MAX + 1} times" in failed.error.reason


def test_a_job_redis_forgot_is_rebuilt_from_what_storage_holds(notify_queue):
    adapter = adapter_for("local_animatic")
    queued = adapter.submit(request_for(notify_queue)).job_id
    rendered = adapter.submit(request_for(notify_queue)).job_id
    renders.render_run(job_id=rendered)
    health_redis().delete(renders._state_key(queued), renders._state_key(rendered))  # Redis restarted empty

    assert adapter.status(queued).state == JobState.QUEUED  # its request is kept: queued again
    assert adapter.status(rendered).state == JobState.SUCCEEDED  # its video is kept
    unknown = adapter.status("0" * 32)
    assert unknown.state == JobState.FAILED and "no such job" in unknown.error.reason


def test_a_cancelled_job_stops_rendering_and_keeps_no_video(notify_queue):
    adapter = adapter_for("local_animatic")
    job_id = adapter.submit(request_for(notify_queue, duration_seconds=3)).job_id
    assert adapter.cancel(job_id) is True
    renders.render_run(job_id=job_id)
    assert adapter.status(job_id).state == JobState.CANCELLED
    assert not default_storage.exists(f"local-renders/{job_id}/video.mp4")
    assert adapter.cancel(job_id) is False  # already over


def test_a_request_the_renderer_refuses_fails_with_its_reason(notify_queue):
    adapter = adapter_for("local_animatic")
    job_id = adapter.submit(request_for(notify_queue, aspect_ratio="21:9")).job_id
    renders.render_run(job_id=job_id)
    failed = adapter.status(job_id)
    assert failed.state == JobState.FAILED and "21:9" in failed.error.reason
    assert len(queued_tasks(notify_queue)) == 1  # a failure is announced too
