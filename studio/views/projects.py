"""Projects, their storyboard (with drafting it all and its budget), and the project's character references."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.exceptions import BillingError
from billing.selectors import BudgetUsage, spend_budget_usage
from studio.exceptions import StudioError
from studio.forms import (
    CharacterForm,
    ProjectBudgetForm,
    ProjectForm,
    ReferenceImageForm,
    StoryboardDraftForm,
    form_error_add,
)
from studio.models import Project
from studio.selectors import (
    StoryboardVersions,
    project_characters,
    project_get_for_user,
    projects_for_user,
    storyboard_versions_for_user,
)
from studio.services.images import character_image_add
from studio.services.projects import character_create, project_budget_set, project_create
from studio.services.sample_project import sample_project_ensure
from studio.services.storyboard import DraftScope, storyboard_draft_quote, storyboard_draft_request
from studio.storyboard_cache import (
    page_from_cache,
    revalidated,
    shot_cards,
    shot_grid_etag,
    storyboard_etag,
    storyboard_not_modified,
)

STORYBOARD = "studio/project_detail.html"
DRAFTS_PANEL = "studio/partials/storyboard_drafts.html"


@login_required
@require_GET
def project_list(request):
    projects = projects_for_user(user=request.user)
    return render(request, "studio/project_list.html", {"projects": projects, "form": ProjectForm()})


@login_required
@require_http_methods(["GET", "POST"])
def project_create_view(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_error_add(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created. Add its first shot.")
            return redirect("project-detail", project_id=project.pk)
    return render(request, "studio/project_form.html", {"form": form}, status=422 if form.errors else 200)


@login_required
@require_POST
def sample_project_view(request):
    """A ready-made project to try things on, one click from the empty project list."""
    project = sample_project_ensure(owner=request.user)
    messages.success(request, f"Sample project “{project.name}” is ready: open a shot and generate a draft.")
    return redirect("project-detail", project_id=project.pk)


def _storyboard_context(project: Project, *, versions: StoryboardVersions | None = None, **extra) -> dict:
    versions = versions or storyboard_versions_for_user(user=project.owner, project_id=project.pk)
    return {
        "project": project,
        "shot_cards": shot_cards(project=project, versions=versions.shots, characters=versions.characters),
        "characters": project_characters(project=project),
        "character_form": CharacterForm(),
        **_budget_context(project, budget=versions.budget),
        **extra,
    }


def _budget_context(project: Project, *, form: ProjectBudgetForm | None = None, budget: BudgetUsage | None = None) -> dict:
    """The project's spent / cap; a bound form keeps what the creator typed when it was refused."""
    budget = budget or spend_budget_usage(user_id=project.owner_id, key=project.budget_key)
    return {"budget": budget, "budget_form": form or ProjectBudgetForm(initial={"cap_credits": budget.cap})}


def _drafts_context(project: Project, *, scope: str, error: str = "") -> dict:
    """The price of drafting the storyboard, with a fresh batch key: each click is a new batch."""
    return {"draft_quote": storyboard_draft_quote(project=project, scope=scope),
            "animatic_quote": storyboard_draft_quote(project=project, scope=DraftScope.ALL, tier="animatic"),
            "animatic_batch_key": uuid.uuid4(), "draft_scope": scope, "draft_scopes": DraftScope.choices, "batch_key": uuid.uuid4(), "draft_error": error}


@login_required
@require_GET
def project_detail(request, project_id: int):
    """The storyboard. Its versions, read first, make its ETag: an unchanged page answers 304."""
    versions = storyboard_versions_for_user(user=request.user, project_id=project_id)
    etag = storyboard_etag(request, versions=versions)
    if (unchanged := storyboard_not_modified(request, etag)) is not None:
        return unchanged

    def render_page(extra: dict):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return render(request, STORYBOARD, _storyboard_context(project, versions=versions, **extra))

    return revalidated(page_from_cache(request, etag=etag, render_page=render_page), etag)


@login_required
@require_GET
def project_shots(request, project_id: int):
    """The storyboard's shot cards alone, re-fetched when the live connection (re)opens."""
    versions = storyboard_versions_for_user(user=request.user, project_id=project_id)
    etag = shot_grid_etag(project_id=project_id, versions=versions)
    if (unchanged := storyboard_not_modified(request, etag)) is not None:
        return unchanged
    project = project_get_for_user(user=request.user, project_id=project_id)
    cards = shot_cards(project=project, versions=versions.shots, characters=versions.characters)
    return revalidated(render(request, f"{STORYBOARD}#shots", {"project": project, "shot_cards": cards}), etag)


def _characters_response(request, project: Project, *, status: int = 200, **extra):
    """After a character change: the characters section for htmx, else the storyboard page or a redirect."""
    if request.htmx:
        return render(request, "studio/partials/characters_changed.html", _storyboard_context(project, **extra), status=status)
    if status >= 400:
        return render(request, STORYBOARD, _storyboard_context(project, **extra), status=status)
    return redirect("project-detail", project_id=project.pk)


@login_required
@require_POST
def character_create_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = CharacterForm(request.POST)
    if form.is_valid():
        try:
            character = character_create(project=project, **form.cleaned_data)
        except ValidationError as error:
            form_error_add(form, error)
        else:
            messages.success(request, f"Character “{character.name}” added. Upload a reference image next.")
            return _characters_response(request, project)
    return _characters_response(request, project, status=422, character_form=form)


@login_required
@require_POST
def character_image_add_view(request, project_id: int, character_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    character = get_object_or_404(project_characters(project=project), pk=character_id)
    form = ReferenceImageForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            character_image_add(character=character, upload=form.cleaned_data["image"])
        except ValidationError as error:
            form.add_error("image", error)
        else:
            messages.success(request, f"Reference image added to {character.name}.")
            return _characters_response(request, project)
    return _characters_response(
        request, project, status=422, image_error_for=character.pk, image_errors=form.errors.get("image", [])
    )


@login_required
@require_GET
def storyboard_drafts(request, project_id: int):
    """The "draft the whole storyboard" panel: loaded after the page (pricing every shot takes a
    few queries per shot), and again when the creator switches between shots without a draft and every shot."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    scope = request.GET.get("scope") if request.GET.get("scope") in DraftScope.values else DraftScope.WAITING
    if request.htmx:
        return render(request, DRAFTS_PANEL, {"project": project, **_drafts_context(project, scope=scope)})
    return render(request, STORYBOARD, _storyboard_context(project, **_drafts_context(project, scope=scope)))


@login_required
@require_POST
def storyboard_drafts_request(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = StoryboardDraftForm(request.POST, project=project)
    if not form.is_valid():
        error = " ".join(message for messages_ in form.errors.values() for message in messages_)
        scope = form.cleaned_data.get("scope") or DraftScope.WAITING
        return _drafts_response(request, project, scope=scope, error=f"Nothing was requested: {error}")
    data = form.cleaned_data
    try:
        batch = storyboard_draft_request(user=request.user, project=project, shots=list(data["shots"]),
                                         batch_key=str(data["batch_key"]), shown_credits=data["shown_credits"],
                                         tier=data["tier"])
    except StudioError as error:
        return _drafts_response(request, project, scope=data["scope"], error=str(error))
    kind = "animatic" if data["tier"] == "animatic" else "draft"
    if batch.takes:
        messages.success(request, f"{len(batch.takes)} {kind}{pluralize(len(batch.takes))} requested · {batch.credits} "
                                  "credits. They appear on the shots as they render.")
    for line in batch.skipped:
        messages.warning(request, f"Shot {line.shot.position} “{line.shot.title}” was skipped: {line.skip_reason}")
    return _drafts_response(request, project, scope=data["scope"])


def _drafts_response(request, project: Project, *, scope: str, error: str = ""):
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("project-detail", project_id=project.pk)
    versions = storyboard_versions_for_user(user=request.user, project_id=project.pk)
    context = {"project": project, "shot_cards": shot_cards(project=project, versions=versions.shots, characters=versions.characters),
               **_drafts_context(project, scope=scope, error=error), **_budget_context(project, budget=versions.budget)}
    return render(request, "studio/partials/storyboard_drafts_requested.html", context, status=422 if error else 200)


@login_required
@require_POST
def project_budget_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = ProjectBudgetForm(request.POST)
    if form.is_valid():
        cap = form.cleaned_data["cap_credits"]
        try:
            project_budget_set(user=request.user, project=project, cap_credits=cap)
        except BillingError as error:
            form.add_error("cap_credits", str(error))
        else:
            messages.success(request, f"Budget set: “{project.name}” may spend up to {cap:,} credits." if cap else
                             f"Budget removed: “{project.name}” has no spending cap.")
            return _budget_response(request, project)
    return _budget_response(request, project, form=form, status=422)


def _budget_response(request, project: Project, *, form: ProjectBudgetForm | None = None, status: int = 200):
    """After a budget change: the budget panel for htmx, else the storyboard page or a redirect."""
    if request.htmx:
        response = render(request, "studio/partials/project_budget_changed.html",
                          {"project": project, **_budget_context(project, form=form)}, status=status)
        if status < 400:
            response["HX-Trigger"] = "budget-changed"  # the drafts panel re-checks what the budget allows
        return response
    if status >= 400:
        context = _storyboard_context(project, **_budget_context(project, form=form))
        return render(request, STORYBOARD, context, status=status)
    return redirect("project-detail", project_id=project.pk)
