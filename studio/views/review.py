"""Review through a share link: no account, one project, read-only but for comments and decisions.

Every view starts from studio.selectors.share_link_get, which answers 404 for a forged, expired
or revoked token; every shot and take is then looked up within the link's project. The pages
show no prices, credits, accounts or other projects: they have their own layout and templates.
"""

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from studio.forms import ReviewCommentForm, ReviewDecisionForm, ReviewerNameForm
from studio.models import ShareLink, Shot
from studio.selectors import (
    review_decision_latest,
    review_shot_get,
    review_shots,
    review_take_get,
    share_link_get,
)
from studio.services.approvals import spec_hashes_for_shots
from studio.services.review import (
    ReviewRateLimited,
    review_comment_add,
    review_decision_add,
)

REVIEW_PAGE = "studio/review/page.html"
SESSION_KEY = "review_names"  # link id → the name the reviewer gave, in the (anonymous) session


def reviewer_name(request, link: ShareLink) -> str:
    return request.session.get(SESSION_KEY, {}).get(str(link.pk), "")


def _page_context(request, link: ShareLink, token: str) -> dict:
    shots = list(review_shots(link=link))
    hashes = spec_hashes_for_shots(link.project.shots.all())
    for shot in shots:
        shot.approval_stale = shot.approved_take_id is not None and shot.approved_spec_hash != hashes[shot.pk]
    return {"link": link, "project": link.project, "token": token, "shots": shots,
            "reviewer": reviewer_name(request, link), "name_form": ReviewerNameForm()}


def _no_index(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The token never leaves in a Referer header; no-referrer would also send "Origin: null" on
    # the page's own POSTs, which Django's CSRF check refuses.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def review_page(request, token: str):
    link = share_link_get(token=token)
    return _no_index(render(request, REVIEW_PAGE, _page_context(request, link, token)))


@require_POST
def review_name_set(request, token: str):
    link = share_link_get(token=token)
    form = ReviewerNameForm(request.POST)
    if not form.is_valid():
        context = {**_page_context(request, link, token), "name_form": form}
        return _no_index(render(request, REVIEW_PAGE, context, status=422))
    names = request.session.get(SESSION_KEY, {})
    names[str(link.pk)] = " ".join(form.cleaned_data["name"].split())
    request.session[SESSION_KEY] = names
    return redirect("review-page", token=token)


def _shot_comments(request, link: ShareLink, token: str, shot: Shot, *, form=None, error: str = "", status: int = 200):
    """The shot's threads and comment form (htmx), else back to the page at the shot."""
    if not request.htmx:
        return redirect(reverse("review-page", args=[token]) + f"#review-shot-{shot.pk}")
    shot = review_shots(link=link).get(pk=shot.pk)
    context = {"link": link, "token": token, "shot": shot, "reviewer": reviewer_name(request, link),
               "comment_form": form, "comment_error": error, "markers_oob": not error}  # a new pin shows on its timeline
    return _no_index(render(request, "studio/review/partials/shot_comments.html", context, status=status))


@require_POST
def review_comment_post(request, token: str, shot_id: int):
    link = share_link_get(token=token)
    shot = review_shot_get(link=link, shot_id=shot_id)
    name = reviewer_name(request, link)
    form = ReviewCommentForm(request.POST)
    if not name:
        return _shot_comments(request, link, token, shot, form=form, error="Give your name first.", status=422)
    if not form.is_valid():
        error = " ".join(message for messages_ in form.errors.values() for message in messages_)
        return _shot_comments(request, link, token, shot, form=form, error=error, status=422)
    data = form.cleaned_data
    take = review_take_get(link=link, take_id=data["take"]) if data["take"] else None
    try:
        review_comment_add(link=link, reviewer_name=name, shot=shot, take=take, at_ms=data["at_ms"], body=data["body"])
    except ReviewRateLimited as error:
        return _shot_comments(request, link, token, shot, form=form, error=str(error), status=429)
    except ValidationError as error:
        return _shot_comments(request, link, token, shot, form=form, error=" ".join(error.messages), status=422)
    return _shot_comments(request, link, token, shot)


@require_POST
def review_decision_post(request, token: str, take_id: int):
    link = share_link_get(token=token)
    take = review_take_get(link=link, take_id=take_id)
    name = reviewer_name(request, link)
    form = ReviewDecisionForm(request.POST)
    error = "" if name else "Give your name first."
    if not error and not form.is_valid():
        error = "Choose approve or request changes."
    decision = None
    if not error:
        try:
            decision = review_decision_add(link=link, reviewer_name=name, take=take, verdict=form.cleaned_data["verdict"])
        except ValidationError as failure:
            error = " ".join(failure.messages)
    if not request.htmx:
        return redirect(reverse("review-page", args=[token]) + f"#review-take-{take.pk}")
    latest = decision or review_decision_latest(link=link, take=take)
    context = {"token": token, "take": take, "latest": latest, "decision_error": error}
    return _no_index(render(request, "studio/review/partials/take_decision.html", context, status=422 if error else 200))
