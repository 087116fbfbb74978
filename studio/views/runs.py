"""The storyboard's production run panel: its forecast, starting a run, and its controls."""

import uuid

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from studio.exceptions import StudioError
from studio.forms import RunStartForm
from studio.models import Project
from studio.selectors import (
    project_get_for_user,
    project_run_current,
    run_get_for_user,
    run_shot_get_for_user,
    storyboard_shots,
)
from studio.services.runs.forecast import run_forecast
from studio.services.runs.lifecycle import (
    run_cancel,
    run_pause,
    run_resume,
    run_shot_approve,
    run_start,
)
from studio.services.runs.progress import run_progress

RUN_PANEL = "studio/partials/production_run.html"


def run_panel_context(project: Project, *, error: str = "") -> dict:
    run = project_run_current(project=project)
    context = {"project": project, "run": run, "run_error": error, "run_key": uuid.uuid4(), "start_form": RunStartForm()}
    if run is not None:
        context["progress"] = run_progress(run=run)
    if run is None or run.state not in ("running", "paused"):
        context["forecast"] = run_forecast(shots=list(storyboard_shots(project=project)), drafts=3, retry_rounds=1,
                                           threshold=project.score_threshold)
    return context


def _panel(request, project: Project, *, error: str = "", status: int = 200):
    if not request.htmx:
        return redirect("project-detail", project_id=project.pk)
    return render(request, RUN_PANEL, run_panel_context(project, error=error), status=status)


@login_required
@require_GET
def run_panel(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    return render(request, RUN_PANEL, run_panel_context(project))


@login_required
@require_POST
def run_start_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = RunStartForm(request.POST)
    if not form.is_valid():
        return _panel(request, project, error="Choose a mode and 1 to 4 drafts per shot.", status=422)
    try:
        run_start(user=request.user, project=project, mode=form.cleaned_data["mode"],
                  drafts_per_shot=form.cleaned_data["drafts_per_shot"],
                  idempotency_key=str(form.cleaned_data["idempotency_key"]))
    except StudioError as error:
        return _panel(request, project, error=str(error), status=422)
    return _panel(request, project)


def _control(action):
    @login_required
    @require_POST
    def view(request, run_id: int):
        run = run_get_for_user(user=request.user, run_id=run_id)
        try:
            action(run=run)
        except StudioError as error:
            return _panel(request, run.project, error=str(error), status=422)
        return _panel(request, run.project)
    return view


run_pause_view = _control(run_pause)
run_resume_view = _control(run_resume)
run_cancel_view = _control(run_cancel)


@login_required
@require_POST
def run_shot_approve_view(request, run_shot_id: int):
    run_shot = run_shot_get_for_user(user=request.user, run_shot_id=run_shot_id)
    try:
        run_shot_approve(run_shot=run_shot)
    except StudioError as error:
        return _panel(request, run_shot.run.project, error=str(error), status=422)
    return _panel(request, run_shot.run.project)


