"""Reads of a creator's cut, through the project access helper (404 for missing and not-yours alike)."""

from django.core.files.storage import default_storage
from django.http import Http404

from jobs.models import Take
from jobs.selectors import takes_upscale_ready
from studio.cuts.assembly import cut_assemble
from studio.cuts.models import Cut, CutEntry, CutRender
from studio.selectors import project_get_for_user


def cut_get_for_user(*, user, project_id: int) -> Cut:
    """The project's cut, brought in line with its storyboard."""
    return cut_assemble(project=project_get_for_user(user=user, project_id=project_id))


def cut_entry_get_for_user(*, user, entry_id: int) -> CutEntry:
    entry = (CutEntry.objects.select_related("cut__project", "shot", "take")
             .filter(pk=entry_id, cut__project__owner_id=user.pk).first() if user.is_authenticated else None)
    if entry is None:
        raise Http404("No such shot in a cut.")
    return entry


def cut_render_get_for_user(*, user, project_id: int, render_id: int) -> CutRender:
    render = (CutRender.objects.select_related("cut").filter(
        pk=render_id, cut__project_id=project_id, cut__project__owner_id=user.pk).first()
        if user.is_authenticated else None)
    if render is None:
        raise Http404("No such render.")
    return render


def cut_latest_render(cut: Cut) -> CutRender | None:
    return cut.renders.order_by("-created_at", "-id").first()


def cut_entries_for_page(cut: Cut) -> list[CutEntry]:
    return list(cut.entries.select_related("shot", "take").order_by("position", "id"))


def cut_take_sources(entries: list[CutEntry]) -> dict[int, Take | None]:
    """The take whose file each entry shows ({entry id: take}): the approved take's newest ready
    upscale when there is one and its file is stored, else the approved take itself (None: no take)."""
    upscales = takes_upscale_ready(take_ids=[entry.take_id for entry in entries if entry.take_id])
    sources = {}
    for entry in entries:
        upscale = upscales.get(entry.take_id)
        usable = upscale is not None and not upscale.files_expired_at and default_storage.exists(upscale.video.name)
        sources[entry.pk] = upscale if usable else entry.take
    return sources
