"""Cancelling a take: stop the work, tell the vendor where it can be told, give the credits back."""

import logging

from django.db import transaction
from django.utils import timezone

from billing.services import credits_release
from jobs.exceptions import TakeError
from jobs.models import Attempt, Generation
from jobs.services.transitions import take_transition
from jobs.states import TakeState, is_allowed
from providers import health
from providers.base import ProviderError
from providers.registry import LOCAL_FAMILIES, adapter_for

logger = logging.getLogger(__name__)


class TakeNotCancellable(TakeError):
    pass


def take_cancel(*, take_id: int) -> Generation:
    take = Generation.objects.select_related("provider_model").get(pk=take_id)
    if take.state == TakeState.CANCELLED:
        return take
    if not is_allowed(take.state, TakeState.CANCELLED):
        raise TakeNotCancellable(f"A take that is {take.get_state_display().lower()} can no longer be cancelled.")
    vendor_note = _vendor_cancel(take)  # network: before, never inside, the transaction
    return _take_cancel_settle(take_id=take.pk, detail=f"cancelled by the creator{vendor_note}")


def _vendor_cancel(take: Generation) -> str:
    family = take.provider_model.api_family
    attempt = take.attempts.filter(state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING]).order_by("-number").first()
    if family in LOCAL_FAMILIES or attempt is None or not attempt.provider_job_id:
        return ""
    adapter = adapter_for(family)
    if not adapter.supports_cancel:
        return f"; {take.provider_model.name} has no cancel, its job is left to finish unbilled"
    try:
        return f"; {take.provider_model.name} stopped the job" if adapter.cancel(attempt.provider_job_id) else ""
    except ProviderError as error:
        logger.warning("vendor cancel failed for take %s: %s", take.pk, error)
        return f"; {take.provider_model.name} could not be told ({error.reason})"


@transaction.atomic
def _take_cancel_settle(*, take_id: int, detail: str) -> Generation:
    take = Generation.objects.select_for_update(of=("self",)).select_related("provider_model").get(pk=take_id)
    if take.is_terminal:
        return take  # finished while we were asking the vendor
    take = take_transition(take_id=take.pk, to_state=TakeState.CANCELLED, detail=detail)
    take.attempts.filter(state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING]).update(
        state=Attempt.State.CANCELLED, finished_at=timezone.now()
    )
    health.concurrency_slot_release(take.provider_model.slug, holder=str(take.public_id))
    credits_release(reservation_id=take.reservation_id, reason=f"take:{take.public_id} cancelled")
    return take
