"""Regenerating a take that failed a hard check: a new seed, or the next provider, within a budget.

A take whose output failed a hard check (technical, safety, hard cuts, flicker) is replaced by a
fresh take of the same request, held against the same budget, at most TAKE_REGENERATIONS times in
a row. From the second safety failure in a row on, the providers that produced them are avoided,
so the next provider is tried. When no replacement is requested, the failed take's history says
why ("not regenerated: …").
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.exceptions import BillingError
from jobs.compiler import ShotSpec
from jobs.evaluation.take import evaluation_failed_check
from jobs.exceptions import IdempotencyKeyInProgress, TakeError
from jobs.models import Take
from jobs.pipeline.request import take_request
from jobs.pipeline.transitions import take_note
from jobs.states import TakeState

SAFETY_FAILURES_BEFORE_NEXT_PROVIDER = 2
# Checks a provider fails the same way whatever the seed: it made the wrong size or length.
SYSTEMATIC_CHECKS = frozenset({"size", "duration"})


def take_failed_a_check(take: Take) -> bool:
    """Failed because its output failed a hard check (not a provider error, a cancel or a stall)."""
    return take.state == TakeState.FAILED and (take.evaluation or {}).get("passed") is False


def take_regenerate(*, take_id: int) -> Take | None:
    """Request the replacement of a take that failed a hard check, or record why there is none.

    Safe to run twice: the replacement's idempotency key comes from the failed take.
    """
    take = Take.objects.select_related("reservation", "provider_model").get(pk=take_id)
    if not take_failed_a_check(take) or take.regeneration == Take.Regeneration.DECLINED:
        return None
    if take.origin == Take.Origin.UPSCALE:  # a new seed changes nothing for an upscaler; the creator decides
        _not_regenerated(take, "an upscale is not repeated automatically")
        return None
    chain = regeneration_chain(take)
    if len(chain) - 1 >= settings.TAKE_REGENERATIONS:
        _not_regenerated(take, f"its {settings.TAKE_REGENERATIONS} automatic regenerations are used up")
        return None
    avoided = _avoided(chain)
    try:
        replacement = take_request(
            owner_id=take.owner_id, shot_id=take.shot_id, notify_group=take.notify_group,
            spec=ShotSpec.from_request(take.request), tier=take.tier, idempotency_key=f"regenerate:{take.public_id}",
            budget_key=take.reservation.budget_key, fresh=True, origin=Take.Origin.REGENERATION,
            source_take_id=take.pk, batch=take.batch, avoided_slugs=tuple(sorted(avoided)),
        )
    except IdempotencyKeyInProgress:
        return None  # another run is requesting it right now
    except (BillingError, TakeError) as error:
        _not_regenerated(take, str(error))
        return None
    _regeneration_record(take, replacement, avoided)
    return replacement


def regeneration_chain(take: Take) -> list[Take]:
    """The take and the takes it regenerated, newest first, back to the take first requested."""
    chain = [take]
    while chain[-1].origin == Take.Origin.REGENERATION and chain[-1].source_take_id:
        chain.append(Take.objects.select_related("provider_model").get(pk=chain[-1].source_take_id))
    return chain


def _avoided(chain: list[Take]) -> dict[str, str]:
    """Providers the replacement should not go back to, and why: one whose output had the wrong
    shape or length (its systematic answer to this request, which a new seed does not change), and
    from the second safety failure in a chain on, the providers whose outputs were blocked."""
    failed = [(take.provider_model.slug, evaluation_failed_check(take.evaluation)[0]) for take in chain
              if take_failed_a_check(take)]
    avoided = {slug: f"its video had the wrong {check}" for slug, check in failed if check in SYSTEMATIC_CHECKS}
    blocked = [slug for slug, check in failed if check == "safety"]
    if len(blocked) >= SAFETY_FAILURES_BEFORE_NEXT_PROVIDER:
        avoided |= {slug: "repeated safety failures" for slug in blocked}
    return avoided


@transaction.atomic
def _regeneration_record(take: Take, replacement: Take, avoided: dict[str, str]) -> None:
    suffix = f"Regenerating as take #{replacement.pk}."
    if take.failure_reason.endswith(suffix):
        return
    Take.objects.filter(pk=take.pk).update(failure_reason=f"{take.failure_reason} {suffix}".strip(),
                                           regeneration=Take.Regeneration.REQUESTED, updated_at=timezone.now())
    how = "; ".join(f"after {why} on {slug}" if why.startswith("repeated") else f"avoiding {slug}: {why}"
                    for slug, why in sorted(avoided.items())) or "with a new seed"
    take_note(take, f"regenerating as take #{replacement.pk} on {replacement.provider_model.name}, {how}")


@transaction.atomic
def _not_regenerated(take: Take, why: str) -> None:
    """Say on the take itself, not only in its history, why no replacement is coming."""
    Take.objects.filter(pk=take.pk).update(
        failure_reason=f"{take.failure_reason} Not regenerated: {why.rstrip('.')}.".strip(),
        regeneration=Take.Regeneration.DECLINED, updated_at=timezone.now())
    take_note(take, f"not regenerated: {why}")
