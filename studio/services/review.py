"""Review through share links: the links themselves, reviewers' comments and decisions, the creator's replies.

A link's URL carries its public id signed with django.core.signing; access helpers in
studio.selectors turn a token back into a live link or answer 404. Every change here is
published to the project's open pages after commit (studio.live), for the owner's eyes.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.models import Take
from studio.exceptions import StudioError
from studio.live import (
    review_comment_publish_on_commit,
    review_decision_publish_on_commit,
)
from studio.models import Project, ReviewComment, ReviewDecision, ShareLink, Shot
from studio.services.approvals import shot_spec_hash
from studio.share_tokens import share_token_sign

REVIEWER_NAME_MAX_LENGTH = 60


class ReviewRateLimited(StudioError):
    """Too many comments through one link in the last minute."""


# --- Links ---------------------------------------------------------------------------------------


def share_link_token(*, link: ShareLink) -> str:
    return share_token_sign(link.public_id)


@transaction.atomic
def share_link_create(*, user, project: Project, label: str, days: int | None = None) -> ShareLink:
    days = settings.SHARE_LINK_DAYS if days is None else days
    if not 1 <= days <= settings.SHARE_LINK_MAX_DAYS:
        raise ValidationError(f"A link lives from 1 to {settings.SHARE_LINK_MAX_DAYS} days.")
    link = ShareLink(project=project, created_by=user, label=" ".join(label.split()),
                     expires_at=timezone.now() + timedelta(days=days))
    link.full_clean()
    link.save()
    return link


def share_link_revoke(*, link: ShareLink) -> ShareLink:
    """Revoked at once; revoking again keeps the first time."""
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link.refresh_from_db(fields=["revoked_at"])
    return link


# --- Comments ------------------------------------------------------------------------------------


def reviewer_name_clean(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > REVIEWER_NAME_MAX_LENGTH or "\x00" in name:
        raise ValidationError(f"Give a name of 1 to {REVIEWER_NAME_MAX_LENGTH} characters.")
    return name


def _body_clean(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError("Write a comment first.")
    if len(body) > ReviewComment.BODY_MAX_LENGTH:
        raise ValidationError(f"A comment is at most {ReviewComment.BODY_MAX_LENGTH} characters ({len(body)} given).")
    if "\x00" in body:
        raise ValidationError("A comment cannot contain a NUL character.")
    return body


def _at_ms_clean(take: Take | None, at_ms: int | None) -> int | None:
    if at_ms is None:
        return None
    if take is None:
        raise ValidationError("A time in the video needs a take.")
    if not 0 <= at_ms <= take.duration_seconds * 1000:
        raise ValidationError(f"The time must be within the take's {take.duration_seconds} s.")
    return at_ms


def _rate_check(link: ShareLink) -> None:
    """Called with the link's row locked, so parallel posts through one link count each other."""
    since = timezone.now() - timedelta(minutes=1)
    if ReviewComment.objects.filter(share_link=link, created_at__gte=since).count() >= settings.REVIEW_COMMENTS_PER_MINUTE:
        raise ReviewRateLimited("Too many comments through this link in the last minute. Wait a moment and post again.")


@transaction.atomic
def review_comment_add(
    *, link: ShareLink, reviewer_name: str, shot: Shot, body: str, take: Take | None = None, at_ms: int | None = None,
) -> ReviewComment:
    """A reviewer's comment on a shot, or on one of its takes at a time in the video."""
    if shot.project_id != link.project_id or (take is not None and take.shot_id != shot.pk):
        raise ValidationError("That shot or take is not part of this review.")
    ShareLink.objects.select_for_update().get(pk=link.pk)
    _rate_check(link)
    comment = ReviewComment.objects.create(
        project_id=link.project_id, shot=shot, take=take, at_ms=_at_ms_clean(take, at_ms), share_link=link,
        author_name=reviewer_name_clean(reviewer_name), body=_body_clean(body),
    )
    review_comment_publish_on_commit(comment_id=comment.pk)
    return comment


@transaction.atomic
def review_reply_add(*, user, comment: ReviewComment, body: str) -> ReviewComment:
    """The creator answers a comment; replies join the thread of the comment they answer."""
    thread = comment.parent or comment
    reply = ReviewComment.objects.create(
        project_id=thread.project_id, shot_id=thread.shot_id, parent=thread, author_name=user.get_username(),
        by_creator=True, body=_body_clean(body),
    )
    review_comment_publish_on_commit(comment_id=thread.pk)
    return reply


@transaction.atomic
def review_comment_resolve(*, comment: ReviewComment, resolved: bool = True) -> ReviewComment:
    thread = comment.parent or comment
    ReviewComment.objects.filter(pk=thread.pk).update(resolved_at=timezone.now() if resolved else None)
    thread.refresh_from_db(fields=["resolved_at"])
    review_comment_publish_on_commit(comment_id=thread.pk)
    return thread


# --- Decisions -----------------------------------------------------------------------------------


def _decision_record(*, take: Take, verdict: str, decided_by: str, link: ShareLink | None, by_creator: bool) -> ReviewDecision:
    shot = take.shot
    decision = ReviewDecision.objects.create(
        project_id=shot.project_id, shot=shot, take=take, verdict=verdict, spec_hash=shot_spec_hash(shot=shot),
        share_link=link, decided_by=decided_by, by_creator=by_creator,
    )
    review_decision_publish_on_commit(decision_id=decision.pk)
    return decision


@transaction.atomic
def review_decision_add(*, link: ShareLink, reviewer_name: str, take: Take, verdict: str) -> ReviewDecision:
    """A reviewer approves a take or asks for changes. It informs the creator; it does not approve
    the take for spending — only the creator's approval does (studio.services.takes.take_approve)."""
    if take.shot.project_id != link.project_id:
        raise ValidationError("That take is not part of this review.")
    if verdict not in ReviewDecision.Verdict.values:
        raise ValidationError("Choose approve or request changes.")
    return _decision_record(take=take, verdict=verdict, decided_by=reviewer_name_clean(reviewer_name), link=link,
                            by_creator=False)


def creator_approval_record(*, user_name: str, take: Take) -> ReviewDecision:
    """The creator's own approval, in the same log reviewers' decisions go to."""
    return _decision_record(take=take, verdict=ReviewDecision.Verdict.APPROVED, decided_by=user_name, link=None,
                            by_creator=True)
