"""Stage 2, submit: route the take, pass its provider's health gates, and send the job.

queued → routing → submitting → generating. A provider that is throttled or full makes the take
wait (`wake_at`), noted once on the card; a failing provider is retried when the failure may
pass, and the take moves to the next provider of its plan when it will not (attempts.py).
"""

import base64
import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jobs.compiler import COMPILER_VERSION, ProviderDialect, ShotSpec, prompt_compile_for
from jobs.media import picture_fitted_to, picture_has_aspect
from jobs.media_urls import provider_media_url
from jobs.models import Attempt, Take
from jobs.pipeline.attempts import attempt_failed, poll_delay
from jobs.pipeline.callbacks import callback_url_for
from jobs.pipeline.enqueue import take_poll_now_task
from jobs.pipeline.leases import Lease, take_leased
from jobs.pipeline.orphans import attempt_resend_may_orphan, orphan_confirmed_record, orphan_suspected_record
from jobs.pipeline.routing import take_reroute
from jobs.pipeline.settle import take_fail, take_stage_settled
from jobs.pipeline.transitions import take_note, take_transition
from jobs.states import Stage, TakeState
from providers import health
from providers.base import GenerationRequest, ProviderError
from providers.models import ProviderModel
from providers.registry import adapter_for, is_sandbox

SUBMIT_STATES = (TakeState.QUEUED, TakeState.ROUTING, TakeState.SUBMITTING)
# Vendors that take images only as URLs they fetch (Luma), or cap inline data very low (Replicate).
FETCHES_IMAGES_BY_URL = frozenset({"luma", "replicate"})
# A video to upscale travels inline up to this size (Runway documents data URIs up to 5 MB), else by signed URL.
INLINE_VIDEO_MAX_BYTES = 3 * 1024 * 1024  # 3 MB of file is 4 MB once base64-encoded
CONCURRENCY_RECHECK_SECONDS = 5


def take_submit(*, take_id: int) -> None:
    with take_leased(take_id, states=SUBMIT_STATES) as lease:
        if lease is None:
            return  # another worker submits it, or it moved on
        with take_stage_settled(take_id=take_id, lease=lease, doing="sending the take to its provider"):
            _take_submit(take_id, lease)


def _take_submit(take_id: int, lease: Lease) -> None:
    take = Take.objects.select_related("provider_model").get(pk=take_id)
    attempt = _submission_ready(take, lease)
    if attempt is None:
        return  # waiting for the provider, moved to another one, or failed
    model = take.provider_model
    if not attempt.provider_job_id:
        request = _generation_request(take, attempt)  # reads reference images from storage: outside any transaction
        try:
            status = adapter_for(model.api_family).submit(request)
        except ProviderError as error:
            attempt_failed(take, attempt, error, lease=lease)
            return
        attempt = _job_saved(take, attempt, status.job_id, compiled=request.prompt)
        first_poll = poll_delay(model, polls=0, hint=status.poll_after_seconds)
    else:
        first_poll = poll_delay(model, polls=0)
    _generating(take, attempt, lease, first_poll=first_poll)


@transaction.atomic
def _submission_ready(take: Take, lease: Lease) -> Attempt | None:
    """Through routing to submitting, in one transaction: the attempt to send, its send counted
    before the vendor is called (a worker that dies mid-call leaves that known). None: not now."""
    if take.state == TakeState.QUEUED:
        take = take_transition(take_id=take.pk, to_state=TakeState.ROUTING, detail=_chosen_reason(take), lease=lease)
    if _waits_for_provider(take, lease):
        return None
    take = take_transition(take_id=take.pk, to_state=TakeState.SUBMITTING, detail=f"sending to {take.provider_model.name}",
                           lease=lease)
    attempt = _current_attempt(take)
    if not attempt.provider_job_id:
        if attempt_resend_may_orphan(take, attempt):
            orphan_suspected_record(take, attempt)
        Attempt.objects.filter(pk=attempt.pk).update(sends=F("sends") + 1)
    return attempt


@transaction.atomic
def _job_saved(take: Take, attempt: Attempt, job_id: str, *, compiled: str) -> Attempt:
    # The take records exactly what this provider was sent (its dialect, e.g. negatives folded in).
    Take.objects.filter(pk=take.pk).update(compiled_prompt=compiled, compiler_version=COMPILER_VERSION)
    saved = Attempt.objects.filter(pk=attempt.pk, provider_job_id="").update(provider_job_id=job_id, state=Attempt.State.RUNNING)
    attempt.refresh_from_db()
    if not saved:  # its callback adopted the first job meanwhile: this job is the second one
        orphan_confirmed_record(take, attempt, job_id)
    return attempt


@transaction.atomic
def _generating(take: Take, attempt: Attempt, lease: Lease, *, first_poll: float) -> None:
    take_transition(take_id=take.pk, to_state=TakeState.GENERATING, detail=f"accepted by {take.provider_model.name}",
                    provider_job_id=attempt.provider_job_id, sandbox=is_sandbox(take.provider_model.api_family), lease=lease)
    lease.hand_to(Stage.POLL, after=first_poll)


def _waits_for_provider(take: Take, lease: Lease) -> bool:
    """Pass the provider's circuit, rate limit and concurrency cap, or wait (or move on) and say so."""
    model = take.provider_model
    if not health.circuit_allows_call(model.slug):
        take_reroute(take, reason=f"{model.name}'s circuit is open", lease=lease)
        return True
    wait = health.rate_limit_take(model.slug, per_minute=model.rate_limit_per_minute)
    if wait:
        _take_wait(take, lease, seconds=wait, note=f"throttled: waiting for {model.name}'s rate limit")
        return True
    if not health.concurrency_slot_take(model.slug, holder=str(take.public_id), cap=model.max_concurrency):
        _take_wait(take, lease, seconds=CONCURRENCY_RECHECK_SECONDS,
                   note=f"queued: {model.name} is at its {model.max_concurrency} concurrent jobs")
        return True
    return False


@transaction.atomic
def _take_wait(take: Take, lease: Lease, *, seconds: float, note: str) -> None:
    """Wait for the provider; say why once, not at every look, and give up past the longest wait."""
    now = timezone.now()
    if take.throttled_since is None:
        Take.objects.filter(pk=take.pk).update(throttled_since=now)
        take_note(take, note)
    elif now - take.throttled_since > timedelta(seconds=settings.TAKE_THROTTLED_MAX_SECONDS):
        minutes = settings.TAKE_THROTTLED_MAX_SECONDS // 60
        take_fail(take_id=take.pk, lease=lease,
                  reason=f"{take.provider_model.name} stayed busy for {minutes} minutes ({note.split(': ', 1)[-1]}). "
                         "Your credits were released.")
        return
    lease.hand_to(Stage.SUBMIT, after=seconds)


def _chosen_reason(take: Take) -> str:
    chosen = take.route_plan.get("chosen") or []
    return f"{chosen[0]['slug']}: {chosen[0]['reason']}" if chosen else take.provider_model.slug


def _current_attempt(take: Take) -> Attempt:
    """The open attempt at the take's provider, or a new one (numbered on from the last)."""
    latest = take.attempts.order_by("-number").first()
    if latest and latest.provider_model_id == take.provider_model_id and latest.state in (Attempt.State.SUBMITTING, Attempt.State.RUNNING):
        return latest
    return Attempt.objects.create(take=take, number=(latest.number + 1) if latest else 1, provider_model=take.provider_model)


def _generation_request(take: Take, attempt: Attempt) -> GenerationRequest:
    model = take.provider_model
    spec = ShotSpec.from_request(take.request)
    compiled = prompt_compile_for(spec, _dialect(model))
    adapter = adapter_for(model.api_family)
    callback = callback_url_for(family=model.api_family, take=take, attempt=attempt.number) if adapter.supports_callbacks else None
    as_url = provider_media_url if model.api_family in FETCHES_IMAGES_BY_URL else _image_data_url
    names = spec.input_image_names[:4] if compiled.use_reference_images and not model.video_upscale else ()
    images = tuple(as_url(name) for name in names)
    references = images[1:] if spec.start_frame_name else images
    start = as_url(start_frame_fitted(names[0], take.aspect_ratio)) if names and model.image_to_video else None
    return GenerationRequest(
        model_id=model.model_id, prompt=compiled.prompt, negative_prompt=compiled.negative_prompt,
        duration_seconds=compiled.duration_seconds, aspect_ratio=take.aspect_ratio,
        idempotency_key=f"{take.public_id}-{attempt.number}", seed=take.seed, callback_url=callback,
        image_url=start, reference_image_urls=references if model.reference_images else (),
        camera=spec.camera, title=spec.title, notify_task=take_poll_now_task(take.pk) if adapter.notifies_by_task else None,
        video_url=_upscale_source_url(take) if model.video_upscale else None,
    )


def _upscale_source_url(take: Take) -> str:
    """The video an upscale enlarges: its source final's, inline when small, else a signed link."""
    video = Take.objects.get(pk=take.source_take_id).video
    if video.size > INLINE_VIDEO_MAX_BYTES:
        return provider_media_url(video.name)
    with video.open("rb") as handle:
        return f"data:video/mp4;base64,{base64.b64encode(handle.read()).decode()}"


def start_frame_fitted(storage_name: str, aspect_ratio: str) -> str:
    """The start frame cropped to the shot's aspect ratio, stored once beside the original.

    Models that take their framing from the start frame (Kling's image2video has no aspect
    ratio) then make the shape the shot asked for, instead of the picture's.
    """
    digest = hashlib.sha256(storage_name.encode()).hexdigest()[:24]
    name = f"start-frames/{digest}-{aspect_ratio.replace(':', 'x')}.jpg"
    if default_storage.exists(name):
        return name
    with default_storage.open(storage_name, "rb") as handle:
        data = handle.read()
    if picture_has_aspect(data, aspect_ratio):
        return storage_name  # already the right shape: sent as it is (a draft's first frame, lossless)
    return default_storage.save(name, ContentFile(picture_fitted_to(data, aspect_ratio)))


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
        image_to_video=model.image_to_video, multi_shot=model.multi_shot, native_audio=model.native_audio,
    )
