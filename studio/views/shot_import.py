"""Importing a shot list: upload, preview with each row's errors, then create all the shots or none.

The preview's rows stay in the creator's session under a one-time token; the commit form carries
only that token, so what is created is what the server read, never what the browser sends back.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST

from studio.forms import ShotImportForm
from studio.selectors import project_get_for_user
from studio.services.shot_import import (
    COLUMNS,
    SHOT_IMPORT_MAX_ROWS,
    ShotImportRefused,
    shot_import_commit,
    shot_import_read,
)

IMPORT_PAGE = "studio/shot_import.html"


def _session_key(project_id: int) -> str:
    return f"shot-import:{project_id}"


@login_required
@require_http_methods(["GET", "POST"])
def shot_import_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = ShotImportForm(request.POST or None, request.FILES or None)
    context = {"project": project, "form": form, "columns": COLUMNS, "max_rows": SHOT_IMPORT_MAX_ROWS}
    if request.method == "GET" or not form.is_valid():
        return render(request, IMPORT_PAGE, context, status=422 if form.errors else 200)
    upload = form.cleaned_data["file"]
    preview = shot_import_read(project=project, data=upload.read(), filename=upload.name)
    request.session.pop(_session_key(project.pk), None)
    if preview.ok:
        token = uuid.uuid4().hex
        request.session[_session_key(project.pk)] = {"token": token, "sources": preview.sources}
        context["token"] = token
    return render(request, IMPORT_PAGE, {**context, "preview": preview, "filename": upload.name},
                  status=200 if preview.ok else 422)


@login_required
@require_POST
def shot_import_commit_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    stored = request.session.get(_session_key(project.pk)) or {}
    if not stored or stored.get("token") != request.POST.get("token"):
        messages.error(request, "This preview is no longer current (it was imported already, or another file was "
                                "previewed since). Nothing was created; upload the shot list again.")
        return redirect("shot-import", project_id=project.pk)
    try:
        shots = shot_import_commit(project=project, sources=stored["sources"])
    except ShotImportRefused as error:
        messages.error(request, f"{error} The project changed since the preview; upload the shot list again.")
        return redirect("shot-import", project_id=project.pk)
    del request.session[_session_key(project.pk)]
    messages.success(request, f"{len(shots)} shot{pluralize(len(shots))} imported at the end of the storyboard.")
    return redirect("project-detail", project_id=project.pk)
