"""Taking a shot to video: quotes, requests and the creator's review of each take."""

from dataclasses import replace

from django.db import transaction

from jobs.compiler import ShotSpec
from jobs.decisions import take_decision_record
from jobs.export import take_export_queue_on_commit
from jobs.models import Take, TakeDecision
from jobs.pipeline.quote import TakeQuote, take_quote
from jobs.pipeline.request import take_request, take_request_best_of
from jobs.review import take_review_set
from jobs.states import TakeState
from jobs.stored_media import take_first_frame_stored
from studio.exceptions import StudioError
from studio.models import CharacterImage, Shot
from studio.services.approvals import approval_require_current
from studio.services.review import creator_approval_record


def shot_spec(*, shot: Shot) -> ShotSpec:
    characters = list(shot.characters.order_by("name"))
    images = CharacterImage.objects.filter(character__in=characters).order_by("character__name", "id")
    return shot_spec_from(shot=shot, characters=characters, images=images)


def shot_spec_from(*, shot: Shot, characters, images, dialogue: str | None = None) -> ShotSpec:
    """The spec from characters (by name) and their images (by character name, then id) already read;
    `dialogue` too when the caller read the cut's lines for many shots at once."""
    return ShotSpec(
        title=shot.title, subject=shot.subject, scene=shot.scene, camera=shot.camera, motion=shot.motion,
        style=shot.style, negative=shot.negative, duration_seconds=shot.duration_seconds,
        aspect_ratio=shot.aspect_ratio, character_names=tuple(c.name for c in characters),
        reference_image_names=tuple(image.image.name for image in images),
        dialogue=_shot_dialogue(shot) if dialogue is None else dialogue,
    )


def _shot_dialogue(shot: Shot) -> str:
    """The shot's line in the project's cut (studio.cuts), which native-audio models speak themselves."""
    from studio.cuts.models import CutEntry

    return CutEntry.objects.filter(shot=shot).values_list("line", flat=True).first() or ""


def shot_take_quote(*, shot: Shot, tier: str = Take.Tier.DRAFT, fresh: bool = False, pass_threshold: int = 0,
                    explore: bool = True) -> TakeQuote:
    return take_quote(spec=shot_spec(shot=shot), tier=tier, owner_id=shot.project.owner_id, fresh=fresh,
                      pass_threshold=pass_threshold, explore=explore)


def _shot_request_args(shot: Shot) -> dict:
    return {"shot_id": shot.pk, "notify_group": shot.project.notify_group,
            "budget_key": shot.project.budget_key}  # a creator may cap what one project spends


def shot_take_request(
    *, user, shot: Shot, idempotency_key: str | None = None, tier: str = Take.Tier.DRAFT, fresh: bool = False,
    quote: TakeQuote | None = None,
) -> Take:
    """A take of the shot; `quote` (made from the same shot beforehand) spares pricing it again."""
    return take_request(owner_id=user.pk, spec=shot_spec(shot=shot), tier=tier, idempotency_key=idempotency_key,
                        fresh=fresh, quote=quote, **_shot_request_args(shot))


def shot_takes_request_best_of(
    *, user, shot: Shot, count: int, idempotency_key: str | None = None, fresh: bool = False,
) -> list[Take]:
    """Several drafts of the shot at once, with different seeds; the page ranks them by score."""
    return take_request_best_of(owner_id=user.pk, spec=shot_spec(shot=shot), count=count, idempotency_key=idempotency_key,
                                fresh=fresh, **_shot_request_args(shot))


def final_spec_for(*, draft: Take) -> ShotSpec:
    """The draft's own request, starting from the draft's first frame so the final keeps its look."""
    if draft.tier != Take.Tier.DRAFT or draft.state != TakeState.READY:
        raise StudioError("Only a ready draft can be rendered as a final.")
    if draft.review != Take.Review.APPROVED:
        raise StudioError("Approve this draft first: a final renders the draft you chose.")
    approval_require_current(shot=draft.shot)  # never spend on an approval of a shot that changed since
    spec = ShotSpec.from_request(draft.request)
    return replace(spec, start_frame_name=take_first_frame_stored(take=draft) or spec.start_frame_name)


def take_render_final_quote(*, draft: Take) -> TakeQuote:
    return take_quote(spec=final_spec_for(draft=draft), tier=Take.Tier.FINAL, owner_id=draft.owner_id,
                      seed=draft.seed)


def take_render_final(*, user, draft: Take, idempotency_key: str | None = None) -> Take:
    """A final-tier take of an approved draft: same prompt, seed and references, from the draft's frame."""
    return take_request(
        owner_id=user.pk, spec=final_spec_for(draft=draft), tier=Take.Tier.FINAL, seed=draft.seed,
        origin=Take.Origin.RENDER_FINAL, source_take_id=draft.pk, idempotency_key=idempotency_key,
        **_shot_request_args(draft.shot),
    )


def _upscalable_final(final: Take) -> Take:
    if final.tier != Take.Tier.FINAL or final.state != TakeState.READY or not final.video:
        raise StudioError("Only a ready final can be upscaled.")
    if final.origin == Take.Origin.UPSCALE:
        raise StudioError("This take is already an upscale; upscale the final it came from instead.")
    if final.review != Take.Review.APPROVED:
        raise StudioError("Approve this final first: an upscale enlarges the final you chose.")
    approval_require_current(shot=final.shot)  # an upscale is paid for: never on an approval the shot outgrew
    return final


def take_upscale_quote(*, final: Take) -> TakeQuote:
    return take_quote(spec=ShotSpec.from_request(final.request), tier=Take.Tier.FINAL, owner_id=final.owner_id,
                      seed=final.seed, upscale_of=_upscalable_final(final))


def take_upscale(*, user, final: Take, idempotency_key: str | None = None) -> Take:
    """An approved final enlarged by an upscaler: a final-tier take of its own, quoted, held, checked
    and charged like any take, recording the final it came from (source_take, origin "upscale")."""
    quote = take_upscale_quote(final=final)
    return take_request(
        owner_id=user.pk, spec=ShotSpec.from_request(final.request), tier=Take.Tier.FINAL, seed=final.seed,
        origin=Take.Origin.UPSCALE, source_take_id=final.pk, idempotency_key=idempotency_key, quote=quote,
        **_shot_request_args(final.shot),
    )


def _refused_take_providers(take: Take) -> tuple[str, ...]:
    if not take.refused_by_policy:
        raise StudioError("Only a take a provider refused under its content policy can be sent to another provider.")
    refused = {attempt.provider_model.slug for attempt in take.attempts.select_related("provider_model")
               if attempt.error_kind == "ContentPolicyRejected"}
    avoided_before = {step["slug"] for step in take.route_plan.get("excluded", [])
                      if step["reason"] == "you asked for a different provider"}
    return tuple(sorted(refused | avoided_before))


def take_other_provider_quote(*, take: Take) -> TakeQuote:
    return take_quote(spec=ShotSpec.from_request(take.request), tier=take.tier, owner_id=take.owner_id, seed=take.seed,
                      avoided_slugs=_refused_take_providers(take))


def take_request_other_provider(*, user, take: Take, idempotency_key: str | None = None) -> Take:
    """The creator allows another provider after a content-policy refusal: a new take avoiding the refusers."""
    return take_request(
        owner_id=user.pk, spec=ShotSpec.from_request(take.request), tier=take.tier, seed=take.seed,
        origin=Take.Origin.OTHER_PROVIDER, source_take_id=take.pk, avoided_slugs=_refused_take_providers(take),
        idempotency_key=idempotency_key, **_shot_request_args(take.shot),
    )


@transaction.atomic
def take_approve(*, take: Take) -> Take:
    """Approve a ready take: it becomes the shot's take on the storyboard, replacing any other.
    The approval is of the shot's spec as it is now; approving the same take again after the shot
    changed renews a stale approval."""
    if take.state != TakeState.READY:
        raise StudioError("Only a ready take can be approved.")
    shot = Shot.objects.select_for_update().get(pk=take.shot_id)
    previous_id = shot.approved_take_id
    if previous_id and previous_id != take.pk:
        take_review_set(take_id=previous_id, review=Take.Review.PENDING)
    shot.approved_take = take
    shot.approved_spec_hash = creator_approval_record(user_name=take.owner.get_username(), take=take).spec_hash
    shot.save(update_fields=["approved_take", "approved_spec_hash", "updated_at"])
    take_export_queue_on_commit(take)
    if take.review != Take.Review.APPROVED:  # a repeated click is not a second decision
        take_decision_record(take=take, decision=TakeDecision.Decision.APPROVED)
    return take_review_set(take_id=take.pk, review=Take.Review.APPROVED)


@transaction.atomic
def take_reject(*, take: Take) -> Take:
    if take.state != TakeState.READY:
        raise StudioError("Only a ready take can be rejected.")
    Shot.objects.filter(pk=take.shot_id, approved_take_id=take.pk).update(approved_take=None)
    if take.review != Take.Review.REJECTED:
        take_decision_record(take=take, decision=TakeDecision.Decision.REJECTED)
    return take_review_set(take_id=take.pk, review=Take.Review.REJECTED)
