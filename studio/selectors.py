"""Reads on behalf of a creator. Access helpers raise 404 for "missing" and "not yours" alike."""

from dataclasses import dataclass
from functools import lru_cache

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.http import Http404
from django.utils import timezone

from billing.models import Reservation
from billing.selectors import BudgetUsage
from jobs.models import Attempt, Take, TakeEvent
from jobs.states import ACTIVE_STATES, TakeState
from studio.models import (
    CharacterReference,
    ProductionRun,
    Project,
    ReviewComment,
    ReviewDecision,
    RunShot,
    ShareLink,
    Shot,
    project_budget_key,
)
from studio.share_tokens import share_token_public_id


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


def _fields(model, *related: str) -> list[str]:
    return [field.name for field in model._meta.concrete_fields] + list(related)


# The live card's queries (studio.live renders one per take change, on the publisher's thread) are
# built once and read only what the cards show: building and compiling these annotated queries
# costs more than the database spends on them.
@lru_cache(maxsize=1)
def _card_shots() -> QuerySet[Shot]:
    return _with_take_counts(Shot.objects.all()).only(*_fields(Shot, "approved_take__id", "approved_take__thumbnail"))


def storyboard_card_shots(*, project: Project, shot_ids) -> QuerySet[Shot]:
    """These shots of the project, annotated like storyboard_shots, with what their cards show."""
    return _card_shots().filter(project_id=project.pk, pk__in=shot_ids)


def storyboard_shot(*, shot_id: int) -> Shot | None:
    """One storyboard card's shot, annotated like storyboard_shots (for live updates)."""
    return _card_shots().filter(pk=shot_id).first()


@dataclass(frozen=True)
class StoryboardVersions:
    """What the storyboard page shows changes with, read before rendering it (studio.storyboard_cache)."""

    page: tuple  # the project, its characters and their images, the budget, the owner's credits
    shots: list[tuple]  # a row per shot, in order: (id, updated_at, approved take, and its takes' count,
    # latest updated_at, summed progress and latest file expiry; progress and expiry are written
    # without touching updated_at, hence their own columns)
    budget: BudgetUsage  # billing.selectors.spend_budget_usage, read with the rest

    @property
    def characters(self) -> tuple:
        """The characters' and their images' counts and latest changes (part of every shot's spec)."""
        return self.page[2:6]


# One statement, written out: built with the ORM its eight subqueries cost a hundred times more
# Python than the database spends running it, on a request that should cost next to nothing.
# The budget's `spent` is billing.selectors.reservations_spent (tests compare the two).
_STORYBOARD_VERSIONS_SQL = """
SELECT p.updated_at,
  (SELECT COUNT(*) FROM studio_characterreference c WHERE c.project_id = p.id),
  (SELECT MAX(c.updated_at) FROM studio_characterreference c WHERE c.project_id = p.id),
  (SELECT COUNT(*) FROM studio_characterimage i
     JOIN studio_characterreference c ON i.character_id = c.id WHERE c.project_id = p.id),
  (SELECT MAX(i.id) FROM studio_characterimage i
     JOIN studio_characterreference c ON i.character_id = c.id WHERE c.project_id = p.id),
  (SELECT a.balance FROM billing_creditaccount a WHERE a.user_id = p.owner_id),
  (SELECT a.held FROM billing_creditaccount a WHERE a.user_id = p.owner_id),
  (SELECT b.cap_credits FROM billing_spendbudget b
     JOIN billing_creditaccount a ON b.account_id = a.id WHERE a.user_id = p.owner_id AND b.key = %(key)s),
  (SELECT COALESCE(SUM(COALESCE(r.captured_amount, r.amount)), 0) FROM billing_reservation r
     JOIN billing_creditaccount a ON r.account_id = a.id
     LEFT JOIN billing_refund f ON f.reservation_id = r.id
     WHERE a.user_id = p.owner_id AND r.budget_key = %(key)s AND r.state <> %(released)s AND f.id IS NULL),
  s.id, s.updated_at, s.approved_take_id,
  COUNT(t.id), MAX(t.updated_at), SUM(t.progress), MAX(t.files_expired_at)
FROM studio_project p
LEFT JOIN studio_shot s ON s.project_id = p.id
LEFT JOIN jobs_take t ON t.shot_id = s.id
WHERE p.id = %(project)s AND p.owner_id = %(owner)s
GROUP BY p.id, s.id
ORDER BY s.position, s.id
"""
_PAGE_COLUMNS = 9


def storyboard_versions_for_user(*, user, project_id: int) -> StoryboardVersions:
    """The storyboard's versions in one query; 404 for a project that is missing or not the user's."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    with connection.cursor() as cursor:
        cursor.execute(_STORYBOARD_VERSIONS_SQL, {"project": project_id, "owner": user.pk, "key": project_budget_key(project_id),
                                                  "released": Reservation.State.RELEASED})
        rows = cursor.fetchall()
    if not rows:
        raise Http404("No such project.")
    page = (project_id, *rows[0][:_PAGE_COLUMNS])
    shots = [row[_PAGE_COLUMNS:] for row in rows if row[_PAGE_COLUMNS] is not None]
    cap, spent = rows[0][_PAGE_COLUMNS - 2:_PAGE_COLUMNS]
    return StoryboardVersions(page=page, shots=shots, budget=BudgetUsage(cap=cap, spent=int(spent)))


def shots_without_a_draft(*, project: Project) -> QuerySet[Shot]:
    return storyboard_shots(project=project).filter(working_take_count=0, usable_take_count=0)


def _score() -> Coalesce:
    """jobs.models.take_score in SQL: the learned rank score, else the aggregate evaluation score, -1 without one."""
    return Coalesce("rank_score", Cast(KeyTextTransform("aggregate", "evaluation"), FloatField()), Value(-1.0))


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


@lru_cache(maxsize=1)
def _card_takes() -> QuerySet[Take]:
    """Built once, like _card_shots."""
    return takes_for_cards(Take.objects.select_related("shot__project")).only(
        *_fields(Take, "provider_model__name", "shot__project_id", "shot__project__id"))


def take_for_card(*, take_id: int) -> Take | None:
    return _card_takes().filter(pk=take_id).first()


def project_characters(*, project: Project) -> QuerySet[CharacterReference]:
    return project.characters.prefetch_related(Prefetch("images"))


def run_get_for_user(*, user, run_id: int) -> ProductionRun:
    run = (ProductionRun.objects.select_related("project").filter(pk=run_id, owner_id=user.pk).first()
           if user.is_authenticated else None)
    if run is None:
        raise Http404("No such run.")
    return run


def run_shot_get_for_user(*, user, run_shot_id: int) -> RunShot:
    run_shot = (RunShot.objects.select_related("run__project", "picked_take", "shot")
                .filter(pk=run_shot_id, run__owner_id=user.pk).first() if user.is_authenticated else None)
    if run_shot is None:
        raise Http404("No such shot in a run.")
    return run_shot


def project_run_current(*, project: Project) -> ProductionRun | None:
    """The run under way, or else the newest one, for the storyboard's run panel."""
    runs = project.runs.order_by("-created_at", "-id")
    return runs.filter(state__in=["running", "paused"]).first() or runs.first()


# --- Review through share links ----------------------------------------------------------------
# A reviewer's every request starts from share_link_get: a forged, mangled, expired or revoked
# token, and anything outside the link's project, is 404 with nothing about what exists.


def share_link_get(*, token: str) -> ShareLink:
    public_id = share_token_public_id(token)
    link = (ShareLink.objects.select_related("project__owner")
            .filter(public_id=public_id, revoked_at__isnull=True, expires_at__gt=timezone.now()).first()
            if public_id else None)
    if link is None:
        raise Http404("No such review.")
    return link


def share_link_get_for_user(*, user, link_id: int) -> ShareLink:
    link = ShareLink.objects.filter(pk=link_id, project__owner_id=user.pk).first() if user.is_authenticated else None
    if link is None:
        raise Http404("No such link.")
    return link


_REVIEWABLE_TAKES = Q(state=TakeState.READY) & ~Q(review=Take.Review.REJECTED)


def review_shot_get(*, link: ShareLink, shot_id: int) -> Shot:
    shot = Shot.objects.filter(pk=shot_id, project_id=link.project_id).first()
    if shot is None:
        raise Http404("No such shot.")
    return shot


def review_take_get(*, link: ShareLink, take_id: int) -> Take:
    """A take a reviewer may see: ready, not rejected by the creator, of the link's project."""
    take = (Take.objects.select_related("shot").filter(_REVIEWABLE_TAKES, pk=take_id, shot__project_id=link.project_id)
            .first())
    if take is None:
        raise Http404("No such take.")
    return take


def _threads() -> QuerySet[ReviewComment]:
    replies = ReviewComment.objects.order_by("created_at", "id")
    return (ReviewComment.objects.filter(parent__isnull=True).select_related("shot", "take")
            .prefetch_related(Prefetch("replies", queryset=replies)))


def review_shots(*, link: ShareLink) -> QuerySet[Shot]:
    """The storyboard as a reviewer sees it: shots in order, their reviewable takes (newest first,
    only what the player needs) with the decisions made through this link, and comment threads."""
    decisions = ReviewDecision.objects.filter(share_link=link).order_by("-created_at", "-id")
    takes = (Take.objects.filter(_REVIEWABLE_TAKES).order_by("-created_at", "-id")
             .only("id", "shot_id", "tier", "state", "review", "video", "poster", "duration_seconds", "aspect_ratio", "created_at")
             .prefetch_related(Prefetch("review_decisions", queryset=decisions, to_attr="link_decisions")))
    return link.project.shots.order_by("position", "id").prefetch_related(
        Prefetch("takes", queryset=takes, to_attr="reviewable_takes"),
        Prefetch("review_comments", queryset=_threads().order_by("created_at", "id"), to_attr="threads"),
    )


def review_threads(*, project: Project) -> QuerySet[ReviewComment]:
    """The project's comment threads for its owner, open ones first, newest first."""
    return _threads().filter(project=project).order_by(F("resolved_at").desc(nulls_first=True), "-created_at", "-id")


def review_thread_get(*, comment_id: int) -> ReviewComment | None:
    return _threads().filter(pk=comment_id).first()


def review_comment_get_for_user(*, user, comment_id: int) -> ReviewComment:
    comment = (ReviewComment.objects.filter(pk=comment_id, project__owner_id=user.pk).first()
               if user.is_authenticated else None)
    if comment is None:
        raise Http404("No such comment.")
    return comment


def review_decisions(*, project: Project) -> QuerySet[ReviewDecision]:
    return ReviewDecision.objects.filter(project=project).select_related("shot", "share_link").order_by("-created_at", "-id")


def review_decision_latest(*, link: ShareLink, take: Take) -> ReviewDecision | None:
    return ReviewDecision.objects.filter(share_link=link, take=take).order_by("-created_at", "-id").first()
