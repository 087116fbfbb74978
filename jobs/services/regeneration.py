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
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IdempotencyKeyInProgress, TakeError
from jobs.models import Generation, GenerationEvent
from jobs.services.requests import take_request
from jobs.states import TakeState

NOT_REGENERATED = "not regenerated: "
SAFETY_FAILURES_BEFORE_NEXT_PROVIDER = 2


def take_failed_a_check(take: Generation) -> bool:
    """Failed because its output failed a hard check (not a provider error, a cancel or a stall)."""
    return take.state == TakeState.FAILED and (take.evaluation or {}).get("passed") is False


def take_regenerate(*, take_id: int) -> Generation | None:
    """Request the replacement of a take that failed a hard check, or record why there is none.

    Safe to run twice: the replacement's idempotency key comes from the failed take.
    """
    take = Generation.objects.select_related("reservation", "provider_model").get(pk=take_id)
    if not take_failed_a_check(take) or take.events.filter(detail__startswith=NOT_REGENERATED).exists():
        return None
    chain = regeneration_chain(take)
    if len(chain) - 1 >= settings.TAKE_REGENERATIONS:
        _not_regenerated(take, f"its {settings.TAKE_REGENERATIONS} automatic regenerations are used up")
        return None
    avoided = _avoided_slugs(chain)
    try:
        replacement = take_request(
            owner_id=take.owner_id, shot_id=take.shot_id, notify_group=take.notify_group,
            spec=ShotSpec.from_request(take.request), tier=take.tier, idempotency_key=f"regenerate:{take.public_id}",
            budget_key=take.reservation.budget_key, fresh=True, origin=Generation.Origin.REGENERATION,
            source_take_id=take.pk, batch=take.batch, avoided_slugs=avoided,
        )
    except IdempotencyKeyInProgress:
        return None  # another run is requesting it right now
    except (BillingError, TakeError) as error:
        _not_regenerated(take, str(error))
        return None
    _regeneration_record(take, replacement, avoided)
    return replacement


def regeneration_chain(take: Generation) -> list[Generation]:
    """The take and the takes it regenerated, newest first, back to the take first requested."""
    chain = [take]
    while chain[-1].origin == Generation.Origin.REGENERATION and chain[-1].source_take_id:
        chain.append(Generation.objects.select_related("provider_model").get(pk=chain[-1].source_take_id))
    return chain


def _avoided_slugs(chain: list[Generation]) -> tuple[str, ...]:
    """From the second safety failure in a chain on, the providers whose outputs were blocked."""
    blocked = [take.provider_model.slug for take in chain
               if take_failed_a_check(take) and evaluation_failed_check(take.evaluation)[0] == "safety"]
    return tuple(sorted(set(blocked))) if len(blocked) >= SAFETY_FAILURES_BEFORE_NEXT_PROVIDER else ()


@transaction.atomic
def _regeneration_record(take: Generation, replacement: Generation, avoided: tuple[str, ...]) -> None:
    suffix = f"Regenerating as take #{replacement.pk}."
    if take.failure_reason.endswith(suffix):
        return
    Generation.objects.filter(pk=take.pk).update(failure_reason=f"{take.failure_reason} {suffix}".strip(),
                                                 updated_at=timezone.now())
    how = f"after repeated safety failures on {', '.join(avoided)}" if avoided else "with a new seed"
    _note(take, f"regenerating as take #{replacement.pk} on {replacement.provider_model.name}, {how}")


@transaction.atomic
def _not_regenerated(take: Generation, why: str) -> None:
    """Say on the take itself, not only in its history, why no replacement is coming."""
    Generation.objects.filter(pk=take.pk).update(
        failure_reason=f"{take.failure_reason} Not regenerated: {why.rstrip('.')}.".strip(), updated_at=timezone.now())
    _note(take, f"{NOT_REGENERATED}{why}")


def _note(take: Generation, detail: str) -> None:
    GenerationEvent.objects.create(generation=take, from_state=take.state, to_state=take.state, detail=detail[:500])
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
