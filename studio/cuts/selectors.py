"""Reads of a creator's cut, through the project access helper (404 for missing and not-yours alike)."""

from django.http import Http404

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
