"""Projects, their storyboard, and the project's character references."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.forms import CharacterForm, ProjectForm, ReferenceImageForm, form_error_add
from studio.models import Project
from studio.selectors import project_characters, project_get_for_user, projects_for_user, storyboard_shots
from studio.services.images import character_image_add
from studio.services.projects import character_create, project_create

STORYBOARD = "studio/project_detail.html"


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


def _storyboard_context(project: Project, **extra) -> dict:
    return {
        "project": project,
        "shots": storyboard_shots(project=project),
        "characters": project_characters(project=project),
        "character_form": CharacterForm(),
        **extra,
    }


@login_required
@require_GET
def project_detail(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    return render(request, STORYBOARD, _storyboard_context(project))


@login_required
@require_GET
def project_shots(request, project_id: int):
    """The storyboard's shot cards alone, re-fetched when the live connection (re)opens."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    return render(request, f"{STORYBOARD}#shots", {"project": project, "shots": storyboard_shots(project=project)})


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
