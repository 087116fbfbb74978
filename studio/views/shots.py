"""The shot editor (create and edit), the shot's list of takes, and rearranging the storyboard's shots."""

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.comparison import CompareSelectionError, compare_take_ids_parse, take_comparison_for_user
from studio.forms import ShotForm, form_error_add
from studio.selectors import project_get_for_user, shot_get_for_user, shot_takes
from studio.services.approvals import approval_is_current
from studio.services.projects import ShotOrderInvalid, shot_create, shot_duplicate, shot_order_set, shot_update
from studio.views.takes import generate_panel_context

SHOT_PAGE = "studio/shot_detail.html"
COMPARE_PAGE = "studio/take_compare.html"


@login_required
@require_http_methods(["GET", "POST"])
def shot_create_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = ShotForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            shot = shot_create(project=project, **form.service_fields())
        except ValidationError as error:
            form_error_add(form, error)
        else:
            messages.success(request, f"Shot “{shot.title}” added to the storyboard.")
            return redirect("shot-detail", shot_id=shot.pk)
    return render(request, "studio/shot_form.html", {"project": project, "form": form},
                  status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def shot_detail(request, shot_id: int):
    shot = shot_get_for_user(user=request.user, shot_id=shot_id)
    # The form edits a copy, so a rejected edit never shows up as the shot's saved state.
    form = ShotForm(request.POST or None, instance=copy.copy(shot), project=shot.project)
    if request.method == "POST" and form.is_valid():
        try:
            shot = shot_update(shot=shot, **form.service_fields())
        except ValidationError as error:
            form_error_add(form, error)
        else:
            messages.success(request, "Shot saved. The price below is for the saved shot.")
            return redirect("shot-detail", shot_id=shot.pk)
    context = {
        "project": shot.project, "shot": shot, "form": form, "takes": shot_takes(shot=shot),
        "approval_stale": _approval_stale(shot), **generate_panel_context(shot=shot),
    }
    return render(request, SHOT_PAGE, context, status=422 if form.errors else 200)


@login_required
@require_GET
def shot_takes_view(request, shot_id: int):
    """The shot's take cards alone, re-fetched when the live connection (re)opens."""
    shot = shot_get_for_user(user=request.user, shot_id=shot_id)
    return render(request, f"{SHOT_PAGE}#takes",
                  {"shot": shot, "takes": shot_takes(shot=shot), "approval_stale": _approval_stale(shot)})


def _approval_stale(shot) -> bool:
    """The shot's approved take was approved for a spec the shot no longer has (its card says so)."""
    return shot.approved_take_id is not None and not approval_is_current(shot=shot)


@login_required
@require_POST
def shot_order_view(request, project_id: int):
    """The storyboard's new order: `shot` once per shot, first to last. Answers the shot cards,
    renumbered, or 400 with what was wrong (and nothing moved)."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        shot_ids = [int(value) for value in request.POST.getlist("shot")]
    except ValueError:
        return HttpResponse("The new order must list shot numbers only. Nothing was moved.", status=400,
                            content_type="text/plain; charset=utf-8")
    try:
        shot_order_set(project=project, shot_ids=shot_ids)
    except ShotOrderInvalid as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    if request.htmx:
        return redirect("project-shots", project_id=project.pk)
    messages.success(request, "Shots reordered.")
    return redirect("project-detail", project_id=project.pk)


@login_required
@require_POST
def shot_duplicate_view(request, shot_id: int):
    shot = shot_get_for_user(user=request.user, shot_id=shot_id)
    copy = shot_duplicate(shot=shot)
    messages.success(request, f"Shot {shot.position} duplicated as shot {copy.position} “{copy.title}”: "
                              "same prompt and characters, no takes yet.")
    return redirect("shot-detail", shot_id=copy.pk)


@login_required
@require_GET
def shot_compare(request, shot_id: int):
    """Two to four of the shot's takes side by side (?take=1&take=2…); a bad selection says why."""
    try:
        take_ids = compare_take_ids_parse(request.GET.getlist("take"))
        comparison = take_comparison_for_user(user=request.user, shot_id=shot_id, take_ids=take_ids)
    except CompareSelectionError as error:
        shot = shot_get_for_user(user=request.user, shot_id=shot_id)  # someone else's shot stays a 404
        return render(request, COMPARE_PAGE, {"project": shot.project, "shot": shot, "error": str(error)}, status=422)
    shot = comparison.shot
    return render(request, COMPARE_PAGE, {"project": shot.project, "shot": shot, "comparison": comparison})
