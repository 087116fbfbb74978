"""Taking a shot to video: quotes, requests and the creator's review of each take."""

from django.db import transaction

from jobs.compiler import ShotSpec
from jobs.models import Generation
from jobs.services.requests import TakeQuote, take_quote, take_request
from jobs.services.reviews import take_review_set
from jobs.states import TakeState
from studio.exceptions import StudioError
from studio.models import CharacterImage, Shot


def shot_spec(*, shot: Shot) -> ShotSpec:
    characters = list(shot.characters.order_by("name"))
    images = CharacterImage.objects.filter(character__in=characters).order_by("character__name", "id")
    return ShotSpec(
        title=shot.title, subject=shot.subject, scene=shot.scene, camera=shot.camera, motion=shot.motion,
        style=shot.style, negative=shot.negative, duration_seconds=shot.duration_seconds,
        aspect_ratio=shot.aspect_ratio, character_names=tuple(c.name for c in characters),
        reference_image_names=tuple(image.image.name for image in images),
    )


def shot_take_quote(*, shot: Shot, tier: str = Generation.Tier.DRAFT) -> TakeQuote:
    return take_quote(spec=shot_spec(shot=shot), tier=tier, owner_id=shot.project.owner_id)


def shot_take_request(*, user, shot: Shot, idempotency_key: str | None = None, tier: str = Generation.Tier.DRAFT) -> Generation:
    return take_request(
        owner_id=user.pk, shot_id=shot.pk, notify_group=shot.project.notify_group,
        spec=shot_spec(shot=shot), tier=tier, idempotency_key=idempotency_key,
        budget_key=f"project:{shot.project_id}",  # a creator may cap what one project spends
    )


@transaction.atomic
def take_approve(*, take: Generation) -> Generation:
    """Approve a ready take: it becomes the shot's take on the storyboard, replacing any other."""
    if take.state != TakeState.READY:
        raise StudioError("Only a ready take can be approved.")
    shot = Shot.objects.select_for_update().get(pk=take.shot_id)
    previous_id = shot.approved_take_id
    if previous_id and previous_id != take.pk:
        take_review_set(take_id=previous_id, review=Generation.Review.PENDING)
    shot.approved_take = take
    shot.save(update_fields=["approved_take", "updated_at"])
    return take_review_set(take_id=take.pk, review=Generation.Review.APPROVED)


@transaction.atomic
def take_reject(*, take: Generation) -> Generation:
    if take.state != TakeState.READY:
        raise StudioError("Only a ready take can be rejected.")
    Shot.objects.filter(pk=take.shot_id, approved_take_id=take.pk).update(approved_take=None)
    return take_review_set(take_id=take.pk, review=Generation.Review.REJECTED)
