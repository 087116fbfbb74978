"""Rendering a cut: asked for by the creator, done by a worker, reused by its inputs hash.

`cut_render_request` checks everything a render needs (so errors reach the creator before any
work) and either returns the existing render of the same inputs or queues a new one after
commit. `cut_render_run` (the task's one call) renders into a temporary folder and stores the
MP4 only when it is whole; a render that fails offers nothing for download. Every state change
goes through `render_transition`, which refuses illegal moves, tells the cut page and records
`cut.ready` / `cut.failed` for the creator's webhook endpoints.
"""

import logging
import tempfile
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from billing.services import credits_capture, credits_release, credits_reserve
from studio.cuts import audio, events
from studio.cuts.exceptions import CutError, CutLineTooLong
from studio.cuts.models import RENDER_TRANSITIONS, Cut, CutRender, RenderState
from studio.cuts.plan import VOICE_LEAD_MS, clip_plans, cut_inputs, inputs_hash
from studio.cuts.provenance import cut_provenance_write
from studio.cuts.render import (
    AUDIO_RATE,
    OutputFormat,
    clip_starts,
    cut_render,
    timeline_frames,
)
from studio.cuts.sound import music_bed, sound_providers_check, sound_quote, spoken_line

logger = logging.getLogger(__name__)

RENDER_TASK = "cuts.cut_render"


class IllegalRenderTransition(CutError):
    pass


def cut_render_request(*, cut: Cut) -> CutRender:
    """The render of the cut as it stands now: reused when these inputs were rendered, else queued.

    Generated audio (ElevenLabs) is quoted and its credits held in the transaction that queues
    the render; a reused render costs nothing.
    """
    inputs = cut_inputs(cut)  # reads the files: outside any transaction
    sound_providers_check(inputs)
    digest = inputs_hash(inputs)
    owner_id = cut.project.owner_id
    quote = sound_quote(inputs, user_id=owner_id)
    with transaction.atomic():
        render, created = CutRender.objects.get_or_create(cut=cut, inputs_hash=digest, defaults={"inputs": inputs})
        if created or render.state == RenderState.FAILED:
            reservation = _credits_hold(render, quote, owner_id=owner_id, project_id=cut.project_id)
            if not created:
                render = render_transition(render_id=render.pk, to_state=RenderState.QUEUED, progress=0, failure_reason="")
            render.price_credits, render.reservation = quote.credits, reservation
            render.save(update_fields=["price_credits", "reservation", "updated_at"])
            transaction.on_commit(partial(render_enqueue, render.pk))
    return render


def _credits_hold(render: CutRender, quote, *, owner_id: int, project_id: int):
    if not quote.credits:
        return None
    from studio.models import project_budget_key

    return credits_reserve(user_id=owner_id, amount=quote.credits, reference=f"cut-render:{render.pk}:{render.inputs_hash[:12]}",
                           budget_key=project_budget_key(project_id))


def render_enqueue(render_id: int) -> None:
    from studio.config.celery import app

    app.send_task(RENDER_TASK, args=[render_id], queue=settings.LOCAL_RENDER_QUEUE)


@transaction.atomic
def render_transition(*, render_id: int, to_state: str, **fields) -> CutRender:
    render = CutRender.objects.select_for_update(of=("self",)).select_related("cut__project").get(pk=render_id)
    if render.state == to_state:
        return render
    if to_state not in RENDER_TRANSITIONS[render.state]:
        raise IllegalRenderTransition(f"Render {render_id} cannot go from {render.state} to {to_state}.")
    render.state = to_state
    if to_state in (RenderState.READY, RenderState.FAILED):
        render.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(render, name, value)
    render.save(update_fields=["state", "finished_at", "updated_at", *fields])
    events.render_event_record(render=render, owner_id=render.cut.project.owner_id)
    events.render_changed_publish_on_commit(render_id=render.pk)
    return render


def render_progress_report(*, render_id: int, percent: int) -> None:
    """Progress only moves forward; each step tells the open cut page."""
    if CutRender.objects.filter(pk=render_id, state=RenderState.RENDERING, progress__lt=percent).update(progress=percent):
        events.render_changed_publish_on_commit(render_id=render_id)


def cut_render_run(*, render_id: int) -> CutRender:
    """Render the stored inputs (safe to run twice: a ready render is left alone)."""
    render = CutRender.objects.select_related("cut").get(pk=render_id)
    if render.state in (RenderState.READY, RenderState.FAILED):  # done, or failed and not asked for again
        return render
    if render.state == RenderState.QUEUED:
        render = render_transition(render_id=render_id, to_state=RenderState.RENDERING)
    try:
        with tempfile.TemporaryDirectory(prefix=f"cut-render-{render_id}-") as workdir:
            stored = _render_and_store(render, Path(workdir))
    except CutError as error:
        return _render_failed(render, str(error))
    except Exception as error:  # a failed render must end as failed, not stay "rendering"
        logger.exception("cut render %s failed", render_id)
        return _render_failed(render, f"The render failed: {error}")
    with transaction.atomic():
        if render.reservation_id:
            credits_capture(reservation_id=render.reservation_id, amount=render.price_credits)
        return render_transition(render_id=render_id, to_state=RenderState.READY, progress=100, **stored)


@transaction.atomic
def _render_failed(render: CutRender, reason: str) -> CutRender:
    """Nothing is offered and nothing is charged: the held credits go back."""
    if render.reservation_id:
        credits_release(reservation_id=render.reservation_id, reason=f"cut render failed: {reason[:200]}")
    return render_transition(render_id=render.pk, to_state=RenderState.FAILED, failure_reason=reason)


def _render_and_store(render: CutRender, workdir: Path) -> dict:
    """Render, attach provenance, and store the MP4 and its record; the fields to save on the render."""
    from django.core.files.storage import default_storage

    target = workdir / f"cut-{render.inputs_hash[:12]}.mp4"
    with tempfile.TemporaryDirectory(prefix="cut-media-") as media_dir:
        media = {clip["video"]: _local_media(default_storage, clip["video"], Path(media_dir))
                 for clip in render.inputs["clips"]}
        frames = render_to_file(render.inputs, target, media=media, on_progress=partial(_progress, render.pk))
        video, sidecar, _ = cut_provenance_write(video=target, inputs=render.inputs, inputs_hash=render.inputs_hash,
                                                 media=media, output_dir=workdir)
    prefix = f"cuts/{render.cut.project_id}/{render.inputs_hash}"
    with video.open("rb") as handle:
        video_name = default_storage.save(f"{prefix}/{target.name}", File(handle))
    with sidecar.open("rb") as handle:
        record_name = default_storage.save(f"{prefix}/{sidecar.name}", File(handle))
    return {"video": video_name, "provenance": record_name, "frames": frames}


def _progress(render_id: int, percent: int) -> None:
    render_progress_report(render_id=render_id, percent=percent)


def render_to_file(inputs: dict, target: Path, *, media: dict[str, Path], on_progress=None) -> int:
    """Render stored inputs to `target` from local copies of their media; the number of frames written."""
    fmt = OutputFormat(**inputs["format"])
    clips = clip_plans(inputs, media)
    sound = cut_mix(inputs, clip_starts(clips, fmt.fps), timeline_frames(clips, fmt.fps), fmt.fps, media=media)
    cut_render(clips, fmt, target, audio=sound, on_progress=on_progress)
    return timeline_frames(clips, fmt.fps)


def _local_media(storage, name: str, workdir: Path) -> Path:
    from studio.cuts.exceptions import CutNotReady

    if not storage.exists(name):
        raise CutNotReady(f"The take file {name} is gone: open the cut again to pick up the current takes.")
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        target = workdir / name.replace("/", "_")
        with storage.open(name, "rb") as stored, target.open("wb") as sink:
            for chunk in iter(lambda: stored.read(1024 * 1024), b""):
                sink.write(chunk)
        return target


def cut_mix(inputs: dict, starts: list[int], frames: int, fps: int, *, media: dict[str, Path]):
    """The cut's stereo mix: each line spoken at its shot's start, and each take's own sound under
    its shot (trimmed like its picture), over the music bed ducked under both."""
    total = frames * AUDIO_RATE // fps
    lead = VOICE_LEAD_MS * AUDIO_RATE // 1000
    speech = []
    for clip, start in zip(inputs["clips"], starts):
        if not clip["line"]:
            continue
        samples = spoken_line(clip["line"], inputs["voice"])
        available = (clip["out_ms"] - clip["in_ms"] - VOICE_LEAD_MS) / 1000
        if audio.speech_seconds(samples) > available + 0.25:  # a generated read came out longer than estimated
            raise CutLineTooLong(f"“{clip['title']}”: the voice-over came out {audio.speech_seconds(samples):.1f} s long "
                                 f"but the shot has {available:.1f} s for it. Shorten the line or lengthen the shot.")
        speech.append(audio.SpeechPlacement(start_sample=start * AUDIO_RATE // fps + lead, samples=samples))
    takes_sound = _takes_sound(inputs["clips"], starts, fps, media)
    music = music_bed(inputs["music"], total / AUDIO_RATE)
    if not speech and not takes_sound and music is None:
        return None
    return audio.mix(total_samples=total, speech=speech, music=music, music_db=inputs["music"]["volume_db"],
                     target_lufs=inputs["loudness_lufs"], takes_sound=takes_sound)


def _takes_sound(clips: list[dict], starts: list[int], fps: int, media: dict[str, Path]) -> list[audio.SpeechPlacement]:
    """The sound of takes that carry their own, faded in and out with their picture's transitions."""
    placed = []
    for index, (clip, start) in enumerate(zip(clips, starts)):
        if not clip.get("own_audio"):
            continue
        before = clips[index - 1] if index else None
        fade_in = before["transition_ms"] / 1000 if before and before["transition"] != "cut" else 0.0
        fade_out = clip["transition_ms"] / 1000 if clip["transition"] != "cut" else 0.0
        samples = audio.take_sound(media[clip["video"]], in_seconds=clip["in_ms"] / 1000, out_seconds=clip["out_ms"] / 1000)
        placed.append(audio.SpeechPlacement(start_sample=start * AUDIO_RATE // fps,
                                            samples=audio.edge_faded(samples, fade_in_seconds=fade_in,
                                                                     fade_out_seconds=fade_out)))
    return placed
