"""Reads on behalf of a creator. Access helpers raise 404 for "missing" and "not yours" alike."""

from django.db.models import Count, Exists, FloatField, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.http import Http404

from jobs.models import Attempt, Take, TakeEvent
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


def _score() -> Coalesce:
    """jobs.models.take_score in SQL: the aggregate evaluation score, -1 without one."""
    return Coalesce(Cast(KeyTextTransform("aggregate", "evaluation"), FloatField()), Value(-1.0))


def _count(takes: QuerySet[Take]) -> Coalesce:
    return Coalesce(Subquery(takes.order_by().values("batch").annotate(n=Count("pk")).values("n")[:1]), 0)


def takes_for_cards(takes: QuerySet[Take]) -> QuerySet[Take]:
    """Takes with what their cards show beyond their own row, in the same query: a content-policy
    refusal, the pipeline's latest note, and a best-of take's rank and batch size (the Take
    properties refused_by_policy, latest_note and best_of_standing read these annotations)."""
    batch = Take.objects.filter(batch=OuterRef("batch"), owner_id=OuterRef("owner_id"))
    ranked_above = batch.filter(state=TakeState.READY).annotate(score=_score()).filter(
        Q(score__gt=OuterRef("own_score")) | Q(score=OuterRef("own_score"), pk__lt=OuterRef("pk")))
    return takes.select_related("provider_model").annotate(
        policy_refusal=Exists(Attempt.objects.filter(take=OuterRef("pk"), error_kind="ContentPolicyRejected")),
        newest_note=Subquery(TakeEvent.objects.filter(take=OuterRef("pk")).order_by("-id").values("detail")[:1]),
        own_score=_score(),
        batch_rank=_count(ranked_above) + 1,
        batch_size=_count(batch),
    )


def shot_takes(*, shot: Shot) -> QuerySet[Take]:
    return takes_for_cards(shot.takes.all()).order_by("-created_at", "-id")


def take_for_card(*, take_id: int) -> Take | None:
    return takes_for_cards(Take.objects.select_related("shot__project").filter(pk=take_id)).first()


def project_characters(*, project: Project) -> QuerySet[CharacterReference]:
    return project.characters.prefetch_related(Prefetch("images"))
