"""Projects, shots and character references."""

from collections import Counter

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from billing.models import SpendBudget
from billing.services import spend_budget_set
from studio.exceptions import StudioError
from studio.models import CharacterReference, Project, Shot

SHOT_FIELDS = ("title", "subject", "scene", "camera", "motion", "duration_seconds", "style", "negative", "aspect_ratio")


@transaction.atomic
def project_create(*, owner, name: str, description: str = "") -> Project:
    project = Project(owner=owner, name=name.strip(), description=description.strip())
    project.full_clean()
    project.save()
    return project


@transaction.atomic
def shot_create(*, project: Project, characters: list[CharacterReference] | None = None, **fields) -> Shot:
    unknown = set(fields) - set(SHOT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown shot fields: {', '.join(sorted(unknown))}")
    last = Project.objects.select_for_update().filter(pk=project.pk).aggregate(last=Max("shots__position"))["last"]
    shot = Shot(project=project, position=(last or 0) + 1, **_cleaned(fields))
    shot.full_clean()
    shot.save()
    _set_characters(shot, characters)
    return shot


@transaction.atomic
def shot_update(*, shot: Shot, characters: list[CharacterReference] | None = None, **fields) -> Shot:
    unknown = set(fields) - set(SHOT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown shot fields: {', '.join(sorted(unknown))}")
    for name, value in _cleaned(fields).items():
        setattr(shot, name, value)
    shot.full_clean()
    shot.save()
    _set_characters(shot, characters)
    return shot


class ShotOrderInvalid(StudioError):
    """The order sent is not a rearrangement of exactly the project's shots."""


@transaction.atomic
def shot_order_set(*, project: Project, shot_ids: list[int]) -> list[Shot]:
    """Number the project's shots 1..n in the order given, which must name each of its shots once.

    Under the project's row lock, like shot_create, so a shot added meanwhile is either in the
    list or makes it refused. `updated_at` moves with the position because the cached storyboard
    card (studio.storyboard_cache) shows the number and is keyed by it."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    shots = {shot.pk: shot for shot in project.shots.all()}
    _shot_order_check(ordered=shot_ids, existing=set(shots))
    now, moved = timezone.now(), []
    for position, shot_id in enumerate(shot_ids, start=1):
        shot = shots[shot_id]
        if shot.position != position:
            shot.position, shot.updated_at = position, now
            moved.append(shot)
    Shot.objects.bulk_update(moved, ["position", "updated_at"])
    return [shots[shot_id] for shot_id in shot_ids]


def _shot_order_check(*, ordered: list[int], existing: set[int]) -> None:
    repeated = sorted(shot_id for shot_id, count in Counter(ordered).items() if count > 1)
    if repeated:
        raise ShotOrderInvalid(f"The new order names shot {_ids(repeated)} more than once. Nothing was moved.")
    unknown, missing = sorted(set(ordered) - existing), sorted(existing - set(ordered))
    if unknown:
        raise ShotOrderInvalid(f"The new order names shot {_ids(unknown)}, which is not in this project. "
                               "Nothing was moved; reload the storyboard and try again.")
    if missing:
        raise ShotOrderInvalid(f"The new order leaves out shot {_ids(missing)} (added meanwhile?). "
                               "Nothing was moved; reload the storyboard and try again.")


def _ids(shot_ids: list[int]) -> str:
    return ", ".join(f"#{shot_id}" for shot_id in shot_ids)


COPY_SUFFIX = " (copy)"


@transaction.atomic
def shot_duplicate(*, shot: Shot) -> Shot:
    """A new shot right after this one with the same spec and characters; no takes, no approval."""
    Project.objects.select_for_update().filter(pk=shot.project_id).first()
    shot.refresh_from_db(fields=["position"])  # the position as committed, under the lock
    Shot.objects.filter(project_id=shot.project_id, position__gt=shot.position).update(
        position=F("position") + 1, updated_at=timezone.now())
    fields = {name: getattr(shot, name) for name in SHOT_FIELDS}
    limit = Shot._meta.get_field("title").max_length - len(COPY_SUFFIX)
    fields["title"] = fields["title"][:limit] + COPY_SUFFIX
    copy = Shot(project_id=shot.project_id, position=shot.position + 1, **fields)
    copy.full_clean()
    copy.save()
    copy.characters.set(shot.characters.all())
    return copy


def _cleaned(fields: dict) -> dict:
    return {name: value.strip() if isinstance(value, str) else value for name, value in fields.items()}


def _set_characters(shot: Shot, characters: list[CharacterReference] | None) -> None:
    if characters is None:
        return
    if any(character.project_id != shot.project_id for character in characters):
        raise ValueError("A shot can only use characters from its own project.")
    shot.characters.set(characters)


@transaction.atomic
def character_create(*, project: Project, name: str, description: str = "") -> CharacterReference:
    character = CharacterReference(project=project, name=name.strip(), description=description.strip())
    character.full_clean()
    character.save()
    return character


def project_budget_set(*, user, project: Project, cap_credits: int | None) -> SpendBudget | None:
    """Cap what the project's takes may spend in total (held and charged credits); None removes the cap."""
    return spend_budget_set(user=user, key=project.budget_key, cap_credits=cap_credits)
