"""Our own render service: the animatic and self-hosted models, run like a vendor runs its jobs.

A job is submitted (its request stored, a render task queued on the renderer's own queue), runs
on a render worker, reports progress, and ends with a video in storage. Its status lives in
Redis, its request and output in storage, so any worker can read them. The service keeps its
own jobs alive the way a vendor does: a job whose renderer stopped reporting is queued again,
a few times, then failed; a job whose status Redis lost is rebuilt from what storage holds.

Job ids come from the submitter's idempotency key, so submitting the same attempt twice (a
worker killed after our submit and before its caller saved the id) adopts the first job instead
of rendering twice.
"""

import base64
import hashlib
import json
import logging
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from redis.exceptions import LockError

from providers.base import BadRequest, GenerationRequest, JobState, JobStatus, ProviderError, RenderedVideo, RenderRequest
from providers.health import health_redis

logger = logging.getLogger(__name__)

RENDER_TASK = "providers.local_render"
STATE_TTL_SECONDS = 2 * 24 * 3600
RESTARTS_MAX = 2  # a renderer that dies three times on a job is not going to finish it
# The job's end is announced (notify_task); polls carry its progress to the card, and make sure a
# lost announcement or a dead renderer is noticed: every couple of seconds is enough for both.
POLL_SECONDS = 2.0


def render_lease_seconds() -> float:
    return float(settings.TAKE_LEASE_SECONDS)


def queued_grace_seconds() -> float:
    """A queued job's task is sent again after this long without a renderer picking it up."""
    return float(settings.TAKE_HANDOVER_SECONDS)


def render_job_id(idempotency_key: str) -> str:
    return hashlib.sha256(f"local-render:{idempotency_key}".encode()).hexdigest()[:32]


def _state_key(job_id: str) -> str:
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:local-render:{job_id}"


def _folder(job_id: str) -> str:
    return f"local-renders/{job_id}"


@dataclass(frozen=True)
class StoredRequest:
    """What a render worker needs, stored as JSON beside the job's output."""

    renderer: str  # "animatic", or a self-hosted pipeline kind ("wan", "ltx", …)
    queue: str
    generation: dict


# --------------------------------------------------------------------------- the submitter's side


def render_submit(request: GenerationRequest, *, renderer: str, queue: str) -> JobStatus:
    job_id = render_job_id(request.idempotency_key)
    known = _state_read(job_id)
    if known or default_storage.exists(f"{_folder(job_id)}/video.mp4"):
        return render_status(job_id)  # the same attempt submitted again: adopt its job
    stored = StoredRequest(renderer=renderer, queue=queue, generation=asdict(request))
    name = f"{_folder(job_id)}/request.json"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(json.dumps(asdict(stored)).encode()))
    _state_write(job_id, state=JobState.QUEUED, progress=0, restarts=0, enqueued_at=time.time())
    _render_send(job_id, queue)
    return JobStatus(job_id=job_id, state=JobState.QUEUED, raw_status="queued", progress=0,
                     poll_after_seconds=POLL_SECONDS)


def render_status(job_id: str) -> JobStatus:
    state = _state_read(job_id)
    if not state:
        return _status_rebuilt(job_id)
    raw = state["state"]
    if raw == JobState.QUEUED and time.time() - float(state.get("enqueued_at", 0)) > queued_grace_seconds():
        _state_write(job_id, enqueued_at=time.time())  # no renderer took it: the task may be lost
        _render_send(job_id, _stored_request(job_id).queue)
    elif raw == JobState.RUNNING and time.time() - float(state.get("heartbeat", 0)) > render_lease_seconds():
        return _renderer_died(job_id, restarts=int(state.get("restarts", 0)))
    return _status_from(job_id, state)


def _status_from(job_id: str, state: dict) -> JobStatus:
    raw = state["state"]
    error = None
    if raw == JobState.FAILED:
        kind = BadRequest if state.get("error_kind") == "BadRequest" else ProviderError
        error = kind(state.get("error", "The render failed."))
    return JobStatus(job_id=job_id, state=raw, raw_status=raw, progress=int(state.get("progress", 0)),
                     output_url=f"{_folder(job_id)}/video.mp4" if raw == JobState.SUCCEEDED else None, error=error,
                     poll_after_seconds=POLL_SECONDS)


def _status_rebuilt(job_id: str) -> JobStatus:
    """Redis forgot the job (restarted): storage tells whether it finished, or lets it start over."""
    if default_storage.exists(f"{_folder(job_id)}/video.mp4"):
        _state_write(job_id, state=JobState.SUCCEEDED, progress=100)
    elif default_storage.exists(f"{_folder(job_id)}/request.json"):
        _state_write(job_id, state=JobState.QUEUED, progress=0, restarts=0, enqueued_at=time.time())
        _render_send(job_id, _stored_request(job_id).queue)
    else:
        return JobStatus(job_id=job_id, state=JobState.FAILED, raw_status="unknown",
                         error=ProviderError("The local renderer has no such job."))
    return render_status(job_id)


def _renderer_died(job_id: str, *, restarts: int) -> JobStatus:
    if restarts >= RESTARTS_MAX:
        _state_write(job_id, state=JobState.FAILED, error_kind="ProviderError",
                     error=f"The renderer stopped {restarts + 1} times while rendering this take.")
    else:
        logger.warning("renderer of %s went quiet; queueing it again", job_id)
        _state_write(job_id, state=JobState.QUEUED, restarts=restarts + 1, enqueued_at=time.time())
        _render_send(job_id, _stored_request(job_id).queue)
    return _status_from(job_id, _state_read(job_id))


def render_seconds(job_id: str) -> tuple[float, float] | None:
    """(wall, CPU) seconds the last render of the job took, once it ended."""
    state = _state_read(job_id)
    if "render_wall" not in state:
        return None
    return float(state["render_wall"]), float(state["render_cpu"])


def render_cancel(job_id: str) -> bool:
    state = _state_read(job_id)
    if not state or state["state"] in JobState.TERMINAL:
        return False
    _state_write(job_id, state=JobState.CANCELLED)
    return True


def render_output_fetch(job_id: str, destination: Path, *, max_bytes: int) -> Path:
    name = f"{_folder(job_id)}/video.mp4"
    if not default_storage.exists(name):
        raise ProviderError("The rendered video is no longer kept.")
    if default_storage.size(name) > max_bytes:
        raise ProviderError(f"The rendered video is larger than {max_bytes} bytes.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(name, "rb") as source, destination.open("wb") as sink:
        while chunk := source.read(1024 * 1024):
            sink.write(chunk)
    return destination


def local_renders_sweep(*, older_than_seconds: float) -> int:
    """Delete job folders whose files are older than that (their takes stored their own copies)."""
    try:
        folders, _ = default_storage.listdir("local-renders")
    except FileNotFoundError:
        return 0
    cutoff, swept = time.time() - older_than_seconds, 0
    for folder in folders:
        names = [f"local-renders/{folder}/{name}" for name in default_storage.listdir(f"local-renders/{folder}")[1]]
        if names and all(default_storage.get_modified_time(name).timestamp() < cutoff for name in names):
            for name in names:
                default_storage.delete(name)
            swept += 1
    return swept


# --------------------------------------------------------------------------- the render worker's side


def render_run(*, job_id: str) -> None:
    """Render one job, holding its lease; a duplicate task or a finished job does nothing."""
    lock = health_redis().lock(f"{_state_key(job_id)}:renderer", timeout=render_lease_seconds(), blocking=False,
                               thread_local=False)
    if not lock.acquire():
        return  # another renderer has it
    try:
        state = _state_read(job_id)
        if state and state["state"] in JobState.TERMINAL:
            return
        stored = _stored_request(job_id)
        _state_write(job_id, state=JobState.RUNNING, heartbeat=time.time())
        started_wall, started_cpu = time.time(), time.thread_time()
        with _heartbeat(job_id, lock):
            _render_and_store(job_id, stored)
        _state_write(job_id, render_wall=round(time.time() - started_wall, 4),
                     render_cpu=round(time.thread_time() - started_cpu, 4))
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired: whoever holds it now keeps it
    _notify(job_id)


def _render_and_store(job_id: str, stored: StoredRequest) -> None:
    try:
        with tempfile.TemporaryDirectory(prefix=f"render-{job_id[:8]}-") as workdir:
            rendered = _render(stored, Path(workdir), on_progress=_progress_reporter(job_id))
            with rendered.video_path.open("rb") as handle:
                default_storage.save(f"{_folder(job_id)}/video.mp4", File(handle))
    except RenderCancelled:
        return
    except ProviderError as error:
        _state_write(job_id, state=JobState.FAILED, error_kind=type(error).__name__, error=error.reason)
        return
    except Exception as error:
        logger.exception("local render %s crashed", job_id)
        _state_write(job_id, state=JobState.FAILED, error_kind="ProviderError", error=f"The renderer crashed: {error}")
        return
    _state_write(job_id, state=JobState.SUCCEEDED, progress=100)


class RenderCancelled(Exception):
    pass


def _progress_reporter(job_id: str):
    def on_progress(percent: int) -> None:
        state = _state_read(job_id)
        if state.get("state") == JobState.CANCELLED:
            raise RenderCancelled()
        _state_write(job_id, progress=min(int(percent), 99), heartbeat=time.time())

    return on_progress


class _heartbeat:
    """Renews the renderer's lease and heartbeat while it works, from a thread of its own."""

    def __init__(self, job_id: str, lock):
        self.job_id, self.lock, self.stop = job_id, lock, threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"render-heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self):
        self.thread.start()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=render_lease_seconds())

    def _run(self) -> None:
        while not self.stop.wait(render_lease_seconds() / 3):
            try:
                self.lock.extend(render_lease_seconds(), replace_ttl=True)
                _state_write(self.job_id, heartbeat=time.time())
            except Exception as error:  # Redis away for a moment: the next beat tries again
                logger.warning("render heartbeat for %s failed: %s", self.job_id, error)


def _render(stored: StoredRequest, workdir: Path, *, on_progress) -> RenderedVideo:
    asked = stored.generation
    request = RenderRequest(
        prompt=asked["prompt"], negative_prompt=asked["negative_prompt"], duration_seconds=asked["duration_seconds"],
        aspect_ratio=asked["aspect_ratio"], camera=asked.get("camera") or "static", seed=asked.get("seed") or 0,
        title=asked.get("title", ""), reference_images=_images_written(asked, workdir / "refs"),
    )
    if stored.renderer == "animatic":
        from providers.local.animatic import render_animatic

        return render_animatic(request, output_dir=workdir / "out", fps=settings.ANIMATIC_FPS, on_progress=on_progress)
    from providers.local.diffusers_runner import render_with_diffusers

    return render_with_diffusers(
        request, model_dir=Path(settings.SELF_HOSTED_MODEL_DIR) / stored.renderer, pipeline_kind=stored.renderer,
        output_dir=workdir / "out", num_inference_steps=settings.SELF_HOSTED_STEPS, fps=settings.SELF_HOSTED_FPS,
        on_progress=on_progress, **settings.SELF_HOSTED_FRAME_OVERRIDES,
    )


def _images_written(asked: dict, folder: Path) -> tuple[Path, ...]:
    """The start frame first, then the references, as files (they travel as data URLs)."""
    urls = [url for url in (asked.get("image_url"), *asked.get("reference_image_urls", ())) if url]
    unique = list(dict.fromkeys(urls))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, url in enumerate(unique):
        header, _, data = url.partition(",")
        if not header.startswith("data:") or ";base64" not in header:
            raise BadRequest("The local renderer takes images as data URLs.")
        path = folder / f"{index:02d}.{'png' if 'png' in header else 'jpg'}"
        path.write_bytes(base64.b64decode(data))
        paths.append(path)
    return tuple(paths)


def _notify(job_id: str) -> None:
    """Tell the submitter the job ended, as vendors do; if it cannot hear, its poll finds out."""
    stored, state = _stored_request(job_id), _state_read(job_id)
    task = stored.generation.get("notify_task")
    if not task or state.get("state") not in JobState.TERMINAL:
        return
    try:
        current_app.send_task(task["name"], args=task.get("args", ()), kwargs=task.get("kwargs", {}), queue=task.get("queue"))
    except Exception as error:  # the broker is away: the submitter's next poll finds the job ended
        logger.info("render %s: could not say it ended (%s); the poll will find it", job_id, error)


# --------------------------------------------------------------------------- storage and Redis


def _stored_request(job_id: str) -> StoredRequest:
    with default_storage.open(f"{_folder(job_id)}/request.json", "rb") as handle:
        return StoredRequest(**json.load(handle))


def _state_read(job_id: str) -> dict:
    return {key.decode(): value.decode() for key, value in health_redis().hgetall(_state_key(job_id)).items()}


def _state_write(job_id: str, **fields) -> None:
    client = health_redis()
    with client.pipeline() as pipe:
        pipe.hset(_state_key(job_id), mapping={key: str(value) for key, value in fields.items()})
        pipe.expire(_state_key(job_id), STATE_TTL_SECONDS)
        pipe.execute()


def _render_send(job_id: str, queue: str) -> None:
    try:
        current_app.send_task(RENDER_TASK, args=(job_id,), queue=queue)
    except Exception as error:  # the broker is away: the job stays queued, and its next status sends it again
        logger.warning("could not queue render %s: %s", job_id, error)
