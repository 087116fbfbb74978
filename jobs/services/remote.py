"""Takes on remote providers: submit, then poll (or hear a callback) until the video is ready.

No task waits for a generation: submission records the vendor's job id and returns, and polls
run as separate short tasks. A failing provider is retried when the failure may pass, and the
take moves to the next provider of its plan when it will not; a content-policy rejection stops
the take with the vendor's reason.
"""

import base64
import logging
import random
import tempfile
from pathlib import Path

import av
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from jobs.claims import take_download_claim, work_claimed
from jobs.compiler import ProviderDialect, ShotSpec, prompt_compile_for
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IllegalTransition
from jobs.media import video_size, video_stills
from jobs.media_urls import provider_media_url
from jobs.models import Attempt, Generation, GenerationEvent
from jobs.services.callbacks import callback_url_for
from jobs.services.pipeline import take_evaluate_and_settle, take_evaluation_queue, take_fail, take_files_store
from jobs.services.requests import take_credits_for_cost
from jobs.services.transitions import take_progress_report, take_transition
from jobs.states import TakeState
from providers import health
from providers.base import ContentPolicyRejected, GenerationRequest, InsufficientVendorCredit, JobState, JobStatus, ProviderError, RateLimited
from providers.models import ProviderModel
from providers.registry import adapter_for, is_sandbox
from providers.selectors import provider_price_current

logger = logging.getLogger(__name__)

SAME_PROVIDER_TRIES = 3
# Vendors that take images only as URLs they fetch (Luma), or cap inline data very low (Replicate).
FETCHES_IMAGES_BY_URL = frozenset({"luma", "replicate"})
MAX_POLL_DELAY_SECONDS = 30.0
OUTPUT_MAX_BYTES = 500 * 1024 * 1024


class RetryLater(Exception):
    """Not now: run the submit step again after `seconds` (throttled, transient trouble, re-routed)."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(f"retry in {seconds:.1f} s: {reason}")
        self.seconds = seconds
        self.reason = reason


def take_submit(*, take_id: int) -> float | None:
    """Send the take to its current provider. Returns the delay before the first poll, if any."""
    take = Generation.objects.select_related("provider_model").get(pk=take_id)
    if take.state not in (TakeState.QUEUED, TakeState.ROUTING, TakeState.SUBMITTING):
        return None
    model = take.provider_model
    if take.state == TakeState.QUEUED:
        take = take_transition(take_id=take.pk, to_state=TakeState.ROUTING, detail=_chosen_reason(take))
    _check_health_gates(take, model)
    take = take_transition(take_id=take.pk, to_state=TakeState.SUBMITTING, detail=f"sending to {model.name}")
    attempt = _current_attempt(take)
    if not attempt.provider_job_id:
        try:
            status = adapter_for(model.api_family).submit(_generation_request(take, attempt))
        except ProviderError as error:
            return _attempt_failed(take, attempt, error)
        Attempt.objects.filter(pk=attempt.pk).update(provider_job_id=status.job_id, state=Attempt.State.RUNNING)
        attempt.provider_job_id = status.job_id
    take_transition(take_id=take.pk, to_state=TakeState.GENERATING, detail=f"accepted by {model.name}",
                    provider_job_id=attempt.provider_job_id, sandbox=is_sandbox(model.api_family))
    return _poll_delay(model, polls=0)


def _check_health_gates(take: Generation, model: ProviderModel) -> None:
    if not health.circuit_allows_call(model.slug):
        _reroute(take, reason=f"{model.name}'s circuit is open")
        raise RetryLater(0, "re-routed")
    wait = health.rate_limit_take(model.slug, per_minute=model.rate_limit_per_minute)
    if wait:
        _note(take, f"throttled: waiting {wait:.0f} s for {model.name}'s rate limit")
        raise RetryLater(wait, "rate limit")
    if not health.concurrency_slot_take(model.slug, holder=str(take.public_id), cap=model.max_concurrency):
        _note(take, f"queued: {model.name} is at its {model.max_concurrency} concurrent jobs")
        raise RetryLater(5, "concurrency")


def _note(take: Generation, detail: str) -> None:
    """Tell the page why a take waits, without changing its state."""
    GenerationEvent.objects.create(generation=take, from_state=take.state, to_state=take.state, detail=detail[:500])
    Generation.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now())
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)


def _chosen_reason(take: Generation) -> str:
    chosen = take.route_plan.get("chosen") or []
    return f"{chosen[0]['slug']}: {chosen[0]['reason']}" if chosen else take.provider_model.slug


def _current_attempt(take: Generation) -> Attempt:
    latest = take.attempts.order_by("-number").first()
    if latest and latest.provider_model_id == take.provider_model_id and latest.state in (Attempt.State.SUBMITTING, Attempt.State.RUNNING):
        return latest
    return Attempt.objects.create(generation=take, number=(latest.number + 1) if latest else 1, provider_model=take.provider_model)


def _generation_request(take: Generation, attempt: Attempt) -> GenerationRequest:
    model = take.provider_model
    spec = ShotSpec.from_request(take.request)
    compiled = prompt_compile_for(spec, _dialect(model))
    # The take records exactly what this provider was sent (its dialect, e.g. negatives folded in).
    Generation.objects.filter(pk=take.pk).update(compiled_prompt=compiled.prompt, compiler_version=compiled.version)
    callback = callback_url_for(family=model.api_family, take=take) if adapter_for(model.api_family).supports_callbacks else None
    as_url = provider_media_url if model.api_family in FETCHES_IMAGES_BY_URL else _image_data_url
    images = tuple(as_url(name) for name in spec.input_image_names[:4]) if compiled.use_reference_images else ()
    references = images[1:] if spec.start_frame_name else images
    return GenerationRequest(
        model_id=model.model_id, prompt=compiled.prompt, negative_prompt=compiled.negative_prompt,
        duration_seconds=compiled.duration_seconds, aspect_ratio=take.aspect_ratio,
        idempotency_key=f"{take.public_id}-{attempt.number}", seed=take.seed, callback_url=callback,
        image_url=images[0] if images and model.image_to_video else None,
        reference_image_urls=references if model.reference_images else (),
    )


def _image_data_url(storage_name: str) -> str:
    """Reference images travel inline: vendors accept data URLs, and our storage may be private."""
    with default_storage.open(storage_name, "rb") as handle:
        data = handle.read()
    kind = "png" if storage_name.lower().endswith(".png") else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def _dialect(model: ProviderModel) -> ProviderDialect:
    return ProviderDialect(
        name=model.name, max_duration_seconds=model.max_duration_seconds, allowed_durations=tuple(model.allowed_durations),
        negative_prompt=model.negative_prompt, reference_images=model.reference_images,
        image_to_video=model.image_to_video, multi_shot=model.multi_shot,
    )


def _poll_delay(model: ProviderModel, *, polls: int, hint: float | None = None) -> float:
    """Poll often at first and less over time, scaled to how long this model usually takes."""
    if hint:
        return hint
    base = min(max(model.p50_latency_seconds / 10, 1.0), 10.0)
    return min(base * (1.5 ** polls), MAX_POLL_DELAY_SECONDS)


def take_poll(*, take_id: int) -> float | None:
    """Ask the provider where the take is. Returns the delay before the next poll, or None when done."""
    take = Generation.objects.select_related("provider_model").get(pk=take_id)
    if take.state == TakeState.DOWNLOADING:
        return _download_resume(take)
    if take.state != TakeState.GENERATING:
        return None
    attempt = _current_attempt(take)
    Attempt.objects.filter(pk=attempt.pk).update(polls=attempt.polls + 1)
    try:
        status = adapter_for(take.provider_model.api_family).status(attempt.provider_job_id)
    except ProviderError as error:
        if error.retryable:  # the job itself may be fine; look again later
            return _retry_delay(error, tries=attempt.polls)
        return _attempt_failed(take, attempt, error)
    return take_apply_status(take=take, attempt=attempt, status=status)


def take_apply_status(*, take: Generation, attempt: Attempt, status: JobStatus) -> float | None:
    if status.state in (JobState.QUEUED, JobState.RUNNING):
        if status.progress is not None:
            take_progress_report(take_id=take.pk, percent=min(status.progress, 99))
        else:
            Generation.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now())
        return _poll_delay(take.provider_model, polls=attempt.polls, hint=status.poll_after_seconds)
    if status.state == JobState.SUCCEEDED:
        _download_and_finish(take, attempt, status)
        return None
    error = status.error or ProviderError(f"{take.provider_model.name} stopped the job ({status.raw_status}).")
    return _attempt_failed(take, attempt, error)


# Outlives any download, so no second worker fetches the same video; frees a dead worker's take.
DOWNLOAD_CLAIM_SECONDS = settings.PROVIDER_DOWNLOAD_MAX_SECONDS + 60


def _download_resume(take: Generation) -> float | None:
    """Fetch the finished video again after the worker downloading it died (reconcile queued
    this poll). The vendor is asked for the job once more: its output URL may have expired."""
    model = take.provider_model
    attempt = (take.attempts.filter(provider_model=model).exclude(provider_job_id="").order_by("-number").first())
    if attempt is None:
        take_fail(take_id=take.pk, reason=f"No job at {model.name} is known for this take, so its video cannot be fetched.")
        return None
    try:
        status = adapter_for(model.api_family).status(attempt.provider_job_id)
    except ProviderError as error:
        if error.retryable:
            return _retry_delay(error, tries=attempt.polls)
        take_fail(take_id=take.pk, reason=f"{model.name} no longer answers for the finished video: {error.reason}")
        return None
    if status.state != JobState.SUCCEEDED:
        take_fail(take_id=take.pk, reason=f"{model.name} no longer offers the finished video ({status.raw_status}).")
        return None
    _download_and_finish(take, attempt, status)
    return None


def _download_and_finish(take: Generation, attempt: Attempt, status: JobStatus) -> None:
    with work_claimed(take_download_claim(take.pk), seconds=DOWNLOAD_CLAIM_SECONDS) as claimed:
        if claimed:  # else a duplicate poll or callback: another worker is fetching this video right now
            _download(take, attempt, status)


def _download(take: Generation, attempt: Attempt, status: JobStatus) -> None:
    model = take.provider_model
    try:
        take = take_transition(take_id=take.pk, to_state=TakeState.DOWNLOADING, detail=f"fetching the video from {model.name}")
    except IllegalTransition:
        return  # cancelled (or failed by the reaper) since this poll began; that path settled the take
    if take.video:  # stored by a download whose worker died before queueing the evaluation
        _attempt_finished(take, attempt, success=True)
        take_evaluation_queue(take_id=take.pk)
        return
    with tempfile.TemporaryDirectory(prefix=f"take-{take.pk}-") as workdir:
        try:
            video = adapter_for(model.api_family).fetch_output(status, Path(workdir) / "take.mp4", max_bytes=OUTPUT_MAX_BYTES)
        except ProviderError as error:
            _attempt_finished(take, attempt, success=False, error=error)
            take_fail(take_id=take.pk, reason=f"The video from {model.name} could not be fetched: {error.reason}")
            return
        _attempt_finished(take, attempt, success=True)
        _store_and_evaluate(take, video, Path(workdir))


def _store_and_evaluate(take: Generation, video: Path, workdir: Path) -> None:
    """Store a playable video and queue its evaluation; an unplayable one is failed here and now."""
    try:
        video_size(video)
        poster, thumbnail = video_stills(video, workdir / "stills")
    except (av.error.FFmpegError, ValueError, IndexError):
        # Nothing is stored: the evaluation says why it is broken, and the take is settled as such.
        take = take_transition(take_id=take.pk, to_state=TakeState.EVALUATING)
        take_evaluate_and_settle(take=take, video=video, expected_size=(1, 1), workdir=workdir)
        return
    if take_files_store(take=take, video=video, poster=poster, thumbnail=thumbnail):
        take_evaluation_queue(take_id=take.pk)


def _attempt_finished(take: Generation, attempt: Attempt, *, success: bool, error: ProviderError | None = None) -> None:
    slug = take.provider_model.slug
    health.circuit_record(slug, success=success, credit_exhausted=isinstance(error, InsufficientVendorCredit))
    health.concurrency_slot_release(slug, holder=str(take.public_id))
    Attempt.objects.filter(pk=attempt.pk).update(
        state=Attempt.State.SUCCEEDED if success else Attempt.State.FAILED, finished_at=timezone.now(),
        error_kind=type(error).__name__ if error else "", error_message=error.reason if error else "",
    )


def _attempt_failed(take: Generation, attempt: Attempt, error: ProviderError) -> float | None:
    """Decide what a provider failure means for the take: retry here, move on, or stop."""
    _attempt_finished(take, attempt, success=False, error=error)
    name = take.provider_model.name
    if isinstance(error, ContentPolicyRejected):
        take_fail(take_id=take.pk, reason=f"{name} refused this shot under its content policy: {error.reason}")
        return None
    tries_here = take.attempts.filter(provider_model=take.provider_model).count()
    if error.retryable and tries_here < SAME_PROVIDER_TRIES:
        take_transition(take_id=take.pk, to_state=TakeState.ROUTING, detail=f"retrying {name}: {error.reason}")
        raise RetryLater(_retry_delay(error, tries=tries_here), "transient")
    _reroute(take, reason=f"{name}: {error.reason}")
    raise RetryLater(0, "re-routed")


def _retry_delay(error: ProviderError, *, tries: int) -> float:
    """Exponential backoff with full jitter, never sooner than the vendor's Retry-After."""
    backoff = random.uniform(0, min(2.0 * 2**tries, MAX_POLL_DELAY_SECONDS))
    retry_after = error.retry_after_seconds if isinstance(error, RateLimited) else None
    return max(backoff, retry_after or 0.0)


@transaction.atomic
def _reroute(take: Generation, *, reason: str) -> None:
    """Move the take to the next provider of its plan that its held credits cover, or fail it."""
    take = Generation.objects.select_for_update(of=("self",)).select_related("provider_model", "reservation").get(pk=take.pk)
    current = take.provider_model
    for step in _plan_after(take, current.slug):
        candidate = ProviderModel.objects.filter(slug=step["slug"], enabled=True).first()
        price = candidate and provider_price_current(provider_model=candidate, on=timezone.localdate())
        credits = price and take_credits_for_cost(usd_micros_per_second=price.usd_micros_per_second,
                                                  duration_seconds=take.duration_seconds, owner_id=take.owner_id, tier=take.tier)
        if credits and credits <= take.reservation.amount:
            fields = dict(provider_model=candidate, provider_price=price, price_credits=credits, provider_job_id="",
                          provider_cost_usd_micros=price.usd_micros_per_second * take.duration_seconds)
            detail = f"re-routed from {current.name} to {candidate.name}: {reason}"
            if take.state == TakeState.ROUTING:  # already between providers: not a state change
                Generation.objects.filter(pk=take.pk).update(**fields)
                _note(take, detail)
            else:
                take_transition(take_id=take.pk, to_state=TakeState.ROUTING, detail=detail, **fields)
            return
    take_fail(take_id=take.pk, reason=f"Every provider for this shot failed (last: {reason}). Your credits were released.")


def _plan_after(take: Generation, slug: str) -> list[dict]:
    chosen = take.route_plan.get("chosen") or []
    slugs = [step["slug"] for step in chosen]
    return chosen[slugs.index(slug) + 1:] if slug in slugs else []


