"""Reads on behalf of a creator. Access helpers raise 404 for "missing" and "not yours" alike."""

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from jobs.models import Generation
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


def take_get_for_user(*, user, take_id: int) -> Generation:
    take = (
        Generation.objects.select_related("shot__project", "provider_model")
        .filter(pk=take_id, owner_id=user.pk).first() if user.is_authenticated else None
    )
    if take is None:
        raise Http404("No such take.")
    return take


def user_may_see_project(*, user_id: int, project_id: int) -> bool:
    return Project.objects.filter(pk=project_id, owner_id=user_id).exists()


def storyboard_shots(*, project: Project) -> QuerySet[Shot]:
    """The project's shots in order, with their approved take and take counts, in constant queries."""
    return (
        project.shots.select_related("approved_take")
        .annotate(take_count=Count("takes", distinct=True))
        .order_by("position", "id")
    )


def shot_takes(*, shot: Shot) -> QuerySet[Generation]:
    return shot.takes.select_related("provider_model").order_by("-created_at", "-id")


def take_for_card(*, take_id: int) -> Generation | None:
    return Generation.objects.select_related("provider_model", "shot").filter(pk=take_id).first()


def project_characters(*, project: Project) -> QuerySet[CharacterReference]:
    return project.characters.prefetch_related(Prefetch("images"))
