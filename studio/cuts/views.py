"""The cut page: the timeline strip with trim handles, the format, the render and the downloads.

Each view parses input and calls one service; cut errors come back to the page as a message that
says what to fix. Render state reaches the page live (studio.cuts.events) and by polling.
"""

import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from providers.audio.registry import elevenlabs_sandbox
from studio.cuts import selectors, timeline
from studio.cuts.assembly import cut_entry_update, cut_format_update, cut_timeline_apply
from studio.cuts.exceptions import CutError
from studio.cuts.plan import line_timing
from studio.cuts.rendering import cut_render_request

PAGE = "cuts/cut_page.html"
PANEL = "cuts/partials/render_panel.html"


@login_required
@require_GET
def cut_page(request, project_id: int):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    entries = selectors.cut_entries_for_page(cut)
    sources = selectors.cut_take_sources(entries)
    rows = [{"entry": entry, "take_ms": entry.take.duration_seconds * 1000 if entry.take else 0,
             "source": sources[entry.pk], "upscaled": entry.take is not None and sources[entry.pk] != entry.take,
             "timing": _timing(entry, cut.voice)} for entry in entries]
    return render(request, PAGE, {"cut": cut, "project": cut.project, "rows": rows, "elevenlabs_sandbox": elevenlabs_sandbox(),
                                  "render": selectors.cut_latest_render(cut), "formats": timeline.FORMATS})


def _timing(entry, voice: str):
    if not entry.take or not entry.line:
        return None
    end = entry.out_ms or entry.take.duration_seconds * 1000
    return line_timing(entry, end - entry.in_ms, voice=voice)


@login_required
@require_POST
def cut_entry_save(request, project_id: int, entry_id: int):
    entry = selectors.cut_entry_get_for_user(user=request.user, entry_id=entry_id)
    try:
        cut_entry_update(entry=entry, in_ms=_ms(request.POST.get("in_seconds")), out_ms=_ms(request.POST.get("out_seconds")),
                         transition=request.POST.get("transition", "cut"),
                         transition_ms=_ms(request.POST.get("transition_seconds")), line=request.POST.get("line", ""),
                         included=_included(request.POST))
        messages.success(request, f"“{entry.shot.title}” updated.")
    except (CutError, ValueError) as error:
        messages.error(request, str(error) if isinstance(error, CutError) else "Trim points are numbers of seconds.")
    return redirect("cut-page", project_id=entry.cut.project_id)


def _included(form) -> bool | None:
    """The "In the cut" box: a hidden 0 and the checkbox's 1 (both sent when ticked); None when the form has no box."""
    return "1" in form.getlist("included") if "included" in form else None


def _ms(value: str | None) -> int:
    return round(float(value or 0) * 1000)


@login_required
@require_POST
def cut_format_save(request, project_id: int):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    try:
        cut_format_update(cut=cut, aspect_ratio=request.POST.get("aspect_ratio", ""), resolution=request.POST.get("resolution", ""),
                          fps=int(request.POST.get("fps", "0")), music=request.POST.get("music", ""),
                          voice=request.POST.get("voice", "local"), music_prompt=request.POST.get("music_prompt", ""))
    except (ValidationError, ValueError) as error:
        messages.error(request, f"That output format is not available ({error}).")
    return redirect("cut-page", project_id=project_id)


@login_required
@require_POST
def cut_render_view(request, project_id: int):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    try:
        render_row = cut_render_request(cut=cut)
    except CutError as error:
        if request.htmx:
            return render(request, "cuts/partials/render_error.html", {"error": str(error), "cut": cut}, status=422)
        messages.error(request, str(error))
        return redirect("cut-page", project_id=project_id)
    if request.htmx:
        return render(request, "cuts/live/render_panel_wrapped.html", {"render": render_row, "cut": cut})
    return redirect("cut-page", project_id=project_id)


@login_required
@require_GET
def cut_render_status(request, project_id: int):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    return render(request, "cuts/live/render_panel_wrapped.html", {"render": selectors.cut_latest_render(cut), "cut": cut})


@login_required
@require_GET
def cut_download(request, project_id: int, render_id: int):
    render_row = selectors.cut_render_get_for_user(user=request.user, project_id=project_id, render_id=render_id)
    if not render_row.downloadable:
        raise Http404("This render is not ready.")
    name = f"{render_row.cut.project.name} cut.mp4"
    return FileResponse(render_row.video.open("rb"), content_type="video/mp4", filename=name)


@login_required
@require_GET
def cut_timeline_download(request, project_id: int, fmt: str):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    if fmt not in timeline.FORMATS:
        raise Http404("No such timeline format.")
    _, content_type, extension = timeline.FORMATS[fmt]
    response = HttpResponse(timeline.cut_timeline_text(cut, fmt), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{_safe(cut.project.name)}.{extension}"'
    return response


@login_required
@require_GET
def cut_media_bundle(request, project_id: int):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent
    timeline.media_bundle_write(cut, spool)
    spool.seek(0)
    return FileResponse(spool, content_type="application/zip", filename=f"{_safe(cut.project.name)} media.zip")


@login_required
@require_POST
def cut_timeline_import(request, project_id: int):
    cut = selectors.cut_get_for_user(user=request.user, project_id=project_id)
    upload = request.FILES.get("timeline")
    try:
        if upload is None:
            raise CutError("Choose an edited .otio file to import.")
        edit = timeline.timeline_edit_read(cut, upload.read())
        applied = cut_timeline_apply(cut=cut, shot_ids=edit.shot_ids, trims=edit.trims, transitions=edit.transitions,
                                     takes=edit.takes)
        messages.success(request, _applied_note(applied))
    except CutError as error:
        messages.error(request, str(error))
    return redirect("cut-page", project_id=project_id)


def _applied_note(applied) -> str:
    note = f"The edit was applied: {applied.kept} shots in the editor's order and trims."
    if applied.swapped:
        note += f" The editor's alternate take now stands for {_titles(applied.swapped)}."
    if applied.dropped:
        note += (f" Taken out of the cut because the edit removed their clips: {_titles(applied.dropped)}"
                 " (tick “In the cut” on a shot to put it back).")
    return note


def _titles(titles: list[str]) -> str:
    return ", ".join(f"“{title}”" for title in titles)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in " -_" else "_" for c in name).strip() or "cut"
