"""Projects, shots and character references."""

from django.db import transaction
from django.db.models import Max

from billing.models import SpendBudget
from billing.services import spend_budget_set
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
