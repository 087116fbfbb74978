"""Approvals bound to what was approved: the shot's spec, hashed when a take is approved.

A shot's spec is everything that decides its video — the prompt fields, the characters and their
reference images, the duration and aspect ratio (not the title, which no provider sees). An
approval records the hash of the spec as it was; when the spec changes afterwards the approval is
stale, and nothing that spends credits on the approved take may act on it
(`approval_require_current`, called by the final render and by anything else that escalates).
"""

import hashlib
import json

from jobs.compiler import ShotSpec
from studio.exceptions import StudioError
from studio.models import Shot

# The request fields that do not change the video (ShotSpec.as_request's keys otherwise all do).
_NOT_IN_SPEC_HASH = ("title",)


class StaleApproval(StudioError):
    """The shot changed after its take was approved; the creator has to look and approve again."""


def spec_hash(spec: ShotSpec) -> str:
    request = {key: value for key, value in spec.as_request().items() if key not in _NOT_IN_SPEC_HASH}
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def shot_spec_hash(*, shot: Shot) -> str:
    from studio.services.takes import (
        shot_spec,  # takes imports this module for the final render's gate
    )

    return spec_hash(shot_spec(shot=shot))


def approval_is_current(*, shot: Shot, current_hash: str | None = None) -> bool:
    """The shot has an approved take and its spec is still the one approved (`current_hash` if
    the caller already computed the shot's hash, e.g. for a whole storyboard at once)."""
    if shot.approved_take_id is None or not shot.approved_spec_hash:
        return False
    return shot.approved_spec_hash == (current_hash or shot_spec_hash(shot=shot))


def approval_require_current(*, shot: Shot) -> None:
    """Raise StaleApproval unless the shot's approval still matches its spec: the gate for spending."""
    shot.refresh_from_db(fields=["approved_take", "approved_spec_hash"])  # the approval as committed, not as cached
    if shot.approved_take_id is None:
        raise StaleApproval("Approve a take of this shot first.")
    if not approval_is_current(shot=shot):
        raise StaleApproval(
            "The shot's prompt, references or format changed after its take was approved, so that approval is "
            "stale. Look at the take again and approve it for the current shot (or draft a new one) first."
        )


def spec_hashes_for_shots(shots) -> dict[int, str]:
    """Each shot's spec hash, for a whole storyboard in four queries (shot_spec_hash costs three per shot)."""
    from django.db.models import Prefetch

    from studio.cuts.models import CutEntry
    from studio.models import CharacterImage, CharacterReference
    from studio.services.takes import shot_spec_from

    characters = CharacterReference.objects.order_by("name").prefetch_related(
        Prefetch("images", queryset=CharacterImage.objects.order_by("id")))
    shots = list(shots.prefetch_related(Prefetch("characters", queryset=characters)))
    lines = dict(CutEntry.objects.filter(shot__in=shots).values_list("shot_id", "line"))
    hashes = {}
    for shot in shots:
        shot_characters = list(shot.characters.all())
        images = [image for character in shot_characters for image in character.images.all()]
        spec = shot_spec_from(shot=shot, characters=shot_characters, images=images, dialogue=lines.get(shot.pk, ""))
        hashes[shot.pk] = spec_hash(spec)
    return hashes


def stale_approvals(shots) -> dict[int, int]:
    """Shot id → approved take id, for those of `shots` whose approval is stale; five queries
    however many shots (the approvals, then spec_hashes_for_shots)."""
    approved = shots.filter(approved_take__isnull=False)
    recorded = {pk: (take_id, spec) for pk, take_id, spec in approved.values_list("pk", "approved_take_id", "approved_spec_hash")}
    if not recorded:
        return {}
    current = spec_hashes_for_shots(approved.model.objects.filter(pk__in=recorded))
    return {pk: take_id for pk, (take_id, spec) in recorded.items() if not spec or spec != current.get(pk)}
