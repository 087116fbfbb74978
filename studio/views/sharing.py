"""The creator's side of review: share links (create, revoke), comment threads (reply, resolve) and
the log of who decided what, when — live while the page is open (studio.live)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from studio.forms import ReviewReplyForm, ShareLinkForm, form_error_add
from studio.models import Project
from studio.selectors import (
    project_get_for_user,
    review_comment_get_for_user,
    review_decisions,
    review_thread_get,
    review_threads,
    share_link_get_for_user,
)
from studio.services.approvals import spec_hashes_for_shots
from studio.services.review import (
    review_comment_resolve,
    review_reply_add,
    share_link_create,
    share_link_revoke,
    share_link_token,
)

REVIEW_HUB = "studio/review/hub.html"


def _hub_context(request, project: Project, **extra) -> dict:
    hashes = spec_hashes_for_shots(project.shots.all())
    decisions = list(review_decisions(project=project)[:100])
    for decision in decisions:
        decision.stale = decision.spec_hash != hashes.get(decision.shot_id)
    links = list(project.share_links.all())
    for link in links:
        link.url = request.build_absolute_uri(reverse("review-page", args=[share_link_token(link=link)]))
    return {"project": project, "links": links, "threads": review_threads(project=project),
            "decisions": decisions, "link_form": ShareLinkForm(), **extra}


@login_required
@require_GET
def review_hub(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    return render(request, REVIEW_HUB, _hub_context(request, project))


@login_required
@require_GET
def review_hub_part(request, project_id: int, part: str):
    """The threads or the decisions alone, re-fetched when the live connection (re)opens, so a page
    that missed events while it was disconnected catches up."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    if part not in ("threads", "decisions"):
        raise Http404("No such part.")
    return render(request, f"{REVIEW_HUB}#{part}", _hub_context(request, project))


@login_required
@require_POST
def share_link_create_view(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = ShareLinkForm(request.POST)
    if form.is_valid():
        try:
            link = share_link_create(user=request.user, project=project, **form.cleaned_data)
        except ValidationError as error:
            form_error_add(form, error)
        else:
            messages.success(request, f"Review link for “{link.label}” created. Copy it below and send it.")
            return redirect("review-hub", project_id=project.pk)
    return render(request, REVIEW_HUB, _hub_context(request, project, link_form=form), status=422)


@login_required
@require_POST
def share_link_revoke_view(request, link_id: int):
    link = share_link_get_for_user(user=request.user, link_id=link_id)
    share_link_revoke(link=link)
    messages.success(request, f"Link for “{link.label}” revoked: it no longer opens anything.")
    return redirect("review-hub", project_id=link.project_id)


def _thread_response(request, comment_id: int, *, error: str = ""):
    thread = review_thread_get(comment_id=comment_id)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("review-hub", project_id=thread.project_id)
    return render(request, "studio/review/partials/thread.html", {"thread": thread, "reply_error": error},
                  status=422 if error else 200)


@login_required
@require_POST
def review_reply_view(request, comment_id: int):
    comment = review_comment_get_for_user(user=request.user, comment_id=comment_id)
    form = ReviewReplyForm(request.POST)
    if not form.is_valid():
        error = " ".join(message for messages_ in form.errors.values() for message in messages_)
        return _thread_response(request, (comment.parent_id or comment.pk), error=error)
    try:
        thread = review_reply_add(user=request.user, comment=comment, body=form.cleaned_data["body"]).parent
    except ValidationError as error:
        return _thread_response(request, (comment.parent_id or comment.pk), error=" ".join(error.messages))
    return _thread_response(request, thread.pk)


@login_required
@require_POST
def review_resolve_view(request, comment_id: int):
    comment = review_comment_get_for_user(user=request.user, comment_id=comment_id)
    thread = review_comment_resolve(comment=comment, resolved=request.POST.get("resolved", "1") != "0")
    return _thread_response(request, thread.pk)
