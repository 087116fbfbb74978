"""The cut through the JSON API: read and shape the cut, render it, follow the render, download
the MP4 and the editorial timelines, bring an edited .otio back. Cut errors answer 409 with
code "cut_error" and a detail that says what to fix (studio.config.api)."""

from typing import Literal

from django.http import FileResponse, HttpResponse
from django.urls import reverse
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile

from studio.auth_tokens import api_token_auth
from studio.cuts import selectors, timeline
from studio.cuts.assembly import cut_entry_update, cut_format_update, cut_timeline_apply
from studio.cuts.models import Cut, CutEntry, CutRender
from studio.cuts.rendering import cut_render_request
from studio.schemas import ErrorOut

cuts_router = Router(auth=api_token_auth, tags=["cuts"])
NOT_FOUND = {404: ErrorOut}
REFUSED = {409: ErrorOut}


class CutEntryOut(Schema):
    id: int
    shot_id: int
    shot_title: str
    position: int
    take_id: str | None = Field(None, description="The approved take in the cut (its public id); null = none yet")
    take_tier: str | None = Field(None, description="final, or draft when no final is approved")
    take_pinned: bool = Field(False, description="An edit swapped in this alternate take; it stays while usable")
    included: bool = Field(True, description="false: an edit removed the shot; it is left out of renders and exports")
    in_ms: int
    out_ms: int = Field(description="0 = the take's end")
    transition: str
    transition_ms: int
    line: str


class RenderOut(Schema):
    id: int
    state: str
    progress: int
    inputs_hash: str
    frames: int
    price_credits: int = Field(description="Credits for generated audio (held while rendering, charged when ready)")
    failure_reason: str
    video_url: str | None = Field(None, description="The MP4 (H.264/AAC, fast-start), once ready")


class CutOut(Schema):
    project_id: int
    aspect_ratio: str
    resolution: str
    fps: int
    music: str
    voice: str
    loudness_lufs: int
    entries: list[CutEntryOut]
    latest_render: RenderOut | None


class CutFormatIn(Schema):
    aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3"]
    resolution: Literal["480p", "720p", "1080p"]
    fps: Literal[24, 25, 30]
    music: Literal["none", "local", "elevenlabs"]
    voice: Literal["local", "elevenlabs"] = "local"
    music_prompt: str = Field("", max_length=300, description="For ElevenLabs music: what the bed should sound like")


class CutEntryIn(Schema):
    in_ms: int = Field(0, ge=0, le=60_000)
    out_ms: int = Field(0, ge=0, le=60_000, description="0 = the take's end")
    transition: Literal["cut", "crossfade", "dip_to_black"] = "cut"
    transition_ms: int = Field(500, ge=0, le=3000)
    line: str = Field("", max_length=CutEntry.MAX_LINE_LENGTH)
    included: bool | None = Field(None, description="Put a removed shot back (true) or leave it out (false); "
                                                    "null leaves it as it is")


def _entry_out(entry: CutEntry) -> CutEntryOut:
    take = entry.take
    return CutEntryOut(id=entry.pk, shot_id=entry.shot_id, shot_title=entry.shot.title, position=entry.position,
                       take_id=str(take.public_id) if take else None, take_tier=take.tier if take else None,
                       take_pinned=entry.take_pinned, included=entry.included,
                       in_ms=entry.in_ms, out_ms=entry.out_ms, transition=entry.transition,
                       transition_ms=entry.transition_ms, line=entry.line)


def _render_out(render: CutRender) -> RenderOut:
    url = reverse("api:cut_render_video", args=[render.cut.project_id, render.pk]) if render.downloadable else None
    return RenderOut(id=render.pk, state=render.state, progress=render.progress, inputs_hash=render.inputs_hash,
                     frames=render.frames, price_credits=render.price_credits, failure_reason=render.failure_reason, video_url=url)


def _cut_out(cut: Cut) -> CutOut:
    latest = selectors.cut_latest_render(cut)
    return CutOut(project_id=cut.project_id, aspect_ratio=cut.aspect_ratio, resolution=cut.resolution, fps=cut.fps,
                  music=cut.music, voice=cut.voice, loudness_lufs=cut.loudness_lufs,
                  entries=[_entry_out(entry) for entry in selectors.cut_entries_for_page(cut)],
                  latest_render=_render_out(latest) if latest else None)


@cuts_router.get("/projects/{int:project_id}/cut", response={200: CutOut, **NOT_FOUND})
def cut_detail(request, project_id: int):
    """The project's cut: its approved takes in cut order, trims, transitions, lines and latest render."""
    return _cut_out(selectors.cut_get_for_user(user=request.auth, project_id=project_id))


@cuts_router.patch("/projects/{int:project_id}/cut", response={200: CutOut, **NOT_FOUND})
def cut_format(request, project_id: int, payload: CutFormatIn):
    cut = selectors.cut_get_for_user(user=request.auth, project_id=project_id)
    return _cut_out(cut_format_update(cut=cut, **payload.dict()))


@cuts_router.patch("/cut-entries/{int:entry_id}", response={200: CutEntryOut, **NOT_FOUND, **REFUSED})
def cut_entry(request, entry_id: int, payload: CutEntryIn):
    """Trim one shot of the cut, set its transition into the next shot and its voice-over line."""
    entry = selectors.cut_entry_get_for_user(user=request.auth, entry_id=entry_id)
    return _entry_out(cut_entry_update(entry=entry, **payload.dict()))


@cuts_router.post("/projects/{int:project_id}/cut/renders", response={200: RenderOut, 202: RenderOut, **NOT_FOUND, **REFUSED})
def cut_render(request, project_id: int):
    """Render the cut as it stands. The same inputs answer 200 with the existing render; new ones 202, queued."""
    cut = selectors.cut_get_for_user(user=request.auth, project_id=project_id)
    render = cut_render_request(cut=cut)
    return Status(200 if render.state == "ready" else 202, _render_out(render))


@cuts_router.get("/projects/{int:project_id}/cut/renders/{int:render_id}", response={200: RenderOut, **NOT_FOUND})
def cut_render_status(request, project_id: int, render_id: int):
    return _render_out(selectors.cut_render_get_for_user(user=request.auth, project_id=project_id, render_id=render_id))


@cuts_router.get("/projects/{int:project_id}/cut/renders/{int:render_id}/video", response={200: None, **NOT_FOUND},
                 url_name="cut_render_video")
def cut_render_video(request, project_id: int, render_id: int):
    """The rendered MP4; 404 until the render is ready (nothing half-rendered is ever served)."""
    render = selectors.cut_render_get_for_user(user=request.auth, project_id=project_id, render_id=render_id)
    if not render.downloadable:
        from django.http import Http404

        raise Http404("This render is not ready.")
    return FileResponse(render.video.open("rb"), content_type="video/mp4", filename="cut.mp4")


@cuts_router.get("/projects/{int:project_id}/cut/timeline/{fmt}", response={200: None, **NOT_FOUND})
def cut_timeline(request, project_id: int, fmt: Literal["otio", "fcpxml", "edl"]):
    """The cut as an editorial timeline: OpenTimelineIO JSON, FCPXML or CMX 3600 EDL."""
    cut = selectors.cut_get_for_user(user=request.auth, project_id=project_id)
    _, content_type, extension = timeline.FORMATS[fmt]
    response = HttpResponse(timeline.cut_timeline_text(cut, fmt), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="cut.{extension}"'
    return response


@cuts_router.post("/projects/{int:project_id}/cut/timeline", response={200: CutOut, **NOT_FOUND, **REFUSED})
def cut_timeline_import(request, project_id: int, timeline_file: File[UploadedFile]):
    """Apply an edited .otio: the editor's order, trims, crossfades and alternate takes replace the cut's;
    shots whose clips the editor removed leave the cut (`included: false`)."""
    cut = selectors.cut_get_for_user(user=request.auth, project_id=project_id)
    edit = timeline.timeline_edit_read(cut, timeline_file.read(timeline.MAX_IMPORT_BYTES + 1))
    cut_timeline_apply(cut=cut, shot_ids=edit.shot_ids, trims=edit.trims, transitions=edit.transitions,
                       takes=edit.takes)
    return _cut_out(cut)
