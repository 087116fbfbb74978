"""Drive one take from queued to ready (or failed), rendering on the local animatic renderer.

Rendering stops once the outputs are stored and the take is evaluating: its evaluation runs as a
task of its own on the evaluation queue (`take_evaluate`), for local and remote takes alike.

Safe to run twice: steps a take has already passed are skipped, and the terminal moves settle
credits exactly once (capture, release and refund are no-ops on a resolved reservation).
"""

import io
import logging
import shutil
import tempfile
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing.services import (
    credits_capture, credits_refund_broken_output, credits_refund_safety_blocked, credits_release,
)
from jobs.claims import take_evaluation_claim, work_claimed
from jobs.compiler import ShotSpec
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IllegalTransition
from jobs.evaluation import evaluate_take_video
from jobs.evaluation.take import evaluation_failed_check
from jobs.media import expected_size_for, video_first_frame, video_preview, video_size
from jobs.models import Attempt, Generation
from jobs.services.regeneration import take_failed_a_check, take_regenerate
from jobs.services.transitions import is_past, take_progress_report, take_transition
from jobs.states import ACTIVE_STATES, TakeState
from providers import health
from providers.base import ProviderError, RenderedVideo, RenderRequest
from providers.local.animatic import animatic_frame_size, render_animatic

logger = logging.getLogger(__name__)


class TakeCancelled(Exception):
    """Raised inside a render when the take was cancelled meanwhile."""


def take_run(*, take_id: int) -> None:
    take = Generation.objects.select_related("provider_model").get(pk=take_id)
    if take.is_terminal:
        return
    if take.state == TakeState.EVALUATING:  # rendered and stored before this run: only evaluation is left
        take_evaluation_queue(take_id=take_id)
        return
    try:
        _take_render_and_store(take)
    except (TakeCancelled, IllegalTransition):
        # Cancelled while rendering: the cancel already settled the take and its credits.
        if not Generation.objects.get(pk=take_id).is_terminal:
            raise
    except ProviderError as error:
        take_fail(take_id=take_id, reason=error.reason)
    except Exception:
        logger.exception("take %s crashed", take_id)
        take_fail(take_id=take_id, reason="Something went wrong on our side while rendering. Your credits were released.")


def _advance(take: Generation, to_state: str, detail: str = "") -> Generation:
    if is_past(take.state, to_state):
        return take
    return take_transition(take_id=take.pk, to_state=to_state, detail=detail)


def _take_render_and_store(take: Generation) -> None:
    chosen = take.route_plan.get("chosen") or [{"slug": take.provider_model.slug, "reason": ""}]
    take = _advance(take, TakeState.ROUTING, f"{chosen[0]['slug']}: {chosen[0]['reason']}")
    take = _advance(take, TakeState.SUBMITTING, f"submitted to {take.provider_model.name}")
    take = _advance(take, TakeState.GENERATING)
    with tempfile.TemporaryDirectory(prefix=f"take-{take.pk}-") as workdir:
        rendered = _render(take, Path(workdir))
        take = _advance(take, TakeState.DOWNLOADING, "storing the video, poster and thumbnail")
        stored = take_files_store(take=take, video=rendered.video_path, poster=rendered.poster_path,
                                  thumbnail=rendered.thumbnail_path)
    if stored:
        take_evaluation_queue(take_id=take.pk)


def _render(take: Generation, workdir: Path) -> RenderedVideo:
    spec = ShotSpec.from_request(take.request)
    request = RenderRequest(
        prompt=take.compiled_prompt, negative_prompt=spec.negative, duration_seconds=take.duration_seconds,
        aspect_ratio=take.aspect_ratio, camera=spec.camera, seed=take.seed, title=spec.title,
        reference_images=tuple(
            _copy_from_storage(name, workdir / "refs" / f"{index:02d}-{Path(name).name}")
            for index, name in enumerate(spec.input_image_names)
        ),
    )
    def on_progress(percent: int) -> None:
        take_progress_report(take_id=take.pk, percent=percent)
        if Generation.objects.filter(pk=take.pk, state=TakeState.CANCELLED).exists():
            raise TakeCancelled()  # stop rendering: nobody wants this take any more

    if take.provider_model.api_family == "self_hosted":
        return _render_self_hosted(take, request, workdir / "out", on_progress)
    return render_animatic(request, output_dir=workdir / "out", fps=settings.ANIMATIC_FPS, on_progress=on_progress)


def _render_self_hosted(take: Generation, request: RenderRequest, output_dir: Path, on_progress) -> RenderedVideo:
    """An open model through diffusers, from its folder under SELF_HOSTED_MODEL_DIR (named by model id)."""
    from providers.local.diffusers_runner import render_with_diffusers

    kind = take.provider_model.model_id
    return render_with_diffusers(
        request, model_dir=Path(settings.SELF_HOSTED_MODEL_DIR) / kind, pipeline_kind=kind, output_dir=output_dir,
        num_inference_steps=settings.SELF_HOSTED_STEPS, fps=settings.SELF_HOSTED_FPS, on_progress=on_progress,
        **settings.SELF_HOSTED_FRAME_OVERRIDES,
    )


def _copy_from_storage(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(name, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def take_files_store(*, take: Generation, video: Path, poster: Path, thumbnail: Path) -> bool:
    """Store a take's video, stills and animated preview through the configured storage.

    Returns False, keeping nothing, when the take was cancelled or failed while its files were made.
    """
    preview = video_preview(video, video.parent / "preview")
    for field_name, path in zip(Generation.OUTPUT_FILE_FIELDS, (video, poster, thumbnail, preview)):
        with path.open("rb") as handle:
            getattr(take, field_name).save(path.name, File(handle), save=False)
    names = {field_name: getattr(take, field_name).name for field_name in Generation.OUTPUT_FILE_FIELDS}
    stored = Generation.objects.filter(pk=take.pk, state__in=ACTIVE_STATES).update(**names, heartbeat_at=timezone.now())
    if not stored:
        for name in names.values():
            default_storage.delete(name)
    return bool(stored)


def take_first_frame_stored(*, take: Generation) -> str:
    """The storage name of the take's opening frame, extracted once; "" when its video is gone."""
    name = f"takes/{take.tier}/{take.public_id}/first-frame.png"
    if default_storage.exists(name):
        return name
    if not take.video or take.files_expired_at:
        return ""
    with take.video.open("rb") as handle:
        frame = video_first_frame(handle)
    buffer = io.BytesIO()
    frame.save(buffer, format="PNG")
    return default_storage.save(name, ContentFile(buffer.getvalue()))


@transaction.atomic
def take_evaluation_queue(*, take_id: int) -> Generation:
    """Move a take whose outputs are stored to evaluating, and queue its evaluation after commit."""
    take = take_transition(take_id=take_id, to_state=TakeState.EVALUATING)
    take_evaluation_enqueue_on_commit(take_id=take_id)
    return take


def take_evaluation_enqueue_on_commit(*, take_id: int) -> None:
    transaction.on_commit(partial(_enqueue_take_evaluate, take_id))


def _enqueue_take_evaluate(take_id: int) -> None:
    from jobs.tasks import take_evaluate_task

    take_evaluate_task.delay(take_id)  # routed to settings.EVALUATION_QUEUE


# Longer than an evaluation takes; when a worker dies evaluating, the take is free again after it.
EVALUATION_CLAIM_SECONDS = 5 * 60


def take_evaluate(*, take_id: int) -> None:
    """Evaluate an evaluating take's stored video and settle the take.

    Safe to run twice: one worker at a time evaluates a take, and a take no longer evaluating is
    left alone, but for finishing a regeneration that a crash interrupted.
    """
    with work_claimed(take_evaluation_claim(take_id), seconds=EVALUATION_CLAIM_SECONDS) as claimed:
        if not claimed:
            return  # another worker is evaluating it right now
        try:
            take = Generation.objects.select_related("provider_model").get(pk=take_id)
            if take.state == TakeState.EVALUATING:
                _evaluate_stored(take)
            elif take_failed_a_check(take):
                take_regenerate(take_id=take_id)
        except Exception:
            logger.exception("evaluating take %s crashed", take_id)
            take_fail(take_id=take_id,
                      reason="Something went wrong on our side while checking the video. Your credits were released.")


def _evaluate_stored(take: Generation) -> None:
    """Evaluate the video as stored (MEDIA_ROOT or S3), copied into a scratch folder first."""
    Generation.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now())
    with tempfile.TemporaryDirectory(prefix=f"take-{take.pk}-evaluation-") as workdir:
        video = _copy_from_storage(take.video.name, Path(workdir) / Path(take.video.name).name)
        if take.provider_model.api_family == "local_animatic":
            expected = animatic_frame_size(take.aspect_ratio)
        else:  # other models pick their own resolution: only the shape must match the request
            expected = expected_size_for(take.aspect_ratio, video_size(video))
        take_evaluate_and_settle(take=take, video=video, expected_size=expected, workdir=Path(workdir))


def take_evaluate_and_settle(*, take: Generation, video: Path, expected_size: tuple[int, int], workdir: Path) -> None:
    """Score the stored video from its real frames; a failed hard gate fails the take with its reason."""
    spec = ShotSpec.from_request(take.request)
    references = tuple(
        _copy_from_storage(name, workdir / "eval-refs" / f"{index:02d}-{Path(name).name}")
        for index, name in enumerate(spec.reference_image_names)
    )
    result = evaluate_take_video(
        video, expected_duration_seconds=take.duration_seconds, expected_width=expected_size[0],
        expected_height=expected_size[1], prompt=take.compiled_prompt, reference_images=references,
        clip_model_dir=settings.CLIP_MODEL_DIR, weights=settings.EVALUATION_WEIGHTS or None,
    )
    evaluation = result.as_dict()
    if not result.passed:
        take_fail_check(take_id=take.pk, evaluation=evaluation)
        take_regenerate(take_id=take.pk)
        return
    take_succeed(take_id=take.pk, evaluation=evaluation)


@transaction.atomic
def take_succeed(*, take_id: int, evaluation: dict) -> None:
    take = take_transition(take_id=take_id, to_state=TakeState.READY, detail="passed every check",
                           evaluation=evaluation, progress=100)
    credits_capture(reservation_id=take.reservation_id, amount=take.price_credits)
    if take.batch:  # a new score may change which take of a best-of-N batch is best
        for sibling_id in Generation.objects.filter(batch=take.batch).exclude(pk=take.pk).values_list("pk", flat=True):
            take_changed_publish_on_commit(group=take.notify_group, take_id=sibling_id)


@transaction.atomic
def take_fail(*, take_id: int, reason: str, evaluation: dict | None = None) -> None:
    take = Generation.objects.select_for_update().get(pk=take_id)
    if take.is_terminal:
        return
    fields = {"failure_reason": reason}
    if evaluation is not None:
        fields["evaluation"] = evaluation
    take = take_transition(take_id=take_id, to_state=TakeState.FAILED, detail=reason, **fields)
    _open_attempts_end(take, reason=reason)
    credits_release(reservation_id=take.reservation_id, reason=f"take:{take.public_id} failed")


def _open_attempts_end(take: Generation, *, reason: str) -> None:
    """A take failed from outside its attempt (reaped, timed out) gives back what the attempt held:
    the attempt is closed and the provider's concurrency slot freed now, not when its lease runs out."""
    open_attempts = take.attempts.filter(state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING])
    if not open_attempts.update(state=Attempt.State.FAILED, finished_at=timezone.now(),
                                error_kind="TakeFailed", error_message=reason[:1000]):
        return
    slug, holder = take.provider_model.slug, str(take.public_id)
    transaction.on_commit(partial(health.concurrency_slot_release, slug, holder=holder))


@transaction.atomic
def take_fail_check(*, take_id: int, evaluation: dict) -> None:
    """Fail a take whose output failed a hard check. It was rendered, so its price is captured
    (the provider was paid); then refunded at once when blocked by safety, and when broken if
    BILLING_REFUND_BROKEN_OUTPUTS is on. The refund names the failed check."""
    take = Generation.objects.select_for_update().get(pk=take_id)
    if take.is_terminal:
        return
    check, reason = evaluation_failed_check(evaluation)
    detail = f"failed check {check}: {reason}"
    credits_capture(reservation_id=take.reservation_id, amount=take.price_credits)
    refund_for = credits_refund_safety_blocked if check == "safety" else credits_refund_broken_output
    refund = refund_for(reservation_id=take.reservation_id, detail=detail[:255])
    take_transition(take_id=take_id, to_state=TakeState.FAILED, detail=detail, evaluation=evaluation,
                    failure_reason=f"{reason} {_charge_note(refund, take.price_credits)}".strip())


def _charge_note(refund, price_credits: int) -> str:
    if refund:
        return f"Your {refund.amount} credits were refunded."
    return f"The {price_credits} credits were charged: the video was rendered." if price_credits else ""


def takes_reap_stalled(*, now=None) -> int:
    """Fail takes that stopped showing signs of life, so none stays stuck holding credits."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.TAKE_STALL_SECONDS)
    stalled = Generation.objects.filter(state__in=ACTIVE_STATES, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    minutes = settings.TAKE_STALL_SECONDS // 60
    for take_id in stalled:
        take_fail(take_id=take_id, reason=f"The take showed no progress for {minutes} minutes and was stopped. Your credits were released.")
    return len(stalled)
