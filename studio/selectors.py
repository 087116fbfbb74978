"""Reads on behalf of a creator. Access helpers raise 404 for "missing" and "not yours" alike."""

from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.http import Http404

from jobs.models import Take
from jobs.states import ACTIVE_STATES, TakeState
from studio.models import CharacterReference, Project, Shot


def projects_for_user(*, user) -> QuerySet[Project]:
    return Project.objects.filter(owner=user).annotate(shot_count=Count("shots", distinct=True))


def project_get_for_user(*, user, project_id: int) -> Project:
    project = Project.objects.filter(pk=project_id, owner_id=user.pk).first() if user.is_authenticated else None
    if project is None:
        raise Http404("No such project.")
    return project


def shot_get_for_user(*, user, shot_id: int) -> Shot:
    shot = Shot.objects.select_related("project").filter(pk=shot_id, project__owner_id=user.pk).first() if user.is_authenticated else None
    if shot is None:
        raise Http404("No such shot.")
    return shot


def take_get_for_user(*, user, take_id: int) -> Take:
    take = (
        Take.objects.select_related("shot__project", "provider_model")
        .filter(pk=take_id, owner_id=user.pk).first() if user.is_authenticated else None
    )
    if take is None:
        raise Http404("No such take.")
    return take


def user_may_see_project(*, user_id: int, project_id: int) -> bool:
    return Project.objects.filter(pk=project_id, owner_id=user_id).exists()


# A shot "has a draft" when a take is rendering, or is ready and not rejected by the creator.
_WORKING_TAKES = Q(takes__state__in=ACTIVE_STATES)
_USABLE_TAKES = Q(takes__state=TakeState.READY) & ~Q(takes__review=Take.Review.REJECTED)


def _with_take_counts(shots: QuerySet[Shot]) -> QuerySet[Shot]:
    """Take counts, and the newest ready takes (`ready_takes`) so a card without an approved take
    can show the draft waiting for review."""
    ready = (Take.objects.filter(state=TakeState.READY).exclude(review=Take.Review.REJECTED)
             .only("id", "shot_id", "thumbnail", "created_at"))
    return shots.select_related("approved_take").prefetch_related(
        Prefetch("takes", queryset=ready.order_by("-created_at", "-id"), to_attr="ready_takes"),
    ).annotate(
        take_count=Count("takes", distinct=True),
        working_take_count=Count("takes", filter=_WORKING_TAKES, distinct=True),
        usable_take_count=Count("takes", filter=_USABLE_TAKES, distinct=True),
        working_progress=Max("takes__progress", filter=_WORKING_TAKES),
    )


def storyboard_shots(*, project: Project) -> QuerySet[Shot]:
    """The project's shots in order, with their approved take and take counts, in constant queries."""
    return _with_take_counts(project.shots.all()).order_by("position", "id")


def storyboard_shot(*, shot_id: int) -> Shot | None:
    """One storyboard card's shot, annotated like storyboard_shots (for live updates)."""
    return _with_take_counts(Shot.objects.filter(pk=shot_id)).first()


def shots_without_a_draft(*, project: Project) -> QuerySet[Shot]:
    return storyboard_shots(project=project).filter(working_take_count=0, usable_take_count=0)


def shot_takes(*, shot: Shot) -> QuerySet[Take]:
    return shot.takes.select_related("provider_model").order_by("-created_at", "-id")


def take_for_card(*, take_id: int) -> Take | None:
    return Take.objects.select_related("provider_model", "shot").filter(pk=take_id).first()


def project_characters(*, project: Project) -> QuerySet[CharacterReference]:
    return project.characters.prefetch_related(Prefetch("images"))
